/*
 * messages.hpp: the text of parallel_guard's NOTICE, LOG and ERROR reports.
 */
#pragma once

#include "attempt.hpp"

namespace pg_guard {

const char *verdict_name(Verdict v);

/* What report_attempt() sends. */
enum class AttemptReport {
    Verdict, /* NOTICE to the client: the attempt's first verdict */
    Revised, /* NOTICE: a later launch changed the verdict */
    Log      /* one LOG line for the server log, with each of the above */
};

void report_attempt(const RunSpec &spec, const AttemptRecord &rec, AttemptReport what);

/* One LOG line for the whole run when it ends (committed or failed). */
void report_run(const RunSpec &spec, const AttemptRecord *recs, int n, double total_ms);

/* "Attempt 1 of 3: planned 4, launched 2. ..." for an ERROR's DETAIL. */
char *attempts_detail(const RunSpec &spec, const AttemptRecord *recs, int n);

/* "2 s", "250 ms": a delay as people write it. */
char *delay_text(long ms);

} // namespace pg_guard
