/*
 * queue.hpp: the cluster-wide first-come, first-served queue of guarded runs.
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

/* Enter the queue for this call; its place (ticket) is kept until it leaves. */
void queue_join(const RunSpec &spec);

/*
 * Before attempt `attempt`: wait, as the earliest waiting run, until the
 * pool has room for target parallel workers (and a worker slot for the
 * guard's own worker), spending at most *budget_ms of waiting, which is
 * reduced by the time spent.  As the earliest waiting run it reserves its
 * target at once, so that ordinary launches leave those workers free.
 * Then mark the run as launching (it keeps its reservation until the
 * verdict).  Returns true when room was seen, false when the budget ran out
 * (launch anyway).
 */
bool queue_wait_turn(const RunSpec &spec, int attempt, long *budget_ms);

/* The attempt's verdict is made: its workers are registered now, and its
 * reservation is released.  worker_procno is the guard worker's, for the
 * queue view; a short run waits out its delay out of line and comes back to
 * waiting, with its ticket, at its next queue_wait_turn(). */
void queue_attempt_decided(int worker_procno, bool short_attempt, int launched);

/* Leave the queue (idempotent; also done at process exit). */
void queue_leave();

/* Parallel workers guarded runs have reserved now, all of them (one atomic
 * read: what an ordinary launch must leave free). */
uint32 queue_reserved_total();

/*
 * What the launch of the guard worker serving the caller with this pgprocno
 * must leave free: the reservations of the runs that went launching before
 * it (its own and those of runs behind it were counted after its room).
 * When that caller has no launching run, the total, as for any launch.
 */
int queue_reserved_ahead_of(int caller_procno);

} // namespace pg_guard
