/*
 * watcher.cpp: the caller watches its worker's parallel group in shared
 * memory and decides each attempt within milliseconds of the launch.
 *
 * Sources, best first:
 *  1. the exact launched count the worker publishes from inside its executor
 *     right after LaunchParallelWorkers() (see worker.cpp); it sets our latch;
 *  2. the worker's lock group: a parallel query's leader calls
 *     BecomeLockGroupLeader() in InitializeParallelDSM() and each parallel
 *     worker calls BecomeLockGroupMember() early in ParallelWorkerMain(), so
 *     PGPROC.lockGroupMembers (under the leader's lock partition lock) shows
 *     workers as they join.  For a query it is the fallback, used when the
 *     exact count has not come parallel_guard.settle_time after the launch;
 *     for an index build (no Gather) it is the only source: members >= the
 *     goal is a success at once, fewer are trusted after settle_time.
 * pg_stat_activity is never read: it lags the lock group and costs a query.
 */
#include "watcher.hpp"

#include "lock_group.hpp"
#include "messages.hpp"
#include "module.hpp"
#include "queue.hpp"

#include <algorithm>

namespace pg_guard {

namespace {

constexpr long kFastPollMs = 1;  /* while a launch is expected */
constexpr long kSlowPollMs = 10; /* a launch expected for a long time already */
constexpr long kFastPollWindowMs = 200;
constexpr long kIdleWaitMs = 100; /* nothing to poll: latches wake us */

double ms_between(TimestampTz from, TimestampTz to)
{
    return static_cast<double>(to - from) / 1000.0;
}

constexpr long kLockCheckMs = 100;

/*
 * True when the worker or one of its parallel workers waits for a lock that
 * this backend holds in a conflicting mode: the caller waits for the worker
 * and the worker for the caller, a deadlock that PostgreSQL's detector
 * cannot see (the caller waits on a latch, not a lock).  The test mirrors
 * the hard-block part of pg_blocking_pids().
 */
bool worker_waits_for_caller(pid_t worker_pid)
{
    BlockedProcsData *data = GetBlockerStatusData(worker_pid);
    bool found = false;

    for (int i = 0; i < data->nprocs && !found; i++) {
        const BlockedProcData *bproc = &data->procs[i];
        const LockInstanceData *locks = &data->locks[bproc->first_lock];
        const LockInstanceData *waiting = nullptr;

        for (int j = 0; j < bproc->num_locks; j++)
            if (locks[j].pid == bproc->pid)
                waiting = &locks[j];
        if (waiting == nullptr || waiting->waitLockMode == NoLock)
            continue;
        LockMethod method = GetLockTagsMethodTable(&waiting->locktag);
        LOCKMASK conflicts = method->conflictTab[waiting->waitLockMode];
        for (int j = 0; j < bproc->num_locks; j++)
            if ((locks[j].pid == MyProcPid || locks[j].leaderPid == MyProcPid) &&
                (locks[j].holdMask & conflicts))
                found = true;
    }
    return found;
}

[[noreturn]] void raise_self_deadlock(const RunSpec &spec, const AttemptRecord *rec)
{
    ereport(ERROR,
            (errcode(ERRCODE_T_R_DEADLOCK_DETECTED),
             errmsg("parallel_guard.run() would wait for itself: the statement needs a lock "
                    "that the calling transaction holds"),
             errdetail("Attempt %d of %d: background worker PID %d waits for a lock held by "
                       "PID %d, which waits for the worker; the attempt was rolled back.",
                       rec->number, spec.retries, rec->worker_pid, MyProcPid),
             errhint("Call parallel_guard.run() outside the transaction that locks the tables "
                     "the statement reads, or commit that transaction first.")));
    pg_unreachable();
}

} // namespace

Verdict decide(const RunSpec &spec, int number, int planned, int count)
{
    if (planned >= 0 && planned < spec.min)
        return Verdict::PlanTooSmall;
    /* A plan that asks for fewer than target cannot be helped by retrying. */
    bool plan_limited = planned >= 0 && planned < spec.target;
    int goal = plan_limited ? planned : spec.target;

    if (count >= goal)
        return plan_limited ? Verdict::PlanLimited : Verdict::Met;
    if (number < spec.retries)
        return Verdict::Short;
    return count >= spec.min ? Verdict::AcceptedShort : Verdict::BelowMin;
}

void watch_attempt(WorkerRun *w, const RunSpec &spec, AttemptRecord *rec, TimestampTz start)
{
    TimestampTz leader_seen = 0;
    int most_members = -1;  /* members leave as they finish: keep the peak */
    int index_planned = -1; /* 0 once an index build is seen to be serial */
    TimestampTz planned_seen = 0;
    long settle_ms = guard_settle_time_ms();
    TimestampTz last_lock_check = start;
    bool committing = false;
    bool forwarded = false; /* a cancel or terminate passed on to the worker */

    rec->verdict = Verdict::Pending;
    rec->planned = -1;
    rec->launched = -1;
    rec->worker_pid = w->pid;

    for (;;) {
        drain_worker_messages(w);
        bool stopped = worker_stopped(w);
        SharedView v = read_shared(w->shared);
        TimestampTz now = GetCurrentTimestamp();
        long wait_ms = kIdleWaitMs;

        if (!counted_by_lock_group(spec.kind))
            rec->planned = v.planned;
        else if (index_planned >= 0)
            rec->planned = index_planned;
        else
            rec->planned = spec.index_planned;
        if (v.launched >= 0)
            rec->launched = v.launched, rec->exact = true;
        rec->rows = v.rows;

        if (rec->verdict == Verdict::Pending) {
            Verdict verdict = Verdict::Pending;
            TimestampTz launch = v.launch_time;
            int count = -1;

            int planned = rec->planned;

            if (v.state == WorkerState::Failed || (stopped && v.state < WorkerState::Executed)) {
                verdict = Verdict::Failed;
            } else if (planned >= 0 && planned < spec.min) {
                verdict = Verdict::PlanTooSmall;
            } else if (counted_by_lock_group(spec.kind)) {
                /* An index build: no Gather, only the lock group shows its workers. */
                int members = std::max(most_members, lock_group_workers(v.worker_procno));
                most_members = members;
                if (members >= 0 && leader_seen == 0)
                    leader_seen = now;
                bool settled =
                    leader_seen != 0 && TimestampDifferenceExceeds(leader_seen, now, settle_ms);
                int goal = planned >= 0 ? std::min(planned, spec.target) : spec.target;
                if (members >= goal || settled || v.state >= WorkerState::Executed) {
                    if (leader_seen == 0) {
                        /* It never went parallel: the build was planned serial. */
                        planned = index_planned = 0;
                        count = 0;
                        launch = now;
                    } else {
                        count = members;
                        launch = leader_seen;
                    }
                    rec->launched = count;
                    rec->exact = false;
                }
                wait_ms = TimestampDifferenceExceeds(start, now, kFastPollWindowMs) ? kSlowPollMs
                                                                                    : kFastPollMs;
            } else if (v.launched >= 0) {
                count = v.launched;
            } else if (v.planned == 0) {
                count = 0; /* no Gather at all: nothing will launch */
                launch = now;
                rec->launched = 0;
                rec->exact = true;
            } else if (v.planned > 0) {
                if (planned_seen == 0)
                    planned_seen = now;
                int members = std::max(most_members, lock_group_workers(v.worker_procno));
                most_members = members;
                if (members >= 0 && leader_seen == 0)
                    leader_seen = now;
                /*
                 * The exact count normally follows the launch within a
                 * millisecond (see worker.cpp); the lock group decides only
                 * when it has not come by settle_time.  Committing waits for
                 * the statement's end anyway, so waiting costs nothing there.
                 */
                if (members >= 0 && TimestampDifferenceExceeds(leader_seen, now, settle_ms)) {
                    count = members;
                    launch = leader_seen;
                    rec->launched = members;
                    rec->exact = false;
                }
                wait_ms = TimestampDifferenceExceeds(planned_seen, now, kFastPollWindowMs)
                              ? kSlowPollMs
                              : kFastPollMs;
            }
            if (count >= 0)
                verdict = decide(spec, rec->number, planned, count);

            if (verdict != Verdict::Pending) {
                rec->verdict = verdict;
                rec->verdict_ms = launch ? ms_between(launch, now) : 0.0;
                rec->elapsed_ms = ms_between(start, now);
                queue_attempt_decided(v.worker_procno, verdict == Verdict::Short, rec->launched);
                if (!verdict_commits(verdict) && verdict != Verdict::Failed)
                    request_abort(w);
                if (verdict != Verdict::Failed)
                    report_attempt(spec, *rec);
                continue; /* act on the new decision at once */
            }
        }

        /*
         * An accepted attempt is committed only once its statement is done:
         * until then a cancel of ours still rolls it back.  From the commit
         * request on, interrupts are held until the worker has answered, so
         * that a cancel cannot report failure for a committed table.
         */
        if (verdict_commits(rec->verdict) && v.state == WorkerState::Executed && !committing) {
            CHECK_FOR_INTERRUPTS(); /* a cancel that came first still wins */
            HOLD_INTERRUPTS();
            committing = true;
            request_commit(w);
            continue;
        }
        if (stopped)
            break;
        /*
         * Held interrupts must not make the caller unkillable while the
         * worker commits (a synchronous-replication wait can last forever):
         * pass a cancel or terminate on to the worker, which then behaves as
         * the plain statement would (it stops waiting with PostgreSQL's
         * WARNING when it has already committed locally, or rolls back).
         * Its answer still decides what the caller reports.
         */
        if (committing && !forwarded && (QueryCancelPending || ProcDiePending)) {
            forwarded = true;
            pass_interrupt_on(w, ProcDiePending);
        }
        if (w->pid > 0 && TimestampDifferenceExceeds(last_lock_check, now, kLockCheckMs)) {
            last_lock_check = now;
            if (worker_waits_for_caller(w->pid))
                raise_self_deadlock(spec, rec);
        }
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }

    drain_worker_messages(w);
    SharedView v = read_shared(w->shared);
    if (committing) {
        /* A cancel that arrived while the worker committed came too late. */
        if (v.state == WorkerState::Committed)
            QueryCancelPending = false;
        RESUME_INTERRUPTS();
    }
    rec->rows = v.rows;
    if (v.launched >= 0)
        rec->launched = v.launched, rec->exact = true;
    /* Stopped with no verdict, or stopped before committing what we accepted. */
    if (rec->verdict == Verdict::Pending ||
        (verdict_commits(rec->verdict) && v.state != WorkerState::Committed))
        rec->verdict = Verdict::Failed;
    rec->elapsed_ms = ms_between(start, GetCurrentTimestamp());
}

} // namespace pg_guard
