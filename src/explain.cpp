/*
 * explain.cpp: parallel_guard.explain(sql, target), a dry run that plans
 * the statement exactly as the guard's worker would (this session's
 * settings, max_parallel_workers_per_gather or, for CREATE INDEX,
 * max_parallel_maintenance_workers raised to target) and returns one row
 * per place that will launch parallel workers, named as the run's NOTICEs
 * and history name it, without running anything.
 *
 * Everything happens in a subtransaction that is rolled back: the locks
 * planning takes are released at once, and for CREATE INDEX the index that
 * is created to ask plan_create_index_workers() (as the build would) never
 * exists for anyone else and is never built.
 */
#include "boundary.hpp"
#include "launch_plan.hpp"
#include "statement.hpp"

extern "C" {
#include "access/table.h"
#include "catalog/objectaccess.h"
#include "catalog/pg_inherits.h"
#include "nodes/makefuncs.h"
#include "parser/analyze.h"
#include "rewrite/rewriteHandler.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(parallel_guard_explain);
static void guard_stop_at_index(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id,
                                void *arg);
}

namespace pg_guard {

namespace {

struct PlanRow {
    char *node;
    int planned; /* -1: not known before it runs */
    const char *counted;
    const char *launches;
};

struct Explained {
    MemoryContext cxt; /* outlives the subtransaction */
    PlanRow *rows;
    int n;
    int capacity;
};

void add_row(Explained *e, const char *node, int planned, const char *counted,
             const char *launches)
{
    MemoryContext old = MemoryContextSwitchTo(e->cxt);
    if (e->n == e->capacity) {
        e->capacity = e->capacity ? e->capacity * 2 : 8;
        Size size = sizeof(PlanRow) * static_cast<Size>(e->capacity);
        e->rows = static_cast<PlanRow *>(e->rows ? repalloc(e->rows, size) : palloc(size));
    }
    e->rows[e->n++] = {pstrdup(node), planned, counted, launches};
    MemoryContextSwitchTo(old);
}

/* ---- queries: the Gathers of the plan, in plan order ---- */

struct WalkContext {
    Explained *e;
    PlanState *parent;
    bool rescanned; /* below the inner side of a nested loop or in a SubPlan */
};

bool is_rescanned_child(PlanState *parent, PlanState *child)
{
    if (parent == nullptr)
        return false;
    if (IsA(parent, NestLoopState) && innerPlanState(parent) == child)
        return true;
    ListCell *lc;
    foreach (lc, parent->subPlan)
        if (static_cast<SubPlanState *>(lfirst(lc))->planstate == child)
            return true;
    return false;
}

bool find_gathers(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    auto *wc = static_cast<WalkContext *>(context);
    WalkContext here = {wc->e, ps, wc->rescanned || is_rescanned_child(wc->parent, ps)};
    if (is_gather(ps))
        add_row(wc->e, gather_label(ps, 1), gather_planned(ps), "gather",
                here.rescanned ? "at every rescan" : "once");
    return planstate_tree_walker(ps, find_gathers, &here);
}

void explain_query(Explained *e, Query *query, const char *sql)
{
    List *rewritten = QueryRewrite(query);
    if (list_length(rewritten) != 1)
        elog(ERROR, "unexpected rewrite of the statement's query in parallel_guard.explain()");
    PlannedStmt *pstmt =
        pg_plan_query(linitial_node(Query, rewritten), sql, CURSOR_OPT_PARALLEL_OK, nullptr,
                      nullptr);
    PushActiveSnapshot(GetTransactionSnapshot());
    QueryDesc *qd = CreateQueryDesc(pstmt, sql, GetActiveSnapshot(), InvalidSnapshot,
                                    None_Receiver, nullptr, nullptr, 0);
    ExecutorStart(qd, EXEC_FLAG_EXPLAIN_ONLY);
    int before = e->n;
    WalkContext wc = {e, nullptr, false};
    find_gathers(qd->planstate, &wc);
    if (e->n == before)
        add_row(e, "the statement's query (no Gather)", 0, "plan", "once");
    ExecutorEnd(qd);
    FreeQueryDesc(qd);
    PopActiveSnapshot();
}

/* ---- index builds: ask the planner, as the build would, partition by partition ---- */

constexpr int kExplainStop = MAKE_SQLSTATE('P', 'G', 'X', 'P', '1'); /* our own marker */
object_access_hook_type prev_object_access = nullptr;
bool hooked = false;  /* stop_at_index is in object_access_hook's chain */
bool probing = false; /* it acts only during a probe */
int explained_workers = -1;

/* At the index's creation, before its build: ask, then stop the statement. */
void stop_at_index(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg)
{
    if (prev_object_access)
        prev_object_access(access, class_id, object_id, sub_id, arg);
    if (probing && access == OAT_POST_CREATE && class_id == RelationRelationId && sub_id == 0) {
        CommandCounterIncrement();
        if (get_rel_relkind(object_id) == RELKIND_INDEX) {
            Oid table;
            explained_workers = index_build_workers(object_id, &table);
            ereport(ERROR, (errcode(kExplainStop), errmsg_internal("parallel_guard explain stop")));
        }
    }
}

struct IndexArgs {
    IndexStmt *stmt;
    const char *sql;
};

void create_index_until_built(void *p)
{
    auto *a = static_cast<IndexArgs *>(p);
    PlannedStmt *pstmt = makeNode(PlannedStmt);
    pstmt->commandType = CMD_UTILITY;
    pstmt->canSetTag = true;
    pstmt->utilityStmt = reinterpret_cast<Node *>(a->stmt);
    pstmt->stmt_location = -1;
    QueryCompletion qc;
    InitializeQueryCompletion(&qc);
    ProcessUtility(pstmt, a->sql, false, PROCESS_UTILITY_QUERY, nullptr, nullptr, None_Receiver,
                   &qc);
}

/*
 * The workers the build of the statement's index on `table` plans.  Each
 * probe runs in a subtransaction of its own, rolled back: DefineIndex()
 * switches to the table owner's user id in a security-restricted context
 * (and from 17 restricts search_path) and the probe's stop skips its
 * restoring them, which only the subtransaction's abort does, before the
 * next partition's probe.
 */
int index_workers_for(const IndexStmt *stmt, Oid table, const char *sql)
{
    auto *copy = static_cast<IndexStmt *>(copyObjectImpl(stmt));
    copy->relation = makeRangeVar(get_namespace_name(get_rel_namespace(table)),
                                  get_rel_name(table), -1);
    copy->idxname = nullptr; /* a generated name never collides */
    IndexArgs args = {copy, sql};
    ErrorData *edata = nullptr;

    explained_workers = -1;
    if (!hooked) {
        prev_object_access = object_access_hook;
        object_access_hook = guard_stop_at_index;
        hooked = true;
    }
    probing = true;
    bool ok = pg_try_rolled_back(create_index_until_built, &args, &edata);
    probing = false;
    /* Unhooked only if still first in line; else left in place, inert. */
    if (object_access_hook == guard_stop_at_index) {
        object_access_hook = prev_object_access;
        hooked = false;
    }
    if (!ok && edata->sqlerrcode != kExplainStop)
        rethrow_pg_error(edata);
    return explained_workers;
}

void explain_index(Explained *e, const IndexStmt *stmt, const char *sql)
{
    Oid table = RangeVarGetRelid(stmt->relation, AccessShareLock, false);
    List *tables = list_make1_oid(table);
    if (get_rel_relkind(table) == RELKIND_PARTITIONED_TABLE)
        tables = find_all_inheritors(table, AccessShareLock, nullptr);
    ListCell *lc;
    foreach (lc, tables) {
        Oid t = lfirst_oid(lc);
        if (get_rel_relkind(t) != RELKIND_RELATION && get_rel_relkind(t) != RELKIND_MATVIEW)
            continue; /* partitioned: built partition by partition */
        add_row(e, index_build_label(t), index_workers_for(stmt, t, sql), "registrations",
                "once");
    }
}

/* ---- the statement ---- */

struct ExplainArgs {
    Explained *e;
    GuardedStatement st;
    const char *sql;
};

void explain_statement(void *p)
{
    auto *a = static_cast<ExplainArgs *>(p);
    Node *stmt = a->st.raw->stmt;
    switch (a->st.kind) {
    case StatementKind::CreateIndex:
        explain_index(a->e, castNode(IndexStmt, stmt), a->sql);
        break;
    case StatementKind::RefreshMatView: {
        auto *rs = castNode(RefreshMatViewStmt, stmt);
        Oid mv = RangeVarGetRelid(rs->relation, AccessShareLock, false);
        Relation rel = table_open(mv, NoLock);
        auto *query = static_cast<Query *>(copyObjectImpl(get_view_query(rel)));
        table_close(rel, NoLock);
        AcquireRewriteLocks(query, true, false);
        explain_query(a->e, query, a->sql);
        if (rs->concurrent) {
            add_row(a->e, "further queries of REFRESH ... CONCURRENTLY", -1, "gather",
                    "when they run");
            break;
        }
        /* Then each index of the view is rebuilt on the new data: planned
         * here on the view's present size, which the refresh may change. */
        rel = table_open(mv, NoLock);
        List *indexes = RelationGetIndexList(rel);
        table_close(rel, NoLock);
        ListCell *lc;
        foreach (lc, indexes) {
            Oid table;
            int planned = index_build_workers(lfirst_oid(lc), &table);
            if (planned > 0)
                add_row(a->e, index_rebuild_label(lfirst_oid(lc)),
                        planned, "registrations", "once, after the new data");
        }
        break;
    }
    default: {
        Query *q = parse_analyze_fixedparams(static_cast<RawStmt *>(copyObjectImpl(a->st.raw)),
                                             a->sql, nullptr, 0, nullptr);
        auto *ctas = castNode(CreateTableAsStmt, q->utilityStmt);
        explain_query(a->e, castNode(Query, ctas->query), a->sql);
        break;
    }
    }
}

/* Raise a setting to at least `value` for this function's nest level. */
void raise_setting(const char *name, int current, int value)
{
    if (current < value)
        (void) set_config_option(name, psprintf("%d", value), PGC_USERSET, PGC_S_SESSION,
                                 GUC_ACTION_SAVE, true, 0, false);
}

Datum explain_sql_function(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("the arguments of parallel_guard.explain() must not be NULL")));
    const char *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
    int target = PG_GETARG_INT32(1);
    if (target < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("target must be at least 1, not %d", target)));
    PreventCommandIfParallelMode("parallel_guard.explain()");

    GuardedStatement st = parse_guarded_statement(sql);
    check_statement_reads(st, sql);

    Explained e = {CurrentMemoryContext, nullptr, 0, 0};
    ExplainArgs args = {&e, st, sql};
    ErrorData *edata = nullptr;
    int nest = NewGUCNestLevel();
    if (is_index_build(st.kind) || st.kind == StatementKind::RefreshMatView)
        raise_setting("max_parallel_maintenance_workers", max_parallel_maintenance_workers,
                      target);
    if (!is_index_build(st.kind))
        raise_setting("max_parallel_workers_per_gather", max_parallel_workers_per_gather, target);

    bool ok = pg_try_rolled_back(explain_statement, &args, &edata);
    AtEOXact_GUC(true, nest);
    if (!ok)
        rethrow_pg_error(edata);

    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    for (int i = 0; i < e.n; i++) {
        Datum values[4];
        bool nulls[4] = {false, false, false, false};
        values[0] = CStringGetTextDatum(e.rows[i].node);
        values[1] = Int32GetDatum(e.rows[i].planned);
        nulls[1] = e.rows[i].planned < 0;
        values[2] = CStringGetTextDatum(e.rows[i].counted);
        values[3] = CStringGetTextDatum(e.rows[i].launches);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

} // namespace

} // namespace pg_guard

static void guard_stop_at_index(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id,
                                void *arg)
{
    pg_guard::cpp_call([&] { pg_guard::stop_at_index(access, class_id, object_id, sub_id, arg); });
}

Datum parallel_guard_explain(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::explain_sql_function(fcinfo); });
}
