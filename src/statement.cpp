/*
 * statement.cpp: parse the caller's SQL text and accept exactly one
 * statement of a kind the guard can run in a background worker (CREATE
 * TABLE ... AS, SELECT ... INTO, CREATE MATERIALIZED VIEW ... AS, REFRESH
 * MATERIALIZED VIEW, CREATE INDEX), and check before anything starts that
 * it would read in the worker what it reads in the caller's session.
 *
 * The text is parsed with the server's own raw parser, so comments, dollar
 * quoting and semicolons inside literals are handled as PostgreSQL handles
 * them, and the text is never pasted into another statement.  The worker
 * parses the same text again and repeats the check before running it.
 */
#include "statement.hpp"

#include "attempt_segment.hpp"
#include "boundary.hpp"

extern "C" {
#include "access/genam.h"
#include "access/table.h"
#include "catalog/pg_index.h"
#include "utils/fmgroids.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "parser/analyze.h"
#include "utils/syscache.h"
}

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

/* A statement run() refuses, each with its own literal (translatable) text. */
enum class Refusal { AsExecute, WithNoData, Concurrently, Temporary };

[[noreturn]] void reject(Refusal r)
{
    switch (r) {
    case Refusal::AsExecute:
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("parallel_guard.run() does not support CREATE TABLE ... AS EXECUTE"),
                        errdetail("Prepared statements of the calling session do not exist in the "
                                  "background worker."),
                        errhint("Give the prepared statement's query itself.")));
        break;
    case Refusal::WithNoData:
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("parallel_guard.run() does not support WITH NO DATA"),
                        errdetail("WITH NO DATA runs no query, so there are no parallel workers "
                                  "to guard."),
                        errhint("Run the statement directly.")));
        break;
    case Refusal::Concurrently:
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("parallel_guard.run() does not support CREATE INDEX CONCURRENTLY"),
                        errdetail("It commits several transactions of its own, so an attempt "
                                  "could not be rolled back as a whole."),
                        errhint("Guard CREATE INDEX without CONCURRENTLY, or run the statement "
                                "directly.")));
        break;
    case Refusal::Temporary:
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("parallel_guard.run() does not support temporary tables"),
                        errdetail("The statement runs in a background worker whose temporary "
                                  "schema disappears when the worker exits."),
                        errhint("Create a permanent table, or run the statement directly.")));
        break;
    }
    pg_unreachable();
}

[[noreturn]] void reject_kind(const char *tag)
{
    ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                    errmsg("parallel_guard.run() does not support %s", tag),
                    errdetail("Only CREATE TABLE ... AS, SELECT ... INTO, CREATE MATERIALIZED "
                              "VIEW ... AS, REFRESH MATERIALIZED VIEW and CREATE INDEX can be "
                              "guarded.")));
    pg_unreachable();
}

bool is_temp_rangevar(const RangeVar *rel)
{
    return rel->relpersistence == RELPERSISTENCE_TEMP ||
           (rel->schemaname && strcmp(rel->schemaname, "pg_temp") == 0);
}

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
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("parallel_guard.run() needs exactly one SQL statement"),
                 errdetail_plural("The text holds %d statement.", "The text holds %d statements.",
                                  list_length(stmts), list_length(stmts))));

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
            reject(Refusal::AsExecute);
        if (ctas->into->skipData)
            reject(Refusal::WithNoData);
    } else if (IsA(stmt, RefreshMatViewStmt)) {
        st.kind = StatementKind::RefreshMatView;
        if (castNode(RefreshMatViewStmt, stmt)->skipData)
            reject(Refusal::WithNoData);
    } else if (IsA(stmt, IndexStmt)) {
        st.kind = StatementKind::CreateIndex;
        if (castNode(IndexStmt, stmt)->concurrent)
            reject(Refusal::Concurrently);
    } else {
        const char *tag = GetCommandTagName(CreateCommandTag(stmt));
        reject_kind(tag);
    }
    if (st.new_relation && is_temp_rangevar(st.new_relation))
        reject(Refusal::Temporary);
    return st;
}

namespace {

bool creates_if_not_exists(const GuardedStatement &st)
{
    Node *stmt = st.raw->stmt;
    return IsA(stmt, CreateTableAsStmt) && castNode(CreateTableAsStmt, stmt)->if_not_exists;
}

[[noreturn]] void relation_exists(Oid nsp, const char *name)
{
    ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE),
                    errmsg("relation \"%s.%s\" already exists", get_namespace_name(nsp), name),
                    errdetail("parallel_guard.run() never replaces, drops or writes to an existing "
                              "relation."),
                    errhint("Choose a new name, or drop the relation yourself first.")));
    pg_unreachable();
}

/* An existing name is refused only where the plain statement would not fail
 * on it (IF NOT EXISTS); otherwise the statement reports it, in its order. */
void check_new_index(const IndexStmt *stmt)
{
    if (stmt->idxname == nullptr || !stmt->if_not_exists)
        return; /* a generated name never collides; without IF NOT EXISTS the statement checks */
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

namespace {

/* What of this session's temporary schema the statement names, if anything,
 * and a table it reads that this transaction has changed. */
struct TempReference {
    const char *what; /* "table", "function", "type" */
    char *name;
    Oid written;
    bool uncommitted; /* not temporary: created or changed by this transaction */
};

/*
 * Was the catalog row of this object written by the calling transaction (or
 * one of its subtransactions): created, altered, granted on, and not yet
 * committed?  The worker's own transaction cannot see such a definition.
 */
bool defined_in_this_transaction(SysCacheIdentifier cache, Oid oid)
{
    HeapTuple tup = SearchSysCache1(cache, ObjectIdGetDatum(oid));
    if (!HeapTupleIsValid(tup))
        return false;
    bool mine = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data));
    ReleaseSysCache(tup);
    return mine;
}

char *qualified_relation_name(Oid rel)
{
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)),
                                      get_rel_name(rel));
}

/* Has this transaction inserted, updated, deleted or truncated in the table
 * (pgstat's per-transaction counts, kept for every table it touched)? */
bool written_in_this_transaction(Oid rel)
{
    PgStat_TableStatus *tab = pending_table_status(rel);
    if (tab == nullptr)
        return false;
    for (PgStat_TableXactStatus *t = tab->trans; t != nullptr; t = t->upper)
        if (t->tuples_inserted > 0 || t->tuples_updated > 0 || t->tuples_deleted > 0 ||
            t->truncdropped)
            return true;
    return false;
}

bool in_my_temp_schema(Oid nsp)
{
    return OidIsValid(nsp) && isTempOrTempToastNamespace(nsp);
}

Oid type_namespace(Oid type)
{
    HeapTuple tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
    if (!HeapTupleIsValid(tup))
        return InvalidOid;
    Oid nsp = reinterpret_cast<Form_pg_type>(GETSTRUCT(tup))->typnamespace;
    ReleaseSysCache(tup);
    return nsp;
}

bool note_function(Oid fn, TempReference *ref)
{
    if (OidIsValid(fn) && in_my_temp_schema(get_func_namespace(fn))) {
        ref->what = "function";
        ref->name = psprintf("pg_temp.%s", get_func_name(fn));
        return true;
    }
    if (OidIsValid(fn) && defined_in_this_transaction(PROCOID, fn)) {
        ref->what = "function";
        ref->name = quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
                                               get_func_name(fn));
        ref->uncommitted = true;
        return true;
    }
    return false;
}

bool note_type(Oid type, TempReference *ref)
{
    if (OidIsValid(type) && in_my_temp_schema(type_namespace(type))) {
        ref->what = "type";
        ref->name = psprintf("pg_temp.%s", format_type_be(type));
        return true;
    }
    return false;
}

bool find_temp_reference(Node *node, void *context)
{
    auto *ref = static_cast<TempReference *>(context);
    if (node == nullptr)
        return false;
    if (IsA(node, Query))
        return query_tree_walker(reinterpret_cast<Query *>(node),
                                 find_temp_reference, context,
                                 QTW_EXAMINE_RTES_BEFORE);
    if (IsA(node, RangeTblEntry)) {
        auto *rte = reinterpret_cast<RangeTblEntry *>(node);
        if (rte->rtekind == RTE_RELATION && !OidIsValid(ref->written) &&
            written_in_this_transaction(rte->relid))
            ref->written = rte->relid;
        if (rte->rtekind == RTE_RELATION && in_my_temp_schema(get_rel_namespace(rte->relid))) {
            ref->what = "table";
            ref->name = psprintf("pg_temp.%s", get_rel_name(rte->relid));
            return true;
        }
        if (rte->rtekind == RTE_RELATION && defined_in_this_transaction(RELOID, rte->relid)) {
            ref->what = "relation";
            ref->name = qualified_relation_name(rte->relid);
            ref->uncommitted = true;
            return true;
        }
        return false;
    }
    switch (nodeTag(node)) {
    case T_FuncExpr:
        if (note_function(reinterpret_cast<FuncExpr *>(node)->funcid, ref) ||
            note_type(reinterpret_cast<FuncExpr *>(node)->funcresulttype, ref))
            return true;
        break;
    case T_Aggref:
        if (note_function(reinterpret_cast<Aggref *>(node)->aggfnoid, ref))
            return true;
        break;
    case T_WindowFunc:
        if (note_function(reinterpret_cast<WindowFunc *>(node)->winfnoid, ref))
            return true;
        break;
    case T_OpExpr:
    case T_DistinctExpr:
    case T_NullIfExpr: {
        auto *op = reinterpret_cast<OpExpr *>(node);
        set_opfuncid(op);
        if (note_function(op->opfuncid, ref))
            return true;
        break;
    }
    case T_Var:
        if (note_type(reinterpret_cast<Var *>(node)->vartype, ref))
            return true;
        break;
    case T_Const:
        if (note_type(reinterpret_cast<Const *>(node)->consttype, ref))
            return true;
        break;
    case T_RelabelType:
    case T_CoerceViaIO:
    case T_ArrayCoerceExpr:
    case T_CoerceToDomain:
    case T_RowExpr:
        if (note_type(exprType(node), ref))
            return true;
        break;
    default: break;
    }
    return expression_tree_walker(node, find_temp_reference, context);
}

struct AnalyzeArgs {
    RawStmt *raw;
    const char *sql;
    TempReference *ref;
};

void analyze_for_temp_references(void *p)
{
    auto *a = static_cast<AnalyzeArgs *>(p);
    Query *q = parse_analyze_fixedparams(static_cast<RawStmt *>(copyObjectImpl(a->raw)), a->sql,
                                         nullptr, 0, nullptr);
    if (q->utilityStmt && IsA(q->utilityStmt, CreateTableAsStmt))
        (void) find_temp_reference(castNode(CreateTableAsStmt, q->utilityStmt)->query, a->ref);
    else
        (void) find_temp_reference(reinterpret_cast<Node *>(q), a->ref);
}

[[noreturn]] void refuse_temp_reference(const TempReference &ref)
{
    if (ref.uncommitted)
        ereport(ERROR,
                (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                 errmsg("parallel_guard.run() cannot use the %s \"%s\", which the calling "
                        "transaction created or changed",
                        ref.what, ref.name),
                 errdetail("The statement runs in a background worker in a transaction of its "
                           "own, which cannot see this transaction's uncommitted definitions: "
                           "there the %s would not exist, or have its committed definition.",
                           ref.what),
                 errhint("Commit the transaction that defines it before calling "
                         "parallel_guard.run(), or run the statement directly.")));
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("parallel_guard.run() cannot use the temporary %s \"%s\" of this session",
                    ref.what, ref.name),
             errdetail("The statement runs in a background worker, which cannot see this "
                       "session's temporary objects: there the name would resolve to another "
                       "object, or to none."),
             errhint("Copy the rows into a permanent table first, or run the statement "
                     "directly.")));
    pg_unreachable();
}

} // namespace

void check_statement_reads(const GuardedStatement &st, const char *sql)
{
    /* Nothing to find in a session without temporary objects whose
     * transaction has written nothing: skip the analysis (and its locks). */
    Oid temp_nsp, temp_toast_nsp;
    GetTempNamespaceState(&temp_nsp, &temp_toast_nsp);
    if (!OidIsValid(temp_nsp) && !TransactionIdIsValid(GetTopTransactionIdIfAny()))
        return;

    TempReference ref = {nullptr, nullptr, InvalidOid, false};
    if (st.kind == StatementKind::CreateIndex || st.kind == StatementKind::RefreshMatView) {
        const RangeVar *rv = st.kind == StatementKind::CreateIndex
                                 ? castNode(IndexStmt, st.raw->stmt)->relation
                                 : castNode(RefreshMatViewStmt, st.raw->stmt)->relation;
        Oid table = RangeVarGetRelid(rv, NoLock, true);
        if (OidIsValid(table) && in_my_temp_schema(get_rel_namespace(table)))
            refuse_temp_reference({"table", psprintf("pg_temp.%s", get_rel_name(table)),
                                   InvalidOid, false});
        if (OidIsValid(table) && defined_in_this_transaction(RELOID, table))
            refuse_temp_reference({st.kind == StatementKind::CreateIndex ? "table"
                                                                         : "materialized view",
                                   qualified_relation_name(table), InvalidOid, true});
        if (st.kind == StatementKind::CreateIndex && OidIsValid(table) &&
            written_in_this_transaction(table))
            ref.written = table;
    } else {
        /* Analyse as the worker will, in a subtransaction rolled back at once. */
        AnalyzeArgs args = {st.raw, sql, &ref};
        ErrorData *edata = nullptr;
        if (!pg_try_rolled_back(analyze_for_temp_references, &args, &edata)) {
            FreeErrorData(edata); /* the worker reports the statement's own error */
            return;
        }
        if (ref.what)
            refuse_temp_reference(ref);
    }
    if (OidIsValid(ref.written))
        ereport(WARNING,
                (errmsg("parallel_guard.run() does not see what the calling transaction has "
                        "written to table \"%s\"",
                        get_rel_name(ref.written)),
                 errdetail("The statement runs in a background worker in a transaction of its "
                           "own; it reads only committed rows, not this transaction's "
                           "uncommitted changes."),
                 errhint("Commit those changes before calling parallel_guard.run().")));
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
        reject(Refusal::Temporary);

    /* The same check CREATE TABLE makes, made before any worker starts. */
    AclResult acl = object_aclcheck(NamespaceRelationId, nsp, GetUserId(), ACL_CREATE);
    if (acl != ACLCHECK_OK)
        aclcheck_error(acl, OBJECT_SCHEMA, get_namespace_name(nsp));

    /*
     * An existing name: with IF NOT EXISTS the plain statement would skip,
     * run() refuses (it never touches an existing relation).  Without it,
     * the plain statement fails too, but maybe first for another reason (a
     * column that does not exist, an invalid option): the statement itself
     * reports it, in PostgreSQL's own order.
     */
    if (OidIsValid(get_relname_relid(rel->relname, nsp)) && creates_if_not_exists(st))
        relation_exists(nsp, rel->relname);
}

/*
 * Launch sites an attempt needs room for: kMinSites, plus one per index a
 * CREATE INDEX can build (every partition of a partitioned table; read
 * without a lock, so partitions attached meanwhile fall within kMinSites).
 */
namespace {

/* The indexes of a relation, counted in pg_index (the relation itself is
 * not locked here: the worker's REFRESH locks it). */
int index_count(Oid table)
{
    Relation pg_index = table_open(IndexRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(table));
    SysScanDesc scan = systable_beginscan(pg_index, IndexIndrelidIndexId, true, nullptr, 1, &key);
    int n = 0;
    while (HeapTupleIsValid(systable_getnext(scan)))
        n++;
    systable_endscan(scan);
    table_close(pg_index, AccessShareLock);
    return n;
}

} // namespace

int launch_site_room(const GuardedStatement &st)
{
    int builds = 0;
    if (st.kind == StatementKind::CreateIndex) {
        Oid table = RangeVarGetRelid(castNode(IndexStmt, st.raw->stmt)->relation, NoLock, true);
        if (OidIsValid(table))
            builds = list_length(find_all_inheritors(table, NoLock, nullptr));
    } else if (st.kind == StatementKind::RefreshMatView) {
        /* Each index of the view is rebuilt after the swap. */
        Oid view = RangeVarGetRelid(castNode(RefreshMatViewStmt, st.raw->stmt)->relation,
                                    NoLock, true);
        if (OidIsValid(view))
            builds = index_count(view);
    }
    return kMinSites + builds;
}

} // namespace pg_guard
