/*
 * watcher.hpp: watch one attempt's launches of parallel workers and decide
 * its verdict.
 */
#pragma once

#include "attempt.hpp"
#include "launcher.hpp"

namespace pg_guard {

/*
 * Watch the attempt until its worker has exited: decide as soon as a
 * launch is known, revise the verdict when a later launch of the statement
 * comes up short, tell the worker to commit (only when the statement is
 * done and every launch was good) or roll back, and record the attempt in
 * rec.  start is when the attempt began (before its worker was registered).
 * Each verdict is reported by NOTICE and LOG line when made, and again when
 * a later launch revises it.
 */
void watch_attempt(WorkerRun *w, const RunSpec &spec, AttemptRecord *rec, TimestampTz start);

/*
 * Once a worker has committed, the calling statement's effect is done: a
 * cancel (or statement_timeout) that comes later is too late, as after a
 * plain statement, and must not fail the call nor the statement that returns
 * its row.  watch_attempt() holds cancels from that commit on; they are
 * released, and a cancel that came meanwhile dropped, when the calling
 * query's memory context goes (the query ended, or the (sub)transaction its
 * error aborted).  Call at the start of each call with that context; a
 * second call in the same statement releases the first one's hold (its own
 * wait must stay cancellable).
 */
void release_late_cancels_with(MemoryContext query_cxt);

/*
 * A statement guarded as written runs in the caller's own process, which
 * publishes its launches into its own memory (launch_sites.hpp) and judges
 * them there, with the same counts and verdicts as watch_attempt():
 *  - inline_watch_begin() before the statement, with the sites it publishes to;
 *  - inline_watch_look() after each published change (and once with the
 *    statement done, shared->state Executed); when the verdict rolls the
 *    attempt back and may_raise, it raises an ERROR (SQLSTATE 53000) that
 *    ends the statement, to be caught where the attempt's subtransaction
 *    is rolled back;
 *  - inline_watch_failed() when the statement raised an error of its own;
 *  - inline_watch_end() always: stops the build sampler, completes rec.
 */
struct InlineWatch;
InlineWatch *inline_watch_begin(const RunSpec &spec, AttemptRecord *rec, TimestampTz start,
                                GuardShared *shared, LaunchSite *sites);
void inline_watch_look(InlineWatch *iw, bool may_raise);
bool inline_watch_rolls_back(const InlineWatch *iw);
void inline_watch_failed(InlineWatch *iw);
void inline_watch_end(InlineWatch *iw);

} // namespace pg_guard
