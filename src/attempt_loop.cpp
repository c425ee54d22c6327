/*
 * attempt_loop.cpp: the attempts of one guarded statement (see the header).
 *
 *   for attempt 1 .. retries:                 (retries counts every attempt)
 *       wait `delay` (not before the first)
 *       wait for the queue's turn, reserving target workers
 *       the runner runs the attempt to its verdict (watcher.cpp judges)
 *   report, record, or raise SQLSTATE 53000 listing every attempt
 *
 * If anything raises an error here (a cancel, statement_timeout, the
 * statement's own error), the runner stops what it started and the queue is
 * left before the error leaves this function.
 */
#include "attempt_loop.hpp"

#include "history.hpp"
#include "messages.hpp"
#include "module.hpp"
#include "queue.hpp"
#include "stats.hpp"
#include "wait_events.hpp"

#include <algorithm>

namespace pg_guard {

namespace {

AttemptRecord *next_record(AttemptLog *log)
{
    if (log->n == log->capacity) {
        log->capacity *= 2;
        log->recs = static_cast<AttemptRecord *>(
            repalloc(log->recs, sizeof(AttemptRecord) * static_cast<Size>(log->capacity)));
    }
    AttemptRecord *rec = &log->recs[log->n++];
    memset(rec, 0, sizeof(*rec));
    rec->number = log->n;
    return rec;
}

/* Settings that make target impossible or unlikely, said before any attempt. */
void check_settings_here(const RunSpec &spec, int own_slots)
{
    /*
     * Our own worker takes one slot; a caller that is itself a background
     * worker (a pg_cron job in its background-worker mode) holds another.
     */
    bool caller_is_bgworker = MyBgworkerEntry != nullptr;
    int room = max_worker_processes - own_slots - (caller_is_bgworker ? 1 : 0);
    if (spec.target > room)
        ereport(
            ERROR,
            (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
             errmsg("target %d can never be reached on this server", spec.target),
             caller_is_bgworker
                 ? errdetail("\"max_worker_processes\" is %d; this caller is itself a background "
                             "worker (%s) holding one slot and parallel_guard's own "
                             "background worker takes another, which leaves at most %d for "
                             "parallel workers.",
                             max_worker_processes, MyBgworkerEntry->bgw_type, room)
                 : errdetail("\"max_worker_processes\" is %d and parallel_guard's own background "
                             "worker takes one slot, which leaves at most %d for parallel "
                             "workers.",
                             max_worker_processes, room),
             errhint("Lower target, or raise \"max_worker_processes\" (this needs a "
                     "restart).")));
    static bool said_no_queue = false;
    if (!queue_available() && !said_no_queue) {
        said_no_queue = true;
        ereport(LOG_SERVER_ONLY,
                (errmsg("parallel_guard: guarded runs do not queue for parallel workers"),
                 errdetail("The library is not in \"shared_preload_libraries\"."),
                 errhint("Add parallel_guard to \"shared_preload_libraries\" and restart the "
                         "server to have concurrent guarded runs served first come, first "
                         "served.")));
    }
    if (max_parallel_workers < spec.target)
        ereport(NOTICE,
                (errmsg("parallel_guard: \"max_parallel_workers\" is %d in this session, below "
                        "target %d",
                        max_parallel_workers, spec.target),
                 errdetail_plural("No attempt can launch more than %d parallel worker.",
                                  "No attempt can launch more than %d parallel workers.",
                                  max_parallel_workers, max_parallel_workers)));
}

/* The SQLSTATE of a run whose last attempt is short: 53000 when waiting
 * for free workers may help, 55000 when the plan itself asks for too few. */
int shortfall_sqlstate(Verdict last)
{
    return last == Verdict::PlanTooSmall ? ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
                                         : ERRCODE_INSUFFICIENT_RESOURCES;
}

[[noreturn]] void raise_shortfall(const RunSpec &spec, const AttemptLog &log)
{
    const AttemptRecord &last = log.recs[log.n - 1];
    char *detail = attempts_detail(spec, log.recs, log.n);

    /* Permanent: no retry, now or later, gets more workers than the plan
     * asks for.  Not 53000, which clients take for "try again later". */
    if (last.verdict == Verdict::PlanTooSmall)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg_plural("the plan asks for %d parallel worker, fewer than min %d",
                               "the plan asks for %d parallel workers, fewer than min %d",
                               last.planned, last.planned, spec.min),
                 errdetail("%s Retrying cannot change the plan, so no further attempt was made; "
                           "nothing was committed.",
                           detail),
                 spec.as_written
                     ? errhint("Run parallel_guard.explain() to see the workers each launch of "
                               "the plan asks for. Set the table's parallel_workers storage "
                               "parameter (ALTER TABLE ... SET (parallel_workers = N)) or lower "
                               "\"min_parallel_table_scan_size\" for more; functions must be "
                               "PARALLEL SAFE. SET parallel_guard.min = 0 accepts plans that use "
                               "fewer workers, or set \"parallel_guard.target\" only around the "
                               "statements that need it (SET LOCAL).")
                     : errhint("Run parallel_guard.explain() to see the workers each launch of "
                               "the plan asks for. Set the table's parallel_workers storage "
                               "parameter (ALTER TABLE ... SET (parallel_workers = N)) or lower "
                               "\"min_parallel_table_scan_size\" for more; functions must be "
                               "PARALLEL SAFE. A lower min accepts plans that use fewer "
                               "workers.")));
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
             errmsg_plural("only %d parallel worker launched, at least %d required",
                           "only %d parallel workers launched, at least %d required", last.launched,
                           last.launched, spec.min),
             errdetail("%s Every attempt was rolled back.", detail),
             errhint("Raise \"max_parallel_workers\" or \"max_worker_processes\", or run the "
                     "statement when fewer parallel queries are active.")));
    pg_unreachable();
}

/*
 * The run in progress in this backend, for a FATAL that ends the process in
 * the middle of it (pg_terminate_backend, a shutdown): no error reaches
 * run_attempts() then, the process exits from where it stood, so an exit
 * callback records the run.  The frames these point into are still there
 * when the callbacks run.
 */
struct RunInProgress {
    const RunSpec *spec;
    AttemptLog *log;
    TimestampTz started;
    RunInProgress *outer; /* a run whose statement started this one */
};
RunInProgress *in_progress = nullptr;
bool exit_callback_set = false;
/* When the current attempt began waiting in the queue; 0 when not waiting. */
TimestampTz queue_wait_since = 0;

/* An error or exit in the queue: the wait so far is the attempt's queue time. */
void note_queue_wait(AttemptLog *log)
{
    if (queue_wait_since != 0 && log->n > 0)
        log->recs[log->n - 1].queued_ms =
            static_cast<double>(GetCurrentTimestamp() - queue_wait_since) / 1000.0;
    queue_wait_since = 0;
}

/* Only shared memory here (the history, the stats): no catalog access. */
void record_at_exit(int, Datum)
{
    RunInProgress *r = in_progress;
    if (r == nullptr)
        return;
    in_progress = nullptr;
    LWLockReleaseAll();
    note_queue_wait(r->log);
    for (; r != nullptr; r = r->outer) {
        (void) history_record(*r->spec, r->log->recs, r->log->n, r->started, RunOutcome::Error,
                              ERRCODE_ADMIN_SHUTDOWN);
        stats_record_run(r->log->recs, r->log->n, RunOutcome::Error, ERRCODE_ADMIN_SHUTDOWN);
    }
}

void run_attempts(const RunSpec &spec, const AttemptRunner &runner, AttemptLog *log,
                  TimestampTz started)
{
    long queue_budget_ms = guard_queue_timeout_ms();

    PG_TRY();
    {
        queue_join(spec);
        for (int i = 1; i <= spec.retries; i++) {
            if (i > 1)
                sleep_ms(spec.delay_ms);
            AttemptRecord *rec = next_record(log);
            TimestampTz queued = GetCurrentTimestamp();
            queue_wait_since = queued;
            rec->queue_room = queue_wait_turn(spec, i, &queue_budget_ms);
            queue_wait_since = 0;
            TimestampTz attempt_start = GetCurrentTimestamp();
            rec->queued_ms = static_cast<double>(attempt_start - queued) / 1000.0;
            runner.attempt(runner.arg, spec, rec, attempt_start);
            if (rec->verdict != Verdict::Short)
                break;
        }
        queue_leave();
    }
    PG_CATCH();
    {
        /*
         * Take the attempt along before the error leaves us.  The cleanup
         * below takes LWLocks (queue, history, stats): release any the error
         * left held first, as PostgreSQL's own error recovery does, or a
         * lock taken again by this backend would wait for itself forever.
         */
        HOLD_INTERRUPTS();
        LWLockReleaseAll();
        if (in_progress != nullptr)
            in_progress = in_progress->outer; /* recorded here, not at exit */
        note_queue_wait(log); /* cancelled or timed out in the queue */
        runner.abandon(runner.arg);
        queue_leave();
        log->run_id = history_record(spec, log->recs, log->n, started, RunOutcome::Error,
                                     geterrcode());
        stats_record_run(log->recs, log->n, RunOutcome::Error, geterrcode());
        RESUME_INTERRUPTS();
        PG_RE_THROW();
    }
    PG_END_TRY();
}

} // namespace

void check_guard_settings(const RunSpec &spec, int own_slots)
{
    check_settings_here(spec, own_slots);
}

void sleep_ms(long ms)
{
    /* A delay of centuries is allowed (statement_timeout still applies): saturate. */
    TimestampTz start = GetCurrentTimestamp();
    TimestampTz end =
        ms > (PG_INT64_MAX - start) / 1000 ? PG_INT64_MAX : TimestampTzPlusMilliseconds(start, ms);
    for (;;) {
        TimestampTz now = GetCurrentTimestamp();
        if (now >= end)
            return;
        /* WaitLatch takes at most INT_MAX ms: wake up hourly on long waits. */
        long left = static_cast<long>(std::min<int64>((end - now + 999) / 1000, 3600 * 1000));
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left,
                         wait_event_delay());
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

AttemptLog guard_attempts(const RunSpec &spec, const AttemptRunner &runner)
{
    TimestampTz start = GetCurrentTimestamp();
    AttemptLog log;
    log.capacity = Min(spec.retries, 16);
    log.n = 0;
    log.recs = static_cast<AttemptRecord *>(palloc(sizeof(AttemptRecord) * log.capacity));
    log.run_id = 0;

    if (!exit_callback_set) {
        before_shmem_exit(record_at_exit, 0);
        exit_callback_set = true;
    }
    RunInProgress here = {&spec, &log, start, in_progress};
    in_progress = &here;
    run_attempts(spec, runner, &log, start);
    in_progress = here.outer;

    const AttemptRecord &last = log.recs[log.n - 1];
    double total_ms = static_cast<double>(GetCurrentTimestamp() - start) / 1000.0;
    if (!verdict_commits(last.verdict)) {
        int sqlstate = shortfall_sqlstate(last.verdict);
        log.run_id = history_record(spec, log.recs, log.n, start, RunOutcome::Shortfall, sqlstate);
        stats_record_run(log.recs, log.n, RunOutcome::Shortfall, sqlstate);
        report_run(spec, log.recs, log.n, total_ms, log.run_id);
        raise_shortfall(spec, log);
    }
    log.run_id = history_record(spec, log.recs, log.n, start, RunOutcome::Committed, 0);
    stats_record_run(log.recs, log.n, RunOutcome::Committed, 0);
    report_run(spec, log.recs, log.n, total_ms, log.run_id);
    return log;
}

} // namespace pg_guard
