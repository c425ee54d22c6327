/*
 * statement.cpp: parse the caller's SQL text and accept exactly one
 * CREATE TABLE ... AS statement.
 *
 * The text is parsed with the server's own raw parser, so comments, dollar
 * quoting and semicolons inside literals are handled as PostgreSQL handles
 * them, and the text is never pasted into another statement.  The worker
 * parses the same text again and repeats the check before running it.
 */
#include "statement.hpp"

namespace pg_guard {

namespace {

/* Report syntax errors as positions in the guarded text, as SPI does. */
void statement_error_callback(void *arg)
{
    const char *sql = static_cast<const char *>(arg);
    int pos = geterrposition();

    if (pos > 0) {
        errposition(0);
        internalerrposition(pos);
        internalerrquery(sql);
    } else
        errcontext("SQL statement given to parallel_guard.run()");
}

[[noreturn]] void reject(const char *why, const char *detail)
{
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("parallel_guard.run() accepts only CREATE TABLE ... AS: %s", why),
                    detail ? errdetail_internal("%s", detail) : 0));
    pg_unreachable();
}

bool is_temp_rangevar(const RangeVar *rel)
{
    return rel->relpersistence == RELPERSISTENCE_TEMP ||
           (rel->schemaname && strcmp(rel->schemaname, "pg_temp") == 0);
}

const char *temp_detail =
    "The statement runs in a background worker whose temporary schema disappears "
    "when the worker exits.";

} // namespace

RawStmt *parse_guarded_statement(const char *sql)
{
    ErrorContextCallback errcb;
    errcb.callback = statement_error_callback;
    errcb.arg = const_cast<char *>(sql);
    errcb.previous = error_context_stack;
    error_context_stack = &errcb;
    List *stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
    error_context_stack = errcb.previous;

    if (list_length(stmts) != 1)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("parallel_guard.run() needs exactly one SQL statement, got %d",
                        list_length(stmts))));

    RawStmt *raw = linitial_node(RawStmt, stmts);
    Node *stmt = raw->stmt;

    if (IsA(stmt, SelectStmt) && castNode(SelectStmt, stmt)->intoClause)
        reject("SELECT INTO is not supported",
               "Write it as CREATE TABLE ... AS SELECT.");
    if (!IsA(stmt, CreateTableAsStmt)) {
        const char *tag = GetCommandTagName(CreateCommandTag(stmt));
        reject(psprintf("the statement is %s", tag), nullptr);
    }

    auto *ctas = castNode(CreateTableAsStmt, stmt);
    if (ctas->objtype != OBJECT_TABLE)
        reject("CREATE MATERIALIZED VIEW is not supported", nullptr);
    if (ctas->is_select_into)
        reject("SELECT INTO is not supported", nullptr);
    if (IsA(ctas->query, ExecuteStmt))
        reject("CREATE TABLE ... AS EXECUTE is not supported",
               "Prepared statements of the calling session do not exist in the background worker.");
    if (ctas->into->skipData)
        reject("WITH NO DATA runs no query, so there are no parallel workers to guard", nullptr);
    if (is_temp_rangevar(ctas->into->rel))
        reject("temporary tables are not supported", temp_detail);
    return raw;
}

void check_target_relation(const RawStmt *raw)
{
    const RangeVar *rel = castNode(CreateTableAsStmt, raw->stmt)->into->rel;
    Oid nsp = RangeVarGetCreationNamespace(rel);

    if (isTempNamespace(nsp) || isAnyTempNamespace(nsp))
        reject("temporary tables are not supported", temp_detail);

    /* The same check CREATE TABLE makes, made before any worker starts. */
    AclResult acl = pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_SCHEMA, get_namespace_name(nsp));

    if (OidIsValid(get_relname_relid(rel->relname, nsp)))
        ereport(ERROR,
                (errcode(ERRCODE_DUPLICATE_TABLE),
                 errmsg("relation \"%s.%s\" already exists", get_namespace_name(nsp), rel->relname),
                 errdetail("parallel_guard.run() never replaces, drops or writes to an existing table."),
                 errhint("Choose a new table name, or drop the table yourself first.")));
}

} // namespace pg_guard
