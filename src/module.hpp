/*
 * module.hpp: module-wide settings (parallel_guard.* GUCs).
 */
#pragma once

namespace pg_guard {

/* parallel_guard.settle_time: how long fewer lock group members than the
 * goal are waited for when the exact launched count is not yet known. */
long guard_settle_time_ms();

/* parallel_guard.queue_timeout: the longest a run waits in the queue, in
 * all, before launching attempts regardless. */
long guard_queue_timeout_ms();

/* parallel_guard.yield_to_reservations: ordinary launches leave reserved
 * workers free. */
bool guard_yield_to_reservations();

/* parallel_guard.max_reserved_workers: -1 for max_parallel_workers. */
int guard_max_reserved_workers();

/* parallel_guard.priority: this session's priority in the queue (-100..100). */
int guard_priority();

/* parallel_guard.priority_aging: a waiting run's priority rises by one per
 * this many milliseconds since it joined the queue; 0: no aging. */
long guard_priority_aging_ms();

/* parallel_guard.history_size: runs kept in the history (server start). */
int guard_history_size();

/* parallel_guard.history_statement_size: bytes of a statement's text kept
 * in the history (server start). */
int guard_history_statement_size();

/* parallel_guard.history_max_age, in seconds: 0 keeps entries of any age. */
int guard_history_max_age_s();

/* parallel_guard.history_journal: each finished run is appended to the
 * journal, so that a crash keeps it. */
bool guard_history_journal();

/* parallel_guard.target: 0, or the target of every statement guarded as written. */
int guard_target();

/* parallel_guard.min as it applies to that target: left at its default (2),
 * never above the target. */
int guard_min(int target);

/* parallel_guard.retries: attempts in all. */
int guard_retries();

/* parallel_guard.delay, in milliseconds. */
long guard_delay_ms();

/* Raise ERROR 55000 unless the library was loaded at server start (its
 * shared memory: the queue, the history, the stats); `what` names the
 * function that needs it. */
void require_shared_memory(const char *what);

} // namespace pg_guard
