/*
 * queue.hpp: the cluster-wide queue of guarded runs: highest effective
 * priority first (parallel_guard.priority, aged by parallel_guard.
 * priority_aging), first come, first served within one (queue.cpp).
 *
 * Needs parallel_guard in shared_preload_libraries (its shared memory is
 * reserved at server start); without it every function here does nothing
 * and runs do not queue.
 */
#pragma once

#include "attempt.hpp"

namespace pg_guard {

/* Shared memory, reserved and set up by module.cpp's hooks (lock tranche
 * "parallel_guard"). */
Size queue_shmem_size();
void queue_shmem_init();

bool queue_available();

/* Enter the queue for this call with the session's parallel_guard.priority;
 * its place (ticket) and priority are kept until it leaves. */
void queue_join(const RunSpec &spec);

/*
 * Before attempt `attempt`: wait, as the first waiting run, until the
 * pool has room for target parallel workers (and a worker slot for the
 * guard's own worker), spending at most *budget_ms of waiting, which is
 * reduced by the time spent.  As the first waiting run it reserves its
 * target at once, so that ordinary launches leave those workers free.
 * Then mark the run as launching (it keeps its reservation until the
 * verdict).  Returns true when room was seen, false when the budget ran out
 * (launch anyway).
 */
bool queue_wait_turn(const RunSpec &spec, int attempt, long *budget_ms);

/*
 * In the guard worker, before it launches anything: it serves the caller
 * with this pgprocno; its parallel workers' registrations (their
 * bgw_notify_pid is worker_pid) count against that run's reservation.  Set
 * by the worker itself, so that no registration of its can be counted twice
 * (as registered and as still reserved) while its caller is not yet told.
 */
void queue_worker_attached(int caller_procno, pid_t worker_pid);

/* The attempt's verdict is made.  worker_procno is the guard worker's, for
 * the queue view.  Short: the reservation is released, and the run waits
 * out its delay out of line, coming back to waiting, with its ticket, at its
 * next queue_wait_turn().  Otherwise the run keeps `launched` workers
 * reserved for the statement's later launches, until
 * queue_statement_finished(); what its registered workers cover holds
 * nothing back. */
void queue_attempt_decided(int worker_procno, bool short_attempt, int launched);

/* The attempt's statement has finished: no launch is to come (idempotent). */
void queue_statement_finished();

/* Leave the queue (idempotent; also done at process exit). */
void queue_leave();

/* A hint for the fast path: 0 when no guarded run reserves anything (one
 * atomic read). */
uint32 queue_reserved_total();

/*
 * An ordinary launch begins: called before queue_reserved_total() is read
 * (one clock read and one atomic exchange).  A Gather's launch calls
 * queue_launch_registered() once its workers are registered; an index
 * build's (build = true) counts as in flight for a short while.  Returns
 * whether it marked the launch (not within another Gather's launch).
 */
bool queue_launch_begins(bool build);
void queue_launch_registered();

/* What every reservation holds back from an ordinary launch now (reserved
 * minus what its run has registered already). */
int queue_reserved_now();

/*
 * For the guard worker serving the caller with this pgprocno: the caller's
 * target into *target, and what the runs admitted before it will still
 * take; -1 when that caller has no admitted run.
 */
int queue_guard_share(int caller_procno, int *target);

} // namespace pg_guard
