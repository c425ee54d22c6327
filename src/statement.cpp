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
                    errmsg("statement not supported by parallel_guard.run(): %s", why),
                    errhint("parallel_guard.run() accepts CREATE TABLE ... AS, SELECT ... INTO, "
                            "CREATE MATERIALIZED VIEW ... AS, REFRESH MATERIALIZED VIEW and "
                            "CREATE INDEX."),
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

GuardedStatement parse_guarded_statement(const char *sql)
{
    ErrorContextCallback errcb;
    errcb.callback = statement_error_callback;
    errcb.arg = const_cast<char *>(sql);
    errcb.previous = error_context_stack;
    error_context_stack = &errcb;
    List *stmts = raw_parser(sql, RAW_PARSE_DEFAULT);
    error_context_stack = errcb.previous;

    if (list_length(stmts) != 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("parallel_guard.run() needs exactly one SQL statement, got %d",
                               list_length(stmts))));

    GuardedStatement st;
    st.raw = linitial_node(RawStmt, stmts);
    st.new_relation = nullptr;
    Node *stmt = st.raw->stmt;

    if (IsA(stmt, SelectStmt) && castNode(SelectStmt, stmt)->intoClause) {
        IntoClause *into = castNode(SelectStmt, stmt)->intoClause;
        st.kind = StatementKind::SelectInto;
        st.new_relation = into->rel;
    } else if (IsA(stmt, CreateTableAsStmt)) {
        auto *ctas = castNode(CreateTableAsStmt, stmt);
        st.kind = ctas->objtype == OBJECT_MATVIEW ? StatementKind::CreateMatView
                                                  : StatementKind::CreateTableAs;
        st.new_relation = ctas->into->rel;
        if (IsA(ctas->query, ExecuteStmt))
            reject("... AS EXECUTE is not supported",
                   "Prepared statements of the calling session do not exist in the background "
                   "worker.");
        if (ctas->into->skipData)
            reject("WITH NO DATA runs no query, so there are no parallel workers to guard",
                   nullptr);
    } else if (IsA(stmt, RefreshMatViewStmt)) {
        st.kind = StatementKind::RefreshMatView;
        if (castNode(RefreshMatViewStmt, stmt)->skipData)
            reject("WITH NO DATA runs no query, so there are no parallel workers to guard",
                   nullptr);
    } else if (IsA(stmt, IndexStmt)) {
        st.kind = StatementKind::CreateIndex;
        if (castNode(IndexStmt, stmt)->concurrent)
            reject("CREATE INDEX CONCURRENTLY is not supported",
                   "It commits several transactions of its own, so an attempt could not be "
                   "rolled back as a whole.");
    } else {
        const char *tag = GetCommandTagName(CreateCommandTag(stmt));
        reject(psprintf("the statement is %s", tag), nullptr);
    }
    if (st.new_relation && is_temp_rangevar(st.new_relation))
        reject("temporary tables are not supported", temp_detail);
    return st;
}

namespace {

[[noreturn]] void relation_exists(Oid nsp, const char *name)
{
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE),
                    errmsg("relation \"%s.%s\" already exists", get_namespace_name(nsp), name),
                    errdetail("parallel_guard.run() never replaces, drops or writes to an existing "
                              "relation."),
                    errhint("Choose a new name, or drop the relation yourself first.")));
    pg_unreachable();
}

void check_new_index(const IndexStmt *stmt)
{
    if (stmt->idxname == nullptr)
        return; /* a generated name never collides */
    Oid table = RangeVarGetRelid(stmt->relation, NoLock, true);
    if (!OidIsValid(table))
        return; /* the statement itself reports the missing table */
    Oid nsp = get_rel_namespace(table);
    if (OidIsValid(get_relname_relid(stmt->idxname, nsp)))
        relation_exists(nsp, stmt->idxname);
}

} // namespace

const char *statement_kind_name(StatementKind kind)
{
    switch (kind) {
    case StatementKind::CreateTableAs: return "CREATE TABLE AS";
    case StatementKind::SelectInto: return "SELECT INTO";
    case StatementKind::CreateMatView: return "CREATE MATERIALIZED VIEW";
    case StatementKind::RefreshMatView: return "REFRESH MATERIALIZED VIEW";
    case StatementKind::CreateIndex: return "CREATE INDEX";
    }
    return "?";
}

const char *statement_kind_token(StatementKind kind)
{
    switch (kind) {
    case StatementKind::CreateTableAs: return "create_table_as";
    case StatementKind::SelectInto: return "select_into";
    case StatementKind::CreateMatView: return "create_materialized_view";
    case StatementKind::RefreshMatView: return "refresh_materialized_view";
    case StatementKind::CreateIndex: return "create_index";
    }
    return "?";
}

int index_planned_workers(const GuardedStatement &st, int max_workers)
{
    const auto *stmt = castNode(IndexStmt, st.raw->stmt);
    if (stmt->accessMethod && strcmp(stmt->accessMethod, "btree") != 0)
        return 0;
    Oid table = RangeVarGetRelid(stmt->relation, NoLock, true);
    if (!OidIsValid(table))
        return -1;
    Relation rel = try_relation_open(table, AccessShareLock);
    if (rel == nullptr)
        return -1;
    int planned = -1;
    if (rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP || max_workers == 0)
        planned = 0;
    else if (RelationGetParallelWorkers(rel, -1) >= 0) /* taken as is, memory aside */
        planned = Min(RelationGetParallelWorkers(rel, -1), max_workers);
    relation_close(rel, AccessShareLock);
    return planned;
}

void check_target_relation(const GuardedStatement &st)
{
    if (st.kind == StatementKind::CreateIndex) {
        check_new_index(castNode(IndexStmt, st.raw->stmt));
        return;
    }
    const RangeVar *rel = st.new_relation;
    if (rel == nullptr)
        return;
    Oid nsp = RangeVarGetCreationNamespace(rel);

    if (isTempNamespace(nsp) || isAnyTempNamespace(nsp))
        reject("temporary tables are not supported", temp_detail);

    /* The same check CREATE TABLE makes, made before any worker starts. */
    AclResult acl = pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_SCHEMA, get_namespace_name(nsp));

    if (OidIsValid(get_relname_relid(rel->relname, nsp)))
        relation_exists(nsp, rel->relname);
}

} // namespace pg_guard
