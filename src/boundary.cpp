/*
 * boundary.cpp: out-of-line halves of the C++/PostgreSQL error guards.
 */
#include "boundary.hpp"

#include <exception>

namespace pg_guard {

namespace {
/* One exception text at a time: it is raised as an ERROR right after. */
char exception_text[1024];
} // namespace

const char *keep_exception_text(const char *text) noexcept
{
    strlcpy(exception_text, text ? text : "", sizeof(exception_text));
    return exception_text;
}

void raise_cpp_failure(const char *message)
{
    ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                    errmsg_internal("internal error in parallel_guard: %s", message)));
    pg_unreachable();
}

void rethrow_pg_error(ErrorData *edata)
{
    ReThrowError(edata);
}

/*
 * A C++ exception thrown by fn must not leave the PG_TRY block: that would
 * leave PG_exception_stack pointing into a dead frame.  It is caught inside
 * and thrown again once the block is closed.  The exception_ptr lives in
 * this frame, which is also where a PostgreSQL error lands, so no longjmp
 * skips its destructor.
 */
bool pg_try(void (*fn)(void *), void *arg, ErrorData **edata)
{
    MemoryContext oldcxt = CurrentMemoryContext;
    volatile bool ok = true;
    std::exception_ptr thrown;

    PG_TRY();
    {
        try {
            fn(arg);
        } catch (...) {
            thrown = std::current_exception();
        }
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcxt);
        *edata = CopyErrorData();
        FlushErrorState();
        ok = false;
    }
    PG_END_TRY();
    if (thrown)
        std::rethrow_exception(thrown);
    return ok;
}

bool pg_try_rolled_back(void (*fn)(void *), void *arg, ErrorData **edata)
{
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
    bool ok = pg_try(fn, arg, edata);
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;
    return ok;
}

} // namespace pg_guard
