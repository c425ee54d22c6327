/*
 * statement.hpp: what SQL text parallel_guard.run() accepts.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/*
 * Parse sql and return its one statement, which must be a CREATE TABLE ... AS
 * query of a kind the guard can run in a background worker.  Anything else
 * raises an ERROR with a SQLSTATE; syntax errors point into sql.
 */
RawStmt *parse_guarded_statement(const char *sql);

/*
 * Catalog checks for the statement's target, done in the caller's session
 * before anything is started: the schema resolves with the caller's
 * search_path, it is not a temporary schema, and no relation of that name
 * exists there (the guard never drops or touches an existing table).
 */
void check_target_relation(const RawStmt *raw);

} // namespace pg_guard
