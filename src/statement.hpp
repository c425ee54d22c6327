/*
 * statement.hpp: what SQL text parallel_guard.run() accepts.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

enum class StatementKind : int {
    CreateTableAs,  /* CREATE TABLE ... AS */
    SelectInto,     /* SELECT ... INTO */
    CreateMatView,  /* CREATE MATERIALIZED VIEW ... AS */
    RefreshMatView, /* REFRESH MATERIALIZED VIEW [CONCURRENTLY] */
    CreateIndex     /* CREATE INDEX (parallel btree build) */
};

struct GuardedStatement {
    RawStmt *raw;
    StatementKind kind;
    const RangeVar *new_relation; /* the relation it creates; nullptr for REFRESH, CREATE INDEX */
};

/*
 * Parse sql and return its one statement, which must be of a kind the guard
 * can run in a background worker.  Anything else raises an ERROR with a
 * SQLSTATE; syntax errors point into sql.
 */
GuardedStatement parse_guarded_statement(const char *sql);

/* "CREATE TABLE AS", ...; and the same as a log token: "create_table_as". */
const char *statement_kind_name(StatementKind kind);
const char *statement_kind_token(StatementKind kind);

/* Parallel index builds are sized by max_parallel_maintenance_workers, not
 * max_parallel_workers_per_gather, and have no Gather node. */
inline bool is_index_build(StatementKind kind)
{
    return kind == StatementKind::CreateIndex;
}

/*
 * Catalog checks done in the caller's session before anything is started:
 * for a statement that creates a relation, the schema resolves with the
 * caller's search_path, is not temporary, the caller may create in it, and
 * no relation of that name exists there (the guard never drops or touches an
 * existing relation); for CREATE INDEX, a named index does not exist yet.
 */
void check_target_relation(const GuardedStatement &st);

/*
 * The statement must read what the plain statement would: refuse (0A000)
 * a statement that names a relation, function or type that resolves to this
 * session's temporary schema (through the search_path or pg_temp.), since
 * the background worker would resolve the name to another object or to
 * none; warn when it reads a table this transaction has changed (the worker
 * sees only committed rows).  The statement is analysed in a subtransaction
 * that is rolled back, so no lock stays behind, and only when the session
 * has a temporary schema or its transaction has written; an analysis error
 * is left for the worker to report as the statement's own.
 */
void check_statement_reads(const GuardedStatement &st, const char *sql);

/* How many launch sites an attempt of the statement needs room for. */
int launch_site_room(const GuardedStatement &st);

} // namespace pg_guard
