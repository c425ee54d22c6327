/*
 * boundary.hpp: the two guards between C++ exceptions and PostgreSQL errors.
 *
 * PostgreSQL reports errors with longjmp, which skips C++ destructors; C++
 * reports them with exceptions, which PostgreSQL cannot catch.  So:
 *
 *  - cpp_call() runs C++ code from a PostgreSQL-facing frame and turns any
 *    exception into ereport(ERROR) after the catch block has been left;
 *  - pg_call() runs a PostgreSQL call from C++ code (where objects with
 *    destructors may be alive) and turns its ERROR into a PgError exception.
 *
 * Frames between the two hold no objects with non-trivial destructors, so a
 * PostgreSQL error that jumps over them skips nothing.
 */
#pragma once

#include "pg.hpp"

#include <exception>

namespace pg_guard {

/* A PostgreSQL error caught by pg_call(), carried as a C++ exception. */
class PgError : public std::exception {
public:
    explicit PgError(ErrorData *edata) noexcept : edata_(edata) {}
    ErrorData *data() const noexcept { return edata_; }
    const char *what() const noexcept override
    {
        return edata_->message ? edata_->message : "PostgreSQL error";
    }

private:
    ErrorData *edata_; /* palloc'd copy, owned by the memory context */
};

/* Raise the error for an exception message kept by cpp_call(). */
[[noreturn]] void raise_cpp_failure(const char *message);
/* Raise a PostgreSQL error carried by a PgError. */
[[noreturn]] void rethrow_pg_error(ErrorData *edata);
/* Keep an exception's text without allocating (we are inside a catch). */
const char *keep_exception_text(const char *text) noexcept;

template <typename F> auto cpp_call(F &&f) -> decltype(f())
{
    const char *failure = nullptr;
    ErrorData *pg_failure = nullptr;
    try {
        return f();
    } catch (const PgError &e) {
        pg_failure = e.data();
    } catch (const std::exception &e) {
        failure = keep_exception_text(e.what());
    } catch (...) {
        failure = keep_exception_text("unknown C++ exception");
    }
    /* Out of every catch block: now a longjmp is safe. */
    if (pg_failure)
        rethrow_pg_error(pg_failure);
    raise_cpp_failure(failure);
}

/* Runs fn(arg) under PG_TRY; on ERROR returns false and the copied error. */
bool pg_try(void (*fn)(void *), void *arg, ErrorData **edata);

/*
 * Runs fn(arg) as pg_try() does, inside a subtransaction that is rolled
 * back afterwards whatever happens: whatever fn did in the catalogs, and
 * the locks it took, are gone.  Memory fn allocates in the caller's
 * current memory context stays.
 */
bool pg_try_rolled_back(void (*fn)(void *), void *arg, ErrorData **edata);

template <typename F> void pg_call(F &&f)
{
    ErrorData *edata = nullptr;
    auto trampoline = [](void *p) { (*static_cast<F *>(p))(); };
    if (!pg_try(trampoline, static_cast<void *>(&f), &edata))
        throw PgError(edata);
}

} // namespace pg_guard
