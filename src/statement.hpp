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

/*
 * Parallel index builds have no Gather node: their workers are counted in
 * the worker's lock group only, and max_parallel_maintenance_workers (not
 * max_parallel_workers_per_gather) sizes them.
 */
/* "CREATE TABLE AS", ...; and the same as a log token: "create_table_as". */
const char *statement_kind_name(StatementKind kind);
const char *statement_kind_token(StatementKind kind);

inline bool counted_by_lock_group(StatementKind kind)
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
 * For CREATE INDEX, the parallel workers its build will ask for, as
 * plan_create_index_workers() decides when that is knowable beforehand: 0
 * for access methods without parallel builds (only btree has them) and for
 * temporary tables, else the table's parallel_workers storage parameter
 * capped by max_workers (plan_create_index_workers() takes it as is); -1
 * when the size- and memory-based estimate would decide.
 */
int index_planned_workers(const GuardedStatement &st, int max_workers);

} // namespace pg_guard
