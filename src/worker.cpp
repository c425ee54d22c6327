/*
 * worker.cpp: the background worker that runs one attempt of run().
 *
 * It connects as the caller's login role to the caller's database, loads
 * the libraries the caller had loaded, restores the caller's settings and
 * current user, runs the statement, and then keeps its transaction open
 * until the caller decides: commit (every launch had its workers) or roll
 * back (short).  A short attempt is therefore never visible to anyone and
 * never needs a DROP.  While the statement runs, every launch of parallel
 * workers is published to the caller in the attempt's segment
 * (launch_sites.cpp).
 */
#include "worker.hpp"

#include "attempt_segment.hpp"
#include "boundary.hpp"
#include "launch_sites.hpp"
#include "reservation.hpp"
#include "statement.hpp"

namespace pg_guard {

namespace {

GuardShared *shared = nullptr;
LaunchSite *sites = nullptr; /* the segment's, shared->max_sites of them */

/* ---- the attempt ---- */

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
    GuardedStatement st = parse_guarded_statement(sql);
    List *queries = pg_analyze_and_rewrite_fixedparams(st.raw, sql, nullptr, 0, nullptr);
    List *plans = pg_plan_queries(queries, sql, CURSOR_OPT_PARALLEL_OK, nullptr);
    PlannedStmt *pstmt = linitial_node(PlannedStmt, plans);
    QueryCompletion qc;

    /* For the history: the query id PostgreSQL computed in parse analysis
     * (compute_query_id, the caller's setting), 0 when none. */
    SpinLockAcquire(&shared->mutex);
    shared->query_id = pstmt->queryId;
    SpinLockRelease(&shared->mutex);

    InitializeQueryCompletion(&qc);
    launch_sites_begin(shared, sites, st.kind, nullptr, nullptr);
    ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_TOPLEVEL, nullptr, nullptr, None_Receiver,
                   &qc);
    launch_sites_end();
    return qc.nprocessed;
}

/* Libraries first (they define custom settings), then the settings. */
void restore_caller_context(shm_toc *toc)
{
    StartTransactionCommand();
    RestoreLibraryState(static_cast<char *>(shm_toc_lookup(toc, kKeyLibraries, false)));
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

/* Attach the segment, connect, and route messages to the caller. */
const char *attach_and_connect(Datum main_arg, shm_toc **toc_out)
{
    dsm_segment *seg = dsm_attach(DatumGetUInt32(main_arg));
    if (seg == nullptr)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("could not map dynamic shared memory segment"),
                 errdetail("The attempt that started this background worker has already ended.")));
    shm_toc *toc = shm_toc_attach(kTocMagic, dsm_segment_address(seg));
    if (toc == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg_internal("dynamic shared memory segment of this background worker "
                                        "was not made by parallel_guard")));
    shared = static_cast<GuardShared *>(shm_toc_lookup(toc, kKeyShared, false));
    sites = static_cast<LaunchSite *>(shm_toc_lookup(toc, kKeySites, false));
    reservation_serve_caller(shared->caller_procno); /* its own run's reservation is its own */

    /* From here on, notices and errors travel to the caller. */
    auto *mq = static_cast<shm_mq *>(shm_toc_lookup(toc, kKeyQueue, false));
    shm_mq_set_sender(mq, MyProc);
    pq_redirect_to_shm_mq(seg, shm_mq_attach(mq, seg, nullptr));

    BackgroundWorkerInitializeConnectionByOid(shared->database_id, shared->authenticated_user_id,
                                              0);
    SetClientEncoding(GetDatabaseEncoding()); /* what the caller expects to parse */

    SpinLockAcquire(&shared->mutex);
    shared->worker_procno = MyProcNumber;
    shared->state = WorkerState::Running;
    SpinLockRelease(&shared->mutex);
    wake_proc(shared->caller_procno);

    *toc_out = toc;
    return static_cast<const char *>(shm_toc_lookup(toc, kKeySql, false));
}

/* Run the statement, then commit or roll back on the caller's word. */
void run_attempt(shm_toc *toc, const char *sql)
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

void report_failure()
{
    launch_sites_end();
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

} // namespace

} // namespace pg_guard

using namespace pg_guard;

/*
 * Entry point.  A C-linkage frame: the C++ work runs behind cpp_call(), so
 * no exception reaches PostgreSQL, and the PG_TRY here only ever sees
 * PostgreSQL errors.
 */
void parallel_guard_worker_main(Datum main_arg)
{
    pqsignal(SIGTERM, die);
    BackgroundWorkerUnblockSignals();

    shm_toc *toc = nullptr;
    const char *sql = cpp_call([&] { return attach_and_connect(main_arg, &toc); });

    PG_TRY();
    {
        cpp_call([&] { run_attempt(toc, sql); });
    }
    PG_CATCH();
    {
        cpp_call([] { report_failure(); });
    }
    PG_END_TRY();

    pgstat_report_activity(STATE_IDLE, nullptr);
}

