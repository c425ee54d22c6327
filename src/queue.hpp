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
 * reduced by the time spent.  Then mark the run as launching.  Returns true
 * when room was seen, false when the budget ran out (launch anyway).
 */
bool queue_wait_turn(const RunSpec &spec, int attempt, long *budget_ms);

/* The attempt's verdict is made: its workers are visible now.  worker_procno
 * is the guard worker's, for the queue view; short = back to waiting. */
void queue_attempt_decided(int worker_procno, bool short_attempt, int launched);

/* Leave the queue (idempotent; also done at process exit). */
void queue_leave();

} // namespace pg_guard
