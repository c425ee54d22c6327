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

} // namespace pg_guard
