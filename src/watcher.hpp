/*
 * watcher.hpp: watch one attempt's parallel group and decide its verdict.
 */
#pragma once

#include "attempt.hpp"
#include "launcher.hpp"

namespace pg_guard {

/* The verdict for an attempt whose workers are counted as `count`. */
Verdict decide(const RunSpec &spec, int number, int planned, int count);

/*
 * Watch the attempt until its worker has exited: decide as soon as the
 * launch is known, tell the worker to commit or roll back, and record the
 * attempt in rec.  start is when the attempt began (before its worker was
 * registered).  Each verdict is reported (NOTICE and LOG) when made.
 */
void watch_attempt(WorkerRun *w, const RunSpec &spec, AttemptRecord *rec, TimestampTz start);

} // namespace pg_guard
