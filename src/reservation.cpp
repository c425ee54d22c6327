/*
 * reservation.cpp: in every backend, an ordinary parallel launch takes only
 * workers that no guarded run has reserved.
 *
 * PostgreSQL refuses a parallel worker when the registered ones reach the
 * registering backend's own max_parallel_workers (RegisterDynamicBackgroundWorker()
 * in bgworker.c).  So, just before an ordinary launch, max_parallel_workers is
 * lowered by the workers reserved (queue.cpp) and set back right after: the
 * launch gets fewer workers or none, exactly as when the pool is busy, and
 * is never blocked or failed.  Launch points:
 *  - the first call of each Gather / Gather Merge, and its first call after
 *    each rescan (ExecGather() launches when `initialized` is false): its
 *    ExecProcNodeReal is wrapped after ExecutorStart, for plans with
 *    parallelModeNeeded only;
 *    The InitPlans whose values the Gather sends to its workers are
 *    evaluated first (as ExecInitParallelPlan() would, just after): one
 *    can take seconds, and the reservations are read when the workers are
 *    about to be registered, not before;
 *  - every index build that may launch workers (CREATE INDEX, REINDEX,
 *    ALTER TABLE, CLUSTER, REPACK, VACUUM FULL, the index rebuilds of
 *    REFRESH MATERIALIZED VIEW, pgvector's builds): each asks
 *    plan_create_index_workers() for its plan just before it launches,
 *    which builds the table's RelOptInfo; build_simple_rel_hook sees that
 *    call (a planner state with no join tree) and caps from there to the
 *    end of the utility statement, read again at the next build;
 *  - VACUUM (parallel index vacuuming), around the whole utility statement,
 *    with the reservations seen at its start.
 * A launch inside one that is already capped keeps the outer cap.
 * A query without a parallel plan costs one flag test; a launch while
 * nothing is reserved, a clock read and three atomic operations (the mark
 * of the launch in flight, set before it reads the reservations and
 * cleared once its workers are registered, lets the head of the queue wait
 * for exactly the launches that may not have seen its reservation;
 * queue.cpp).
 *
 * The cap lowers the server's variable that RegisterDynamicBackgroundWorker()
 * reads, never the setting as the GUC machinery sees it: when the library is
 * preloaded, the setting's record points at a variable of our own
 * (session_max_parallel_workers), whose assign hook keeps the server's
 * variable equal to it, or lowered by the cap while one is in force.  So a
 * function's SET max_parallel_workers inside a capped launch saves and
 * restores the session's value, not the capped one, whether it returns or
 * fails (a cap written into the setting itself was saved by such a SET and
 * restored after an error, leaving the session at the capped value for good),
 * and SHOW shows the session's value.  Not through the GUC stack either
 * (NewGUCNestLevel / GUC_ACTION_SAVE): VACUUM commits its own transactions
 * before it vacuums a table, and each commit pops the GUC stack.
 *
 * The guard's own worker runs the same hooks, but its run's launches were
 * admitted by the queue with room for them: they leave no reservation free
 * (guard_launch()).
 */
#include "reservation.hpp"

#include "bgworker_slots.hpp"
#include "module.hpp"
#include "queue.hpp"
#include "stats.hpp"

#include <algorithm>

extern "C" {
#include "executor/nodeSubplan.h"
}

namespace pg_guard {

namespace {

ExecutorStart_hook_type prev_executor_start = nullptr;
ProcessUtility_hook_type prev_process_utility = nullptr;
build_simple_rel_hook_type prev_build_simple_rel = nullptr;

/* ExecGather and ExecGatherMerge (static in nodeGather*.c), as found in the
 * first node of each kind; a node wrapped by someone else is left alone. */
ExecProcNodeMtd gather_real = nullptr;
ExecProcNodeMtd gather_merge_real = nullptr;

int serving_caller_procno = -1;
bool capping = false; /* max_parallel_workers is lowered now */
int cap_reserved = 0; /* by this many */
bool build_capping = false; /* ... by an index build's cap, until its statement ends */

/* max_parallel_workers as SET, SHOW and the GUC stack see it (the setting's
 * record points here once redirected); the server's variable follows it. */
int session_max_parallel_workers = 8;
bool redirected = false;
struct config_generic *mpw_record = nullptr;
struct config_int *mpw_setting = nullptr;
GucIntAssignHook prev_assign = nullptr;

void assign_max_parallel_workers(int newval, void *extra)
{
    if (prev_assign)
        prev_assign(newval, extra);
    max_parallel_workers = capping ? std::max(0, newval - cap_reserved) : newval;
}

int session_value()
{
    return redirected ? session_max_parallel_workers : max_parallel_workers;
}

void begin_cap(int reserved)
{
    cap_reserved = reserved;
    capping = true;
    max_parallel_workers = std::max(0, session_value() - reserved);
}

void end_cap()
{
    capping = false;
    build_capping = false;
    cap_reserved = 0;
    max_parallel_workers = session_value();
}

/* The guard worker waits at most this long for its room at a launch. */
constexpr long kRoomWaitMs = 100;

/* How a launch tells the head of the queue it is in flight (queue.hpp). */
enum class InFlight { Gather, Build, Unmarked };

/* Workers this launch must leave free; 0 on the fast path.  *marked: the
 * launch is marked in flight, and must say when it has registered. */
int reserved_to_leave_free(InFlight kind, bool *marked)
{
    *marked = false;
    /* The guard worker's launches were admitted by the queue (guard_launch()). */
    if (capping || serving_caller_procno >= 0 || !redirected)
        return 0;
    if (kind != InFlight::Unmarked)
        *marked = queue_launch_begins(kind == InFlight::Build);
    if (queue_reserved_total() == 0 || !guard_yield_to_reservations())
        return 0;
    return queue_reserved_now();
}

/*
 * A Gather's launch in flight in this backend: its child, whose first call
 * comes right after PostgreSQL registered the workers (the leader reads its
 * workers' tuples and runs the child itself; one that does not take part
 * ends the flight when the Gather returns).  One at a time: a launch within
 * another is not marked.
 */
PlanState *in_flight_child = nullptr;
ExecProcNodeMtd in_flight_child_call = nullptr;

TupleTableSlot *registered_at_child(PlanState *ps);

void unhook_in_flight_child()
{
    if (in_flight_child == nullptr)
        return;
    in_flight_child->ExecProcNodeReal = in_flight_child_call;
    if (in_flight_child->ExecProcNode == registered_at_child)
        in_flight_child->ExecProcNode = in_flight_child_call;
    in_flight_child = nullptr;
}

TupleTableSlot *registered_at_child(PlanState *ps)
{
    ExecProcNodeMtd real = in_flight_child_call;
    if (ps != in_flight_child || real == nullptr)
        elog(ERROR, "executor hook of parallel_guard lost the node of a launch in flight");
    unhook_in_flight_child();
    queue_launch_registered();
    return real(ps);
}

struct MarkedLaunch {
    PlanState *ps;
    ExecProcNodeMtd real;
    int reserved;
    int planned;
    const int *launched;
    TupleTableSlot *slot; /* what the Gather returned */
};

TupleTableSlot *launch_capped(PlanState *ps, ExecProcNodeMtd real, int reserved, int planned,
                              const int *launched);

void hook_in_flight_child(PlanState *child)
{
    if (child == nullptr || in_flight_child != nullptr)
        return;
    in_flight_child = child;
    in_flight_child_call = child->ExecProcNodeReal;
    child->ExecProcNodeReal = registered_at_child;
    if (child->ExecProcNode == in_flight_child_call)
        child->ExecProcNode = registered_at_child;
}

void run_marked(MarkedLaunch *m)
{
    m->slot = m->reserved > 0
                  ? launch_capped(m->ps, m->real, m->reserved, m->planned, m->launched)
                  : m->real(m->ps);
}

void end_flight(PlanState *child)
{
    if (in_flight_child == child)
        unhook_in_flight_child();
    queue_launch_registered();
}

/* Run a launch marked in flight; it has registered at the latest when the
 * Gather returns or fails. */
TupleTableSlot *launch_marked(MarkedLaunch m)
{
    PlanState *child = outerPlanState(m.ps);
    hook_in_flight_child(child);
    PG_TRY();
    {
        run_marked(&m);
    }
    PG_CATCH();
    {
        end_flight(child);
        PG_RE_THROW();
    }
    PG_END_TRY();
    end_flight(child);
    return m.slot;
}

/*
 * Run real(ps), which launches `planned` workers at most and records in
 * *launched how many it did, under max_parallel_workers lowered by
 * `reserved`; count what the cap withheld.
 */
TupleTableSlot *launch_capped(PlanState *ps, ExecProcNodeMtd real, int reserved, int planned,
                              const int *launched)
{
    int active = parallel_workers_registered();
    bool counted = active >= 0;
    TupleTableSlot *volatile slot = nullptr;

    begin_cap(reserved);
    PG_TRY();
    {
        slot = real(ps);
    }
    PG_FINALLY();
    {
        end_cap();
    }
    PG_END_TRY();

    /* Without the cap it would have had min(planned, own - active). */
    int own = session_value();
    if (counted && serving_caller_procno < 0) {
        int would = std::min(planned, std::max(0, own - active));
        if (*launched < would)
            stats_count_held_back(would - *launched);
    }
    return slot;
}

/*
 * In the guard worker, just before a launch of `planned` workers: the queue
 * admitted the run with room for them, but workers that were exiting then
 * may still be registered (PostgreSQL counts them until the postmaster has
 * reaped them).  Wait for them briefly rather than launch short.
 */
void wait_for_room(int want)
{
    TimestampTz start = GetCurrentTimestamp();
    for (;;) {
        int active = parallel_workers_registered();
        if (active < 0 || max_parallel_workers - active >= want ||
            TimestampDifferenceExceeds(start, GetCurrentTimestamp(), kRoomWaitMs))
            return;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1L,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

/*
 * A launch of the guard worker.  The queue admitted its run with room for
 * its target, after leaving the shares of the runs admitted before it, and
 * every run admitted later left its share: a launch of at most target
 * workers needs no cap (a cap computed now would count twice the workers an
 * earlier run registers meanwhile).  Only a plan that asks for more than
 * target is capped, to leave the earlier runs' shares.
 */
TupleTableSlot *guard_launch(PlanState *ps, ExecProcNodeMtd real, int planned,
                             const int *launched)
{
    int target = 0;
    int ahead = queue_guard_share(serving_caller_procno, &target);
    if (ahead < 0) /* not queued: launch as without the queue */
        return real(ps);
    /* The worker runs with the caller's max_parallel_workers: below target,
     * no more than that can ever be free (the queue waits for as many). */
    wait_for_room(std::min({planned, target, max_parallel_workers}));
    if (planned <= target || ahead == 0 || !guard_yield_to_reservations() || !redirected)
        return real(ps);
    return launch_capped(ps, real, ahead, planned, launched);
}

/* A Gather's or Gather Merge's call: a launch when it is not initialized. */
TupleTableSlot *capped_launch(PlanState *ps, ExecProcNodeMtd real, bool initialized, int planned,
                              const int *launched, Bitmapset *init_params)
{
    if (initialized || planned <= 0 || !ps->state->es_use_parallel_mode)
        return real(ps);
    if (serving_caller_procno >= 0)
        return guard_launch(ps, real, planned, launched);
    /* The InitPlans the launch sends first (ExecInitParallelPlan() and
     * ExecParallelReinitialize() find them evaluated, as after a rescan
     * that did not change them). */
    if (init_params != nullptr)
        ExecSetParamPlanMulti(init_params, GetPerTupleExprContext(ps->state));
    bool marked;
    int reserved = reserved_to_leave_free(InFlight::Gather, &marked);
    if (marked)
        return launch_marked({ps, real, reserved, planned, launched, nullptr});
    if (reserved <= 0)
        return real(ps);
    return launch_capped(ps, real, reserved, planned, launched);
}

TupleTableSlot *capped_gather(PlanState *ps)
{
    auto *node = castNode(GatherState, ps);
    const Gather *plan = castNode(Gather, ps->plan);
    return capped_launch(ps, gather_real, node->initialized, plan->num_workers,
                         &node->nworkers_launched, plan->initParam);
}

TupleTableSlot *capped_gather_merge(PlanState *ps)
{
    auto *node = castNode(GatherMergeState, ps);
    const GatherMerge *plan = castNode(GatherMerge, ps->plan);
    return capped_launch(ps, gather_merge_real, node->initialized, plan->num_workers,
                         &node->nworkers_launched, plan->initParam);
}

void wrap(PlanState *ps, ExecProcNodeMtd *real, ExecProcNodeMtd wrapper)
{
    if (*real == nullptr)
        *real = ps->ExecProcNodeReal;
    if (ps->ExecProcNodeReal == *real)
        ps->ExecProcNodeReal = wrapper;
}

bool wrap_launch_points(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    if (IsA(ps, GatherState))
        wrap(ps, &gather_real, capped_gather);
    else if (IsA(ps, GatherMergeState))
        wrap(ps, &gather_merge_real, capped_gather_merge);
    return planstate_tree_walker(ps, wrap_launch_points, context);
}

void reservation_executor_start(QueryDesc *qd, int eflags)
{
    if (prev_executor_start)
        prev_executor_start(qd, eflags);
    else
        standard_ExecutorStart(qd, eflags);
    /* Only plans with a Gather or Gather Merge need parallel mode. */
    if (!qd->plannedstmt->parallelModeNeeded || (eflags & EXEC_FLAG_EXPLAIN_ONLY) ||
        IsParallelWorker())
        return;
    wrap_launch_points(qd->planstate, nullptr);
}

/* Parallel index vacuuming has no planner call to catch: capped whole. */
bool launches_in_utility(const Node *stmt)
{
    return IsA(stmt, VacuumStmt) && castNode(VacuumStmt, const_cast<Node *>(stmt))->is_vacuumcmd;
}

/*
 * plan_create_index_workers() (and plan_cluster_use_sort(), which CLUSTER
 * asks first) plan a Query they make up, with no join tree: every parsed
 * query has one.  From here the build is about to launch: read the
 * reservations now, again at each build.
 */
void reservation_build_simple_rel(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
    if (prev_build_simple_rel)
        prev_build_simple_rel(root, rel, rte);
    if (rte->rtekind != RTE_RELATION || root->parse == nullptr ||
        root->parse->jointree != nullptr || root->query_level != 1 || (capping && !build_capping))
        return;
    if (build_capping)
        end_cap();
    bool marked; /* a build's mark lasts a short while (queue.cpp) */
    int reserved = reserved_to_leave_free(InFlight::Build, &marked);
    if (reserved > 0) {
        begin_cap(reserved);
        build_capping = true;
    }
}

/*
 * A build's cap ends with its utility statement, or with the (sub)transaction
 * its error aborts; at the latest with its transaction, should a build ever
 * plan outside a utility statement.
 */
void end_build_cap_at_end(XactEvent event, void *)
{
    if (build_capping && (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
                          event == XACT_EVENT_PREPARE))
        end_cap();
}

void end_build_cap_on_subabort(SubXactEvent event, SubTransactionId, SubTransactionId,
                               void *)
{
    if (event == SUBXACT_EVENT_ABORT_SUB && build_capping)
        end_cap();
}

void call_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
                          ProcessUtilityContext context, ParamListInfo params,
                          QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    if (prev_process_utility)
        prev_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

void reservation_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
                                 ProcessUtilityContext context, ParamListInfo params,
                                 QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    bool marked; /* never: the launch may come long after the statement began */
    int reserved = launches_in_utility(pstmt->utilityStmt)
                       ? reserved_to_leave_free(InFlight::Unmarked, &marked)
                       : 0;
    if (reserved <= 0) {
        call_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
        if (build_capping)
            end_cap();
        return;
    }
    begin_cap(reserved);
    PG_TRY();
    {
        call_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    }
    PG_FINALLY();
    {
        end_cap();
    }
    PG_END_TRY();
}


/*
 * Point max_parallel_workers' record at our variable (in the postmaster, at
 * preload: every backend inherits it).  Without the record, no cap at all:
 * reservations are then not enforced, and the server log says so.
 */
void redirect_max_parallel_workers()
{
    if (!find_int_setting("max_parallel_workers", &mpw_record, &mpw_setting) ||
        mpw_setting->variable != &max_parallel_workers) {
        ereport(LOG, (errmsg("parallel_guard: could not find setting \"max_parallel_workers\""),
                      errdetail("Workers reserved by guarded runs are not kept free from "
                                "ordinary queries.")));
        return;
    }
    session_max_parallel_workers = max_parallel_workers;
    prev_assign = mpw_setting->assign_hook;
    mpw_setting->assign_hook = assign_max_parallel_workers;
    mpw_setting->variable = &session_max_parallel_workers;
    redirected = true;
}

} // namespace

int session_max_parallel_workers_setting()
{
    return session_value();
}

int server_max_parallel_workers_setting()
{
    /* Set in postgresql.conf (or not at all), the session's reset value is the server's. */
    if (redirected && mpw_record->reset_source <= PGC_S_ARGV)
        return mpw_setting->reset_val;
    return -1;
}


void reservation_install_hooks()
{
    redirect_max_parallel_workers();
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = reservation_executor_start;
    prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = reservation_process_utility;
    prev_build_simple_rel = build_simple_rel_hook;
    build_simple_rel_hook = reservation_build_simple_rel;
    RegisterXactCallback(end_build_cap_at_end, nullptr);
    RegisterSubXactCallback(end_build_cap_on_subabort, nullptr);
}

void reservation_serve_caller(int caller_procno)
{
    serving_caller_procno = caller_procno;
    if (caller_procno >= 0)
        queue_worker_attached(caller_procno, MyProcPid);
}

} // namespace pg_guard
