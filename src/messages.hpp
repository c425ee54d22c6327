/*
 * messages.hpp: the text of parallel_guard's NOTICE, LOG and ERROR reports.
 */
#pragma once

#include "attempt.hpp"
#include "history.hpp"

namespace pg_guard {

/* An attempt's verdict: met, plan_limited, short, accepted_short, below_min,
 * plan_too_small, not_run, failed (pending while undecided). */
const char *verdict_name(Verdict v);

/*
 * A run's verdict, the one list that run()'s result, the history, the stats
 * (runs_<verdict>), the LOG lines and the Prometheus metrics use: met,
 * plan_limited, accepted_short, not_run (committed); below_min,
 * plan_too_small (shortfalls); error, cancelled (errors; 57014 is
 * cancelled); not_guarded (guarded as written, run as the plain statement).
 */
const char *run_verdict_name(RunOutcome outcome, Verdict last, int sqlstate);

/* What report_attempt() sends. */
enum class AttemptReport {
    Verdict, /* NOTICE to the client: the attempt's first verdict */
    Revised, /* NOTICE: a later launch changed the verdict */
    Log      /* one LOG line for the server log, with each of the above */
};

void report_attempt(const RunSpec &spec, const AttemptRecord &rec, AttemptReport what);

/* One LOG line for the whole run when it ends (committed or short), with
 * the history's run_id (0: none kept). */
void report_run(const RunSpec &spec, const AttemptRecord *recs, int n, double total_ms,
                uint64 run_id);

/* "Attempt 1 of 3: planned 4, launched 2. ..." for an ERROR's DETAIL. */
char *attempts_detail(const RunSpec &spec, const AttemptRecord *recs, int n);

/* "2 s", "250 ms": a delay as people write it. */
char *delay_text(long ms);

} // namespace pg_guard
