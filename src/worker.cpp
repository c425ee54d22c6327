/*
 * worker.cpp: the background worker that runs one attempt.
 *
 * It connects as the caller's login role to the caller's database, restores
 * the caller's settings and current user, runs the CREATE TABLE ... AS, and
 * then keeps its transaction open until the caller decides: commit (enough
 * workers) or roll back (short).  A short attempt is therefore never visible
 * to anyone and never needs a DROP.
 *
 * While the statement starts, executor hooks installed in this process only
 * publish two numbers to the caller through the shared segment:
 *  - planned: Gather.num_workers of the first Gather / Gather Merge, right
 *    after ExecutorStart;
 *  - launched: GatherState.nworkers_launched, exactly, as soon as the leader
 *    first runs the Gather's child (right after LaunchParallelWorkers(), see
 *    ExecGather() in nodeGather.c and ExecGatherMerge()); failing that, at
 *    ExecutorEnd.
 * The caller also watches this process's lock group (storage/proc.h), which
 * shows the workers joining even when the leader does not run the child.
 */
#include "worker.hpp"

#include "attempt_segment.hpp"
#include "statement.hpp"

namespace pg_guard {

namespace {

GuardShared *shared = nullptr;
ExecutorStart_hook_type prev_executor_start = nullptr;
ExecutorEnd_hook_type prev_executor_end = nullptr;

/* The guarded statement's QueryDesc, once its ExecutorStart has run. */
QueryDesc *guarded_query = nullptr;
bool launch_published = false;

/*
 * Nodes whose first call we intercept: each Gather's outer child (its first
 * call in the leader comes right after the launch when the leader takes
 * part) and each Gather itself (its first return, for a leader that does
 * not take part).
 */
struct NodeHook {
    PlanState *node;
    PlanState *gather;
    ExecProcNodeMtd original;
};
constexpr int kMaxHooks = 32;
NodeHook node_hooks[kMaxHooks];
int n_node_hooks = 0;
int first_planned = -1;

/* planstate_tree_walker() takes an old-style bool (*)(); void (*)() is the
 * sanctioned generic function pointer to pass through. */
using Walker = bool (*)(PlanState *, void *);
bool (*as_walker(Walker w))()
{
    return reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(w));
}

bool is_gather(const PlanState *ps)
{
    return IsA(ps, GatherState) || IsA(ps, GatherMergeState);
}

int launched_of(const PlanState *gather)
{
    if (IsA(gather, GatherState))
        return castNode(GatherState, const_cast<PlanState *>(gather))->nworkers_launched;
    return castNode(GatherMergeState, const_cast<PlanState *>(gather))->nworkers_launched;
}

bool gather_started(const PlanState *gather)
{
    if (IsA(gather, GatherState))
        return castNode(GatherState, const_cast<PlanState *>(gather))->initialized;
    return castNode(GatherMergeState, const_cast<PlanState *>(gather))->initialized;
}

int planned_of(const PlanState *gather)
{
    if (IsA(gather->plan, Gather))
        return castNode(Gather, gather->plan)->num_workers;
    return castNode(GatherMerge, gather->plan)->num_workers;
}

void publish_launch(int launched)
{
    if (launch_published)
        return;
    launch_published = true;
    SpinLockAcquire(&shared->mutex);
    shared->launched = launched;
    shared->launch_time = GetCurrentTimestamp();
    SpinLockRelease(&shared->mutex);
    wake_proc(shared->caller_procno);
}

TupleTableSlot *hooked_first_call(PlanState *pstate)
{
    for (int i = 0; i < n_node_hooks; i++) {
        NodeHook &h = node_hooks[i];
        if (h.node != pstate)
            continue;
        /* Unhook first: every later call goes straight to the real node. */
        pstate->ExecProcNodeReal = h.original;
        if (pstate->ExecProcNode == hooked_first_call)
            pstate->ExecProcNode = h.original;
        if (pstate == h.gather) {
            TupleTableSlot *slot = h.original(pstate);
            if (gather_started(h.gather))
                publish_launch(launched_of(h.gather));
            return slot;
        }
        if (gather_started(h.gather))
            publish_launch(launched_of(h.gather));
        return h.original(pstate);
    }
    elog(ERROR, "parallel_guard: executor hook lost its node");
    pg_unreachable();
}

void hook_first_call(PlanState *node, PlanState *gather)
{
    if (node == nullptr || n_node_hooks >= kMaxHooks)
        return;
    node_hooks[n_node_hooks++] = {node, gather, node->ExecProcNodeReal};
    node->ExecProcNodeReal = hooked_first_call;
}

bool find_gathers(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    if (is_gather(ps)) {
        if (first_planned < 0)
            first_planned = planned_of(ps);
        hook_first_call(outerPlanState(ps), ps);
        hook_first_call(ps, ps);
    }
    return planstate_tree_walker(ps, as_walker(find_gathers), context);
}

bool find_launched(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    if (is_gather(ps) && gather_started(ps)) {
        *static_cast<int *>(context) = launched_of(ps);
        return true;
    }
    return planstate_tree_walker(ps, as_walker(find_launched), context);
}

void guard_executor_start(QueryDesc *qd, int eflags)
{
    if (prev_executor_start)
        prev_executor_start(qd, eflags);
    else
        standard_ExecutorStart(qd, eflags);

    /*
     * The guarded statement's query is the first to write into a new
     * relation: DestIntoRel (CREATE TABLE AS, SELECT INTO, CREATE
     * MATERIALIZED VIEW) or DestTransientRel (REFRESH MATERIALIZED VIEW).
     */
    CommandDest dest = qd->dest->mydest;
    if (guarded_query || (eflags & EXEC_FLAG_EXPLAIN_ONLY) ||
        (dest != DestIntoRel && dest != DestTransientRel))
        return;
    guarded_query = qd;
    find_gathers(qd->planstate, nullptr);

    SpinLockAcquire(&shared->mutex);
    shared->planned = first_planned < 0 ? 0 : first_planned;
    SpinLockRelease(&shared->mutex);
    wake_proc(shared->caller_procno);
}

void guard_executor_end(QueryDesc *qd)
{
    if (qd == guarded_query && !launch_published) {
        int launched = 0; /* no Gather ran: no worker was launched */
        find_launched(qd->planstate, &launched);
        publish_launch(launched);
    }
    if (prev_executor_end)
        prev_executor_end(qd);
    else
        standard_ExecutorEnd(qd);
}

void set_state(WorkerState state, uint64 rows)
{
    SpinLockAcquire(&shared->mutex);
    shared->state = state;
    shared->rows = rows;
    SpinLockRelease(&shared->mutex);
    wake_proc(shared->caller_procno);
}

Decision wait_for_decision()
{
    for (;;) {
        SpinLockAcquire(&shared->mutex);
        Decision d = shared->decision;
        SpinLockRelease(&shared->mutex);
        if (d != Decision::Pending)
            return d;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000L,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

/* Parse, plan and run the statement as exec_simple_query() would. */
uint64 run_statement(const char *sql)
{
    RawStmt *raw = parse_guarded_statement(sql).raw;
    List *queries = pg_analyze_and_rewrite_fixedparams(raw, sql, nullptr, 0, nullptr);
    List *plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, nullptr);
    PlannedStmt *pstmt = linitial_node(PlannedStmt, plans);
    QueryCompletion qc;

    InitializeQueryCompletion(&qc);
    ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_TOPLEVEL, nullptr, nullptr, None_Receiver,
                   &qc);
    return qc.nprocessed;
}

void restore_caller_context(shm_toc *toc)
{
    StartTransactionCommand();
    RestoreGUCState(shm_toc_lookup(toc, kKeyGuc, false));
    CommitTransactionCommand();

    if (shared->per_gather >= 0)
        SetConfigOption("max_parallel_workers_per_gather", psprintf("%d", shared->per_gather),
                        PGC_USERSET, PGC_S_SESSION);
    if (shared->maintenance >= 0)
        SetConfigOption("max_parallel_maintenance_workers", psprintf("%d", shared->maintenance),
                        PGC_USERSET, PGC_S_SESSION);
}

void become_caller_user()
{
    Oid outer = shared->outer_user_id;
    SetCurrentRoleId(outer, OidIsValid(outer) ? superuser_arg(outer) : false);
    SetUserIdAndSecContext(shared->current_user_id, shared->sec_context);
}

} // namespace

} // namespace pg_guard

using namespace pg_guard;

/*
 * Entry point.  Plain C-style code: no C++ object with a destructor lives in
 * these frames, so PostgreSQL errors may unwind them.
 */
void parallel_guard_worker_main(Datum main_arg)
{
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();

    dsm_segment *seg = dsm_attach(DatumGetUInt32(main_arg));
    if (seg == nullptr)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("parallel_guard worker could not map its dynamic shared memory segment")));
    shm_toc *toc = shm_toc_attach(kTocMagic, dsm_segment_address(seg));
    if (toc == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("parallel_guard worker found a bad magic number in its segment")));
    shared = static_cast<GuardShared *>(shm_toc_lookup(toc, kKeyShared, false));
    const char *sql = static_cast<const char *>(shm_toc_lookup(toc, kKeySql, false));

    /* From here on, notices and errors travel to the caller. */
    auto *mq = static_cast<shm_mq *>(shm_toc_lookup(toc, kKeyQueue, false));
    shm_mq_set_sender(mq, MyProc);
    pq_redirect_to_shm_mq(seg, shm_mq_attach(mq, seg, nullptr));

    BackgroundWorkerInitializeConnectionByOid(shared->database_id, shared->authenticated_user_id,
                                              0);
    SetClientEncoding(GetDatabaseEncoding()); /* what the caller expects to parse */

    SpinLockAcquire(&shared->mutex);
    shared->worker_procno = MyProc->pgprocno;
    shared->state = WorkerState::Running;
    SpinLockRelease(&shared->mutex);
    wake_proc(shared->caller_procno);

    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = guard_executor_start;
    prev_executor_end = ExecutorEnd_hook;
    ExecutorEnd_hook = guard_executor_end;

    PG_TRY();
    {
        restore_caller_context(toc);

        debug_query_string = sql;
        pgstat_report_activity(STATE_RUNNING, sql);
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        become_caller_user();
        PushActiveSnapshot(GetTransactionSnapshot());
        uint64 rows = run_statement(sql);
        PopActiveSnapshot();

        set_state(WorkerState::Executed, rows);
        if (wait_for_decision() == Decision::Commit) {
            CommitTransactionCommand();
            set_state(WorkerState::Committed, rows);
        } else {
            AbortCurrentTransaction();
            set_state(WorkerState::RolledBack, 0);
        }
    }
    PG_CATCH();
    {
        SpinLockAcquire(&shared->mutex);
        bool abort_requested = shared->decision == Decision::Abort;
        SpinLockRelease(&shared->mutex);

        /* The caller's own cancel of a short attempt is no error to report. */
        if (!abort_requested)
            EmitErrorReport();
        FlushErrorState();
        AbortCurrentTransaction();
        set_state(abort_requested ? WorkerState::RolledBack : WorkerState::Failed, 0);
    }
    PG_END_TRY();

    pgstat_report_activity(STATE_IDLE, nullptr);
}
