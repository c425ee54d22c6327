/*
 * history.hpp: the outcome of recent guarded runs, kept in shared memory.
 *
 * A ring of parallel_guard.history_size entries reserved at server start
 * (needs parallel_guard in shared_preload_libraries); each run writes one
 * entry when it ends, so nothing is written to tables on the hot path.  The
 * entry is also appended to a journal file, and the ring is saved at
 * shutdown, so the history survives restarts and crashes (persist.hpp).
 */
#pragma once

#include "attempt.hpp"

namespace pg_guard {

/* Shared memory, reserved and set up by module.cpp's hooks (the second lock
 * of tranche "parallel_guard"). */
Size history_shmem_size();
void history_shmem_init();

/* How a run ended. */
enum class RunOutcome : int {
    Committed = 0,
    Shortfall,
    Error,
    NotGuarded /* guarded as written, but run as the plain statement (CREATE INDEX CONCURRENTLY) */
};

/* Record a finished run; sqlstate is the error's code for Error, else 0.
 * Returns the run_id given to it, 0 without the history's shared memory.
 * Never raises an ERROR for a record it could not write to disk. */
uint64 history_record(const RunSpec &spec, const AttemptRecord *recs, int n, TimestampTz started,
                    RunOutcome outcome, int sqlstate);

} // namespace pg_guard
