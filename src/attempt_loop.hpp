/*
 * attempt_loop.hpp: the attempts of one guarded statement, from the queue to
 * the last verdict, whoever runs the statement: the guard's background
 * worker (run()) or the caller itself in a subtransaction (a statement
 * guarded as written).  Only the runner differs.
 */
#pragma once

#include "attempt.hpp"

namespace pg_guard {

/* The attempts made so far, grown as needed (retries may be large). */
struct AttemptLog {
    AttemptRecord *recs;
    int n;
    int capacity;
    uint64 run_id; /* the history's run_id once recorded; 0 none */
};

/* Who runs each attempt. */
struct AttemptRunner {
    /*
     * Run one attempt to its verdict and record it in rec (a short one is
     * rolled back, a good one committed, or released into the caller's
     * transaction).  The statement's own error is raised after the attempt
     * is rolled back, with rec->verdict Failed.
     */
    void (*attempt)(void *arg, const RunSpec &spec, AttemptRecord *rec, TimestampTz start);
    /* An error leaves the loop: stop whatever the attempt left running
     * (called with interrupts held and LWLocks released). */
    void (*abandon)(void *arg);
    void *arg;
};

/*
 * Settings that make target impossible or unlikely, said before any
 * attempt.  own_slots: worker slots the run takes besides the parallel
 * workers (run()'s worker: 1).
 */
void check_guard_settings(const RunSpec &spec, int own_slots);

/*
 * Queue, attempt, wait `delay`, retry; report the run (LOG), record it in
 * the history and the stats; raise SQLSTATE 53000 listing every attempt
 * when the last one is short (55000 when the plan asks for fewer than min:
 * waiting cannot help).  Returns the log (the last record decides).
 */
AttemptLog guard_attempts(const RunSpec &spec, const AttemptRunner &runner);

/* Wait ms milliseconds on the latch; cancels and timeouts reach us. */
void sleep_ms(long ms);

} // namespace pg_guard
