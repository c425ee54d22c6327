/*
 * history.hpp: the outcome of recent guarded runs, kept in shared memory.
 *
 * A ring of parallel_guard.history_size entries reserved at server start
 * (needs parallel_guard in shared_preload_libraries); each run writes one
 * entry when it ends, so nothing is written to tables on the hot path.
 */
#pragma once

#include "attempt.hpp"

namespace pg_guard {

void history_preload_init();

/* How a run ended. */
enum class RunOutcome : int { Committed = 0, Shortfall, Error };

/* Record a finished run; sqlstate is the error's code for Error, else 0. */
void history_record(const RunSpec &spec, const AttemptRecord *recs, int n, TimestampTz started,
                    RunOutcome outcome, int sqlstate);

} // namespace pg_guard
