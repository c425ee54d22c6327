/*
 * stats.hpp: cumulative statistics per database and role, readable as the
 * view parallel_guard.stats and cleared by parallel_guard.stats_reset().
 *
 * Kept in shared memory reserved at server start (needs parallel_guard in
 * shared_preload_libraries; empty otherwise), like pg_stat_statements'
 * counters, and saved under pg_stat/ with the history (persist.cpp): they
 * survive restarts and crashes, until a reset.
 */
#pragma once

#include "attempt.hpp"
#include "history.hpp"

namespace pg_guard {

/* Shared memory, reserved and set up by module.cpp's hooks (the third lock
 * of tranche "parallel_guard"). */
Size stats_shmem_size();
void stats_shmem_init();

/* A guarded run has ended: its verdict, attempts, short attempts and time
 * queued, for this session's database and current role. */
void stats_record_run(const AttemptRecord *recs, int n, RunOutcome outcome, int sqlstate);

/* An ordinary launch of this session got `workers` fewer parallel workers
 * than it would have had without the reservations. */
void stats_count_held_back(int workers);

} // namespace pg_guard
