/*
 * launcher.cpp: the caller's side of one attempt's background worker.
 *
 * The worker is a dynamic background worker (bgw_notify_pid = us, so the
 * postmaster sets our latch when it starts and stops).  It is never left
 * behind: the segment is created without dsm_pin_mapping, so our resource
 * owner detaches it when we error out, and the detach callback terminates
 * the worker; proc_exit detaches it too, so a terminated caller takes its
 * worker along.  Workers are stopped only with TerminateBackgroundWorker or
 * a query cancel, never SIGKILL (that would restart the whole server).
 */
#include "launcher.hpp"

#include <csignal>

namespace pg_guard {

namespace {


/* Cancel the worker's running statement; the pid is current while the slot says so. */
void cancel_statement(WorkerRun *w)
{
    pid_t pid;
    if (!w->exited && GetBackgroundWorkerPid(w->handle, &pid) == BGWH_STARTED)
        kill(pid, SIGINT);
}

void terminate_on_detach(dsm_segment *, Datum arg)
{
    auto *w = reinterpret_cast<WorkerRun *>(DatumGetPointer(arg));
    if (!w->exited && w->handle)
        TerminateBackgroundWorker(w->handle);
}

dsm_segment *create_segment(const RunSpec &spec, GuardShared **shared_out, LaunchSite **sites_out,
                            shm_mq **mq_out)
{
    const char *sql = spec.sql;
    Size sql_len = strlen(sql) + 1;
    Size guc_len = EstimateGUCStateSpace();
    Size library_len = EstimateLibraryStateSpace();
    shm_toc_estimator e;

    shm_toc_initialize_estimator(&e);
    Size sites_len = sizeof(LaunchSite) * static_cast<Size>(spec.max_sites);
    shm_toc_estimate_chunk(&e, sizeof(GuardShared));
    shm_toc_estimate_chunk(&e, sites_len);
    shm_toc_estimate_chunk(&e, sql_len);
    shm_toc_estimate_chunk(&e, guc_len);
    shm_toc_estimate_chunk(&e, library_len);
    shm_toc_estimate_chunk(&e, kQueueSize);
    shm_toc_estimate_keys(&e, 6);

    dsm_segment *seg = dsm_create(shm_toc_estimate(&e), 0);
    shm_toc *toc = shm_toc_create(kTocMagic, dsm_segment_address(seg), shm_toc_estimate(&e));

    auto *s = static_cast<GuardShared *>(shm_toc_allocate(toc, sizeof(GuardShared)));
    memset(s, 0, sizeof(*s));
    SpinLockInit(&s->mutex);
    s->database_id = MyDatabaseId;
    s->authenticated_user_id = GetAuthenticatedUserId();
    s->outer_user_id = GetCurrentRoleId();
    GetUserIdAndSecContext(&s->current_user_id, &s->sec_context);
    s->caller_procno = MyProcNumber;
    s->per_gather = spec.per_gather;
    s->maintenance = spec.maintenance;
    s->target = spec.target;
    s->max_sites = spec.max_sites;
    s->worker_procno = -1;
    s->state = WorkerState::Starting;
    s->decision = Decision::Pending;
    shm_toc_insert(toc, kKeyShared, s);

    auto *sites = static_cast<LaunchSite *>(shm_toc_allocate(toc, sites_len));
    memset(sites, 0, sites_len);
    shm_toc_insert(toc, kKeySites, sites);

    char *sql_copy = static_cast<char *>(shm_toc_allocate(toc, sql_len));
    memcpy(sql_copy, sql, sql_len);
    shm_toc_insert(toc, kKeySql, sql_copy);

    char *guc = static_cast<char *>(shm_toc_allocate(toc, guc_len));
    SerializeGUCState(guc_len, guc);
    shm_toc_insert(toc, kKeyGuc, guc);

    /* The libraries this session loaded (LOAD, session_preload_libraries),
     * loaded in the worker too, as parallel workers do. */
    char *libraries = static_cast<char *>(shm_toc_allocate(toc, library_len));
    SerializeLibraryState(library_len, libraries);
    shm_toc_insert(toc, kKeyLibraries, libraries);

    shm_mq *mq = shm_mq_create(shm_toc_allocate(toc, kQueueSize), kQueueSize);
    shm_toc_insert(toc, kKeyQueue, mq);
    shm_mq_set_receiver(mq, MyProc);

    *shared_out = s;
    *sites_out = sites;
    *mq_out = mq;
    return seg;
}

BackgroundWorkerHandle *register_worker(dsm_segment *seg)
{
    BackgroundWorker bgw;
    BackgroundWorkerHandle *handle;

    memset(&bgw, 0, sizeof(bgw));
    bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    bgw.bgw_start_time = BgWorkerStart_ConsistentState;
    bgw.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(bgw.bgw_library_name, "parallel_guard", BGW_MAXLEN);
    strlcpy(bgw.bgw_function_name, "parallel_guard_worker_main", BGW_MAXLEN);
    snprintf(bgw.bgw_name, BGW_MAXLEN, "parallel_guard worker for PID %d", MyProcPid);
    strlcpy(bgw.bgw_type, "parallel_guard", BGW_MAXLEN);
    bgw.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
    bgw.bgw_notify_pid = MyProcPid;

    if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
                 errmsg("could not start a background worker for parallel_guard.run()"),
                 errdetail_plural("The %d background worker slot (\"max_worker_processes\") is "
                                  "in use.",
                                  "All %d background worker slots (\"max_worker_processes\") "
                                  "are in use.",
                                  max_worker_processes, max_worker_processes),
                 errhint("Raise \"max_worker_processes\", or run the statement when fewer "
                         "background workers are active.")));
    return handle;
}

} // namespace

WorkerRun *launch_worker(const RunSpec &spec)
{
    MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
    auto *w = static_cast<WorkerRun *>(palloc0(sizeof(WorkerRun)));
    shm_mq *mq;

    w->seg = create_segment(spec, &w->shared, &w->sites, &mq);
    w->mqh = shm_mq_attach(mq, w->seg, nullptr);
    on_dsm_detach(w->seg, terminate_on_detach, PointerGetDatum(w));
    w->handle = register_worker(w->seg);
    MemoryContextSwitchTo(old);

    /* Let shm_mq notice a worker that dies before attaching to the queue. */
    shm_mq_set_handle(w->mqh, w->handle);

    switch (WaitForBackgroundWorkerStartup(w->handle, &w->pid)) {
    case BGWH_STARTED: break;
    case BGWH_STOPPED: /* already gone; the watcher reads why */ w->exited = true; break;
    case BGWH_POSTMASTER_DIED:
        ereport(FATAL, (errcode(ERRCODE_ADMIN_SHUTDOWN),
                        errmsg("postmaster exited during parallel_guard.run()")));
        break;
    case BGWH_NOT_YET_STARTED:
        elog(ERROR, "background worker of parallel_guard not started after startup wait");
    }
    return w;
}

void drain_worker_messages(WorkerRun *w)
{
    for (;;) {
        Size nbytes;
        void *data;
        if (shm_mq_receive(w->mqh, &nbytes, &data, true) != SHM_MQ_SUCCESS)
            return; /* nothing more now, or the worker detached */

        StringInfoData msg;
        initStringInfo(&msg);
        appendBinaryStringInfo(&msg, static_cast<const char *>(data), static_cast<int>(nbytes));
        char type = static_cast<char>(pq_getmsgbyte(&msg));
        if (type == 'E' || type == 'N') {
            auto *edata = static_cast<ErrorData *>(palloc0(sizeof(ErrorData)));
            pq_parse_errornotice(&msg, edata);
            if (edata->elevel >= ERROR) {
                if (w->error == nullptr)
                    w->error = edata;
            } else if (!w->abort_requested)
                ThrowErrorData(edata); /* the statement's own NOTICE/WARNING */
        }
        pfree(msg.data);
    }
}

bool worker_stopped(WorkerRun *w)
{
    pid_t pid;
    if (!w->exited && GetBackgroundWorkerPid(w->handle, &pid) == BGWH_STOPPED)
        w->exited = true;
    return w->exited;
}

void request_commit(WorkerRun *w)
{
    SpinLockAcquire(&w->shared->mutex);
    w->shared->decision = Decision::Commit;
    int procno = w->shared->worker_procno;
    SpinLockRelease(&w->shared->mutex);
    wake_proc(procno);
}

void request_abort(WorkerRun *w)
{
    SpinLockAcquire(&w->shared->mutex);
    w->shared->decision = Decision::Abort;
    int procno = w->shared->worker_procno;
    SpinLockRelease(&w->shared->mutex);
    w->abort_requested = true;
    wake_proc(procno);

    cancel_statement(w);
}

void pass_interrupt_on(WorkerRun *w, bool terminate)
{
    if (!terminate)
        cancel_statement(w);
    else if (!w->exited)
        TerminateBackgroundWorker(w->handle);
}

void stop_worker_quietly(WorkerRun *w)
{
    if (w == nullptr || w->exited || w->handle == nullptr)
        return;
    TerminateBackgroundWorker(w->handle);
    TimestampTz start = GetCurrentTimestamp();
    while (!worker_stopped(w) &&
           !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), 10 * 1000)) {
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
    }
}

void release_worker(WorkerRun *w)
{
    cancel_on_dsm_detach(w->seg, terminate_on_detach, PointerGetDatum(w));
    dsm_detach(w->seg);
    w->seg = nullptr;
}

} // namespace pg_guard
