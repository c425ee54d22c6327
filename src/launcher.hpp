/*
 * launcher.hpp: start, steer and stop the background worker of one attempt.
 */
#pragma once

#include "pg.hpp"
#include "attempt.hpp"
#include "attempt_segment.hpp"

namespace pg_guard {

/* One attempt's worker as the caller sees it; lives in TopTransactionContext. */
struct WorkerRun {
    dsm_segment *seg;
    GuardShared *shared;
    LaunchSite *sites; /* shared->max_sites of them, in the segment */
    shm_mq_handle *mqh;
    BackgroundWorkerHandle *handle;
    pid_t pid;
    bool exited;          /* the postmaster reported the worker gone */
    bool abort_requested; /* we asked for a rollback */
    ErrorData *error;     /* first ERROR/FATAL the worker sent, if any */
};

/*
 * Create the attempt's segment (SQL, the caller's GUC state and identity),
 * register the worker and wait until it has started.  If the caller errors out or exits, the
 * segment's detach callback terminates the worker.
 */
WorkerRun *launch_worker(const RunSpec &spec);

/* Relay the worker's notices to our client; keep its first error. */
void drain_worker_messages(WorkerRun *w);

/* True once the postmaster has reported the worker stopped. */
bool worker_stopped(WorkerRun *w);

void request_commit(WorkerRun *w);
/* Ask for a rollback: set the decision and cancel the worker's statement. */
void request_abort(WorkerRun *w);
/* Give the worker an interrupt: a query cancel, or terminate (TerminateBackgroundWorker). */
void pass_interrupt_on(WorkerRun *w, bool terminate);

/* For error cleanup, with interrupts held: terminate and wait, bounded. */
void stop_worker_quietly(WorkerRun *w);

/* Detach the segment of an exited worker. */
void release_worker(WorkerRun *w);

} // namespace pg_guard
