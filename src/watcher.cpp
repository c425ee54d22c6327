/*
 * watcher.cpp: the caller watches its worker's launches of parallel workers
 * in shared memory and decides each attempt within milliseconds.
 *
 * A statement may launch workers several times (attempt_segment.hpp); each
 * launch is judged on its own: it is good when it got min(planned, target)
 * workers.  The attempt is
 *  - plan_too_small as soon as one launch plans fewer than min;
 *  - short as soon as one launch is not good (retried; on the last attempt
 *    accepted_short when every launch got at least min, else below_min);
 *  - met or plan_limited when every launch was good, which is known for
 *    sure only when the statement has finished: a later launch that comes
 *    up short still turns an early "met" into "short", and the worker
 *    commits only on the final verdict.
 *
 * Counts, best first: the exact count the worker publishes for each Gather
 * right after LaunchParallelWorkers(); for index builds, the registrations
 * PostgreSQL made for the build (bgworker_slots.hpp); as a fallback when a
 * Gather's count is slow to come (parallel_leader_participation off) or the
 * registrations cannot be read, the registrations or the worker's lock
 * group after parallel_guard.settle_time.  pg_stat_activity is never read.
 */
#include "watcher.hpp"

#include "bgworker_slots.hpp"
#include "build_sampler.hpp"
#include "lock_group.hpp"
#include "messages.hpp"
#include "module.hpp"
#include "queue.hpp"
#include "wait_events.hpp"

#include <algorithm>

namespace pg_guard {

namespace {

constexpr long kFastPollMs = 1;  /* while a count is expected from shared memory */
constexpr long kSlowPollMs = 10; /* expected for a long time already */
constexpr long kFastPollWindowMs = 200;
constexpr long kIdleWaitMs = 100;     /* nothing to poll: latches wake us */
constexpr long kLockCheckMs = 100;    /* the self-deadlock check */
constexpr long kAbortGraceMs = 5000;  /* then terminate a worker that ignores its cancel */
constexpr int kMaxSlotLaunches = 64;
constexpr long kRegisteringMs = 1000; /* fewer registered than planned, with room */

int late_cancels_held = 0; /* HOLD_CANCEL_INTERRUPTS() taken after a worker's commit */

void release_late_cancels(bool drop_pending)
{
    if (late_cancels_held == 0)
        return;
    if (drop_pending)
        QueryCancelPending = false;
    /* Error recovery at the top level may have zeroed the count already. */
    uint32 held = static_cast<uint32>(late_cancels_held);
    QueryCancelHoldoffCount = QueryCancelHoldoffCount > held ? QueryCancelHoldoffCount - held : 0;
    late_cancels_held = 0;
}

void release_late_cancels_at_end(void *)
{
    release_late_cancels(true);
}

double ms_between(TimestampTz from, TimestampTz to)
{
    return static_cast<double>(to - from) / 1000.0;
}

/* What the caller counts of one site, on top of what the worker published. */
struct SiteCount {
    int launches;
    int fewest;
    bool pending;
    Counted counted;
};

/* The registrations of one index build's launch, matched to its site. */
struct HandleSeen {
    uint32 handle;
    int site;
    int most;
    TimestampTz first_seen; /* registration takes a while: counted settle_time later */
};

/* Everything one attempt's watch keeps between two looks; plain data. */
struct Watch {
    WorkerRun *w;       /* the guard worker's attempt; nullptr when guarded as written */
    pid_t pid;          /* the process that runs the statement (registers its launches) */
    GuardShared *shared;
    LaunchSite *sites;
    const RunSpec *spec;
    AttemptRecord *rec;
    TimestampTz start;
    long settle_ms;
    SharedView view;
    int max_sites;      /* room in each array below, as in the segment */
    SiteCount *counts;  /* per site */
    HandleSeen *handles;
    int nhandles;
    int *most_members; /* lock group peak per index site, when slots are unreadable */
    HandleSeen slow;   /* the one unknown launch seen while a Gather is slow to count */
    Verdict reported;            /* the verdict last reported by NOTICE */
    bool final;                  /* the verdict is final: committed or rolled back on it */
    bool committing;
    bool cancel_passed;
    bool terminate_passed;
    TimestampTz abort_requested_at;
    TimestampTz last_lock_check;
    MemoryContext scratch; /* reset after every use: the caller's memory stays flat */
    MemoryContext home;    /* where the watch and rec->sites live */
    int sampling;          /* as written: the index build site the sampler counts, or -1 */
    bool short_raised;     /* as written: the attempt was ended by our ERROR */
};

/* ---- counting ---- */

int handle_site(const Watch *wt, uint32 handle)
{
    for (int i = 0; i < wt->nhandles; i++)
        if (wt->handles[i].handle == handle)
            return i;
    return -1;
}

/*
 * Whether a launch's registrations, `count` of `planned`, first seen at
 * `first_seen`, are all it made.  PostgreSQL registers the workers one by
 * one and stops at the first it is refused; a busy machine can pause the
 * worker between two registrations.  So: all of them once it reached its
 * plan; else settle_time after the first was seen when the pool is full
 * now (a further registration would have been refused); with room in the
 * pool the launch may still be registering: settled only after
 * kRegisteringMs (the pool may also have freed places since).
 */
bool registrations_settled(const Watch *wt, int count, int planned, TimestampTz first_seen,
                           TimestampTz now)
{
    if (count >= planned)
        return true;
    if (!TimestampDifferenceExceeds(first_seen, now, wt->settle_ms))
        return false;
    int registered = parallel_workers_registered();
    bool room = registered >= 0 && registered < max_parallel_workers;
    return !room || TimestampDifferenceExceeds(first_seen, now, kRegisteringMs);
}

/*
 * Index builds: the worker publishes each build as a pending site; match
 * each new launch seen in PostgreSQL's registrations to the newest pending
 * build and keep the most workers registered for it.
 */
void count_index_registrations(Watch *wt, TimestampTz now)
{
    bool building = false;
    for (int s = 0; s < wt->view.nsites && !building; s++)
        building = wt->view.sites[s].kind == SiteKind::IndexBuild && wt->counts[s].pending;
    if (!building)
        return; /* no build under way: nothing to read */
    SlotLaunch seen[kMaxSlotLaunches];
    int n = parallel_launches_of(wt->pid, seen, kMaxSlotLaunches);
    for (int i = 0; i < n; i++) {
        int h = handle_site(wt, seen[i].handle);
        if (h < 0) {
            int site = -1;
            for (int s = wt->view.nsites - 1; s >= 0 && site < 0; s--) {
                const LaunchSite &ls = wt->view.sites[s];
                bool taken = false;
                for (int j = 0; j < wt->nhandles; j++)
                    taken = taken || wt->handles[j].site == s;
                if (ls.kind == SiteKind::IndexBuild && ls.pending && !taken)
                    site = s;
            }
            if (site < 0 || wt->nhandles == wt->max_sites)
                continue;
            h = wt->nhandles++;
            wt->handles[h] = {seen[i].handle, site, 0, now};
        }
        wt->handles[h].most = std::max(wt->handles[h].most, seen[i].workers);
    }

    /* A build's count is final once the worker has moved on (a later site,
     * or the statement is done) or once its registrations are settled; with
     * none seen yet, as if the first had been seen when the build planned
     * (with room in the pool, its launch is most likely still to come). */
    for (int s = 0; s < wt->view.nsites; s++) {
        const LaunchSite &ls = wt->view.sites[s];
        if (ls.kind != SiteKind::IndexBuild || !ls.pending)
            continue;
        int most = -1;
        TimestampTz first_seen = ls.pending_since; /* none seen: since the build planned */
        for (int j = 0; j < wt->nhandles; j++)
            if (wt->handles[j].site == s) {
                most = wt->handles[j].most;
                first_seen = wt->handles[j].first_seen;
            }
        Counted how = Counted::Registrations;
        if (n < 0) { /* registrations unreadable: the lock group's peak */
            wt->most_members[s] =
                std::max(wt->most_members[s], lock_group_workers(wt->view.worker_procno));
            most = wt->most_members[s];
            how = Counted::LockGroup;
        }
        bool moved_on = s < wt->view.nsites - 1 || wt->view.state >= WorkerState::Executed;
        bool settled =
            how == Counted::Registrations
                ? registrations_settled(wt, std::max(most, 0), ls.planned, first_seen, now)
                : most >= ls.planned ||
                      TimestampDifferenceExceeds(ls.pending_since, now, wt->settle_ms);
        SiteCount &c = wt->counts[s];
        if (moved_on || settled) {
            c.launches = 1;
            c.fewest = std::max(most, 0);
            c.pending = false;
            c.counted = how;
        }
    }
}

/* Whether registrations of this parallel segment belong to a launch
 * already counted: a Gather's (published by the worker) or a build's. */
bool launch_known(const Watch *wt, uint32 handle)
{
    for (int s = 0; s < wt->view.nsites; s++)
        if (wt->view.sites[s].handle == handle)
            return true;
    return handle_site(wt, handle) >= 0;
}

/*
 * A Gather whose exact count is slow to come (the leader does not take part
 * and the first row is far): after settle_time, if it is the only launch
 * under way and PostgreSQL shows exactly one launch registered by the
 * worker that no counted launch made, count that launch's registrations
 * (or the lock group when they cannot be read).  The Gather's first call
 * evaluates the InitPlans it needs before it registers its own workers: an
 * InitPlan's launch, still running, is counted as its own, never as this one.
 * Its registrations are counted once settled (registrations_settled), not
 * as soon as they are seen: the Gather's settle_time may have passed while
 * its InitPlans ran, and its workers are registered one by one.
 */
void count_slow_gather(Watch *wt, TimestampTz now)
{
    int pending = -1;
    for (int s = 0; s < wt->view.nsites; s++) {
        const LaunchSite &ls = wt->view.sites[s];
        if (ls.pending) {
            if (pending >= 0 || ls.kind == SiteKind::IndexBuild || ls.launches > 0)
                return;
            pending = s;
        }
    }
    if (pending < 0 ||
        !TimestampDifferenceExceeds(wt->view.sites[pending].pending_since, now, wt->settle_ms))
        return;
    SlotLaunch seen[kMaxSlotLaunches];
    int n = parallel_launches_of(wt->pid, seen, kMaxSlotLaunches);
    int count = -1, unknown = 0;
    uint32 handle = 0;
    Counted how = Counted::Registrations;
    for (int i = 0; i < n; i++)
        if (!launch_known(wt, seen[i].handle)) {
            unknown++;
            count = seen[i].workers;
            handle = seen[i].handle;
        }
    if (n >= 0 && unknown != 1)
        count = -1;
    else if (n >= 0) {
        HandleSeen &slow = wt->slow;
        if (slow.handle != handle || slow.site != pending)
            slow = {handle, pending, count, now};
        slow.most = std::max(slow.most, count);
        if (!registrations_settled(wt, slow.most, wt->view.sites[pending].planned,
                                   slow.first_seen, now))
            return;
        count = slow.most;
    } else {
        count = lock_group_workers(wt->view.worker_procno);
        how = Counted::LockGroup;
    }
    if (count < 0)
        return;
    SiteCount &c = wt->counts[pending];
    c.launches = 1;
    c.fewest = count;
    c.pending = false;
    c.counted = how;
}

/*
 * As written, the index builds run in this process: the build sampler counts
 * the newest pending build while it runs (build_sampler.hpp).  A build's
 * count is final once its registrations are settled or the statement has
 * moved on (a later site, or done).  The sampler cancels the statement when
 * the count would roll the attempt back.
 */
void count_index_sampled(Watch *wt)
{
    const RunSpec &spec = *wt->spec;
    bool done = wt->view.state >= WorkerState::Executed;
    for (int s = 0; s < wt->view.nsites; s++) {
        const LaunchSite &ls = wt->view.sites[s];
        SiteCount &c = wt->counts[s];
        if (ls.kind != SiteKind::IndexBuild || !ls.pending || c.launches > 0)
            continue;
        if (wt->sampling < 0) {
            int want = std::min(ls.planned, spec.target);
            int below = ls.planned < spec.min                 ? ls.planned + 1
                        : wt->rec->number < spec.retries ? want
                                                             : spec.min;
            build_sampler_start(ls.planned, below, wt->settle_ms);
            wt->sampling = s;
        }
        if (wt->sampling != s)
            continue;
        bool moved_on = s < wt->view.nsites - 1 || done;
        if (moved_on || build_sampler_settled()) {
            c = {1, build_sampler_stop(), false, Counted::Registrations};
            wt->sampling = -1;
        }
    }
}

/* Refresh the counts from the worker's sites, then what the caller counts. */
void count_launches(Watch *wt, TimestampTz now)
{
    for (int s = 0; s < wt->view.nsites; s++) {
        const LaunchSite &ls = wt->view.sites[s];
        if (ls.kind == SiteKind::IndexBuild && ls.pending) {
            /* counted by count_index_registrations() */
            if (wt->counts[s].launches == 0)
                wt->counts[s] = {0, -1, true, Counted::Registrations};
            continue;
        }
        wt->counts[s] = {ls.launches, ls.fewest, ls.pending, Counted::Gather};
        if (ls.kind == SiteKind::IndexBuild)
            wt->counts[s].counted = Counted::Registrations;
    }
    if (wt->w == nullptr) {
        count_index_sampled(wt);
        return; /* a Gather in this process is counted exactly when it returns, at the latest */
    }
    count_index_registrations(wt, now);
    if (wt->view.state < WorkerState::Executed)
        count_slow_gather(wt, now);
}

/* ---- the verdict ---- */

struct Assessment {
    Verdict verdict; /* Pending while nothing is known */
    bool complete;   /* no launch under way */
    int planned;
    int launched;
    int launches;
    int site;
    Counted counted;
};

Assessment assess(const Watch *wt, bool statement_done)
{
    const RunSpec &spec = *wt->spec;
    Assessment a = {Verdict::Pending, true, -1, -1, 0, -1, Counted::Gather};
    int too_small = -1, short_site = -1, plan_site = -1;
    bool below_min = false;

    for (int s = 0; s < wt->view.nsites; s++) {
        const SiteCount &c = wt->counts[s];
        const LaunchSite &ls = wt->view.sites[s];
        if (c.pending)
            a.complete = false;
        if (c.launches == 0)
            continue;
        a.launches += c.launches;
        a.counted = std::max(a.counted, c.counted);
        if (a.planned < 0 || ls.planned < a.planned)
            a.planned = ls.planned, plan_site = s;
        if (a.launched < 0 || c.fewest < a.launched)
            a.launched = c.fewest;
        if (ls.planned < spec.min && too_small < 0)
            too_small = s;
        /* A folded site's launches were each judged against their own plan. */
        bool short_launch =
            ls.folded ? ls.short_launch : c.fewest < std::min(ls.planned, spec.target);
        if (short_launch && short_site < 0)
            short_site = s;
        below_min = below_min || c.fewest < spec.min;
    }

    if (too_small >= 0) {
        a.verdict = Verdict::PlanTooSmall;
        a.site = too_small;
    } else if (short_site >= 0) {
        a.site = short_site;
        if (wt->rec->number < spec.retries)
            a.verdict = Verdict::Short;
        else
            a.verdict = below_min ? Verdict::BelowMin : Verdict::AcceptedShort;
    } else if (a.launches > 0) {
        a.verdict = a.planned < spec.target ? Verdict::PlanLimited : Verdict::Met;
        a.site = a.planned < spec.target ? plan_site : -1;
    } else if (statement_done) {
        /* It ran without launching anything, or it ran no query at all. */
        a.planned = a.launched = 0;
        if (!wt->view.ran_query)
            a.verdict = Verdict::NotRun;
        else
            a.verdict = spec.min > 0 ? Verdict::PlanTooSmall : Verdict::PlanLimited;
    }
    return a;
}

void record(Watch *wt, const Assessment &a)
{
    AttemptRecord *rec = wt->rec;
    rec->planned = a.planned;
    rec->launched = a.launched;
    rec->launches = a.launches;
    rec->site = a.site;
    rec->counted = a.counted;
    rec->verdict = a.verdict;
    rec->rows = wt->view.rows;
    rec->query_id = wt->view.query_id;
    if (rec->nsites < wt->view.nsites) {
        Size size = sizeof(LaunchRecord) * static_cast<Size>(wt->view.nsites);
        rec->sites = static_cast<LaunchRecord *>(rec->sites ? repalloc(rec->sites, size)
                                                            : palloc(size));
    }
    rec->nsites = wt->view.nsites;
    for (int s = 0; s < wt->view.nsites; s++) {
        const LaunchSite &ls = wt->view.sites[s];
        LaunchRecord &r = rec->sites[s];
        r.kind = ls.kind;
        r.planned = ls.planned;
        r.launches = wt->counts[s].launches;
        r.fewest = wt->counts[s].fewest;
        memcpy(r.label, ls.label, kSiteLabel);
    }
}

/* The earliest count of the attempt: verdict times run from it. */
TimestampTz first_count(const Watch *wt)
{
    TimestampTz first = 0;
    for (int s = 0; s < wt->view.nsites; s++) {
        TimestampTz t = wt->view.sites[s].counted_at;
        if (t != 0 && (first == 0 || t < first))
            first = t;
    }
    return first;
}

/*
 * Act on a verdict: report it when it is new, roll back a verdict that does
 * not commit, tell the queue.  A committing verdict is acted on only when
 * the statement is done (commit_when_done()).
 */
void take_verdict(Watch *wt, const Assessment &a, TimestampTz now, bool final)
{
    AttemptRecord *rec = wt->rec;
    bool first = wt->reported == Verdict::Pending;
    bool changed = a.verdict != wt->reported;
    record(wt, a);
    if (first) {
        TimestampTz launch = first_count(wt);
        rec->verdict_ms = launch ? ms_between(launch, now) : 0.0;
        rec->elapsed_ms = ms_between(wt->start, now);
    }
    wt->final = final;
    if (!verdict_commits(a.verdict) && wt->w != nullptr) {
        request_abort(wt->w);
        wt->abort_requested_at = now;
    }
    if (first || (changed && !verdict_commits(a.verdict)))
        queue_attempt_decided(wt->view.worker_procno, a.verdict == Verdict::Short,
                              std::max(a.launched, 0));
    if (changed) {
        report_attempt(*wt->spec, *rec, first ? AttemptReport::Verdict : AttemptReport::Revised);
        report_attempt(*wt->spec, *rec, AttemptReport::Log);
    }
    wt->reported = a.verdict;
}

/* Judge what is known now.  Returns true when something was acted on. */
bool judge(Watch *wt, TimestampTz now)
{
    if (wt->final)
        return false;
    bool done = wt->view.state >= WorkerState::Executed;
    Assessment a = assess(wt, done);
    if (a.verdict == Verdict::Pending)
        return false;
    /* A verdict that rolls back is taken at once; one that commits is final
     * only when the statement is done, and is reported early once no
     * launch is under way. */
    bool final = done || !verdict_commits(a.verdict);
    if (!final && !(a.complete && a.verdict != wt->reported))
        return false;
    take_verdict(wt, a, now, final);
    return true;
}

/* ---- committing, stopping, interrupts ---- */

/*
 * The statement is done and every launch was good: commit.  From the
 * commit request on, interrupts are held until the worker has answered, so
 * that a cancel cannot report failure for a committed table.
 */
bool commit_when_done(Watch *wt)
{
    if (wt->committing || !wt->final || !verdict_commits(wt->rec->verdict) ||
        wt->view.state != WorkerState::Executed)
        return false;
    CHECK_FOR_INTERRUPTS(); /* a cancel that came first still wins */
    HOLD_INTERRUPTS();
    wt->committing = true;
    request_commit(wt->w);
    return true;
}

/*
 * Held interrupts must not make the caller unkillable while the worker
 * commits (a synchronous-replication wait can last forever): pass each of
 * the caller's interrupts on to the worker, which then behaves as the plain
 * statement would (it stops waiting with PostgreSQL's WARNING when it has
 * already committed locally, or rolls back).  Its answer still decides what
 * the caller reports.
 */
void pass_interrupts_on(Watch *wt)
{
    if (!wt->committing)
        return;
    if (QueryCancelPending && !wt->cancel_passed) {
        wt->cancel_passed = true;
        pass_interrupt_on(wt->w, false);
    }
    if (ProcDiePending && !wt->terminate_passed) {
        wt->terminate_passed = true;
        pass_interrupt_on(wt->w, true);
    }
}

/* A worker that ignores the cancel of a rolled-back attempt is terminated. */
void escalate_abort(Watch *wt, TimestampTz now)
{
    if (wt->abort_requested_at != 0 &&
        TimestampDifferenceExceeds(wt->abort_requested_at, now, kAbortGraceMs)) {
        wt->abort_requested_at = 0;
        pass_interrupt_on(wt->w, true);
    }
}

/*
 * The chain of lock waits found: the worker first, then each session it
 * waits for, down to the one this backend's lock blocks.
 */
struct WaitChain {
    static constexpr int kMaxLength = 8;
    int pids[kMaxLength];
    int length;
};

/*
 * SQLSTATE 55000, not 40P01: the cycle runs through a lock this transaction
 * holds, so it is no deadlock that a retry can escape (frameworks retry
 * 40P01, and each retry of the same transaction closes the same cycle);
 * what must change first is the calling transaction.
 */
[[noreturn]] void raise_self_deadlock(const Watch *wt, const WaitChain &chain)
{
    StringInfoData how;
    initStringInfo(&how);
    appendStringInfo(&how, "background worker PID %d", chain.pids[0]);
    for (int i = 1; i < chain.length; i++)
        appendStringInfo(&how, " waits for PID %d, which", chain.pids[i]);
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("parallel_guard.run() would wait for itself"),
             errdetail("The statement needs a lock that the calling transaction holds. Attempt "
                       "%d of %d: %s waits for a lock held by PID %d, which waits for the "
                       "worker; the attempt was rolled back.",
                       wt->rec->number, wt->spec->retries, how.data, MyProcPid),
             errhint("Call parallel_guard.run() outside the transaction that locks the tables "
                     "the statement reads, or commit that transaction first.")));
    pg_unreachable();
}

/*
 * The sessions that keep pid's lock group from its lock, as
 * pg_blocking_pids() finds them: holders of a conflicting lock (hard
 * blocks) and conflicting requests queued ahead of it (soft blocks), each
 * by its lock group leader.  Appends to out (room for max), returns whether
 * this backend (or its own parallel workers) is among them.
 */
bool blockers_of(int pid, List **out)
{
    BlockedProcsData *data = GetBlockerStatusData(pid);
    bool caller = false;
    for (int i = 0; i < data->nprocs; i++) {
        const BlockedProcData *bproc = &data->procs[i];
        const LockInstanceData *locks = &data->locks[bproc->first_lock];
        const int *ahead = &data->waiter_pids[bproc->first_waiter];
        const LockInstanceData *waiting = nullptr;
        for (int j = 0; j < bproc->num_locks; j++)
            if (locks[j].pid == bproc->pid)
                waiting = &locks[j];
        if (waiting == nullptr || waiting->waitLockMode == NoLock)
            continue;
        LOCKMASK conflicts =
            GetLockTagsMethodTable(&waiting->locktag)->conflictTab[waiting->waitLockMode];
        for (int j = 0; j < bproc->num_locks; j++) {
            const LockInstanceData &other = locks[j];
            if (other.leaderPid == waiting->leaderPid)
                continue; /* its own group never blocks it */
            bool blocks = (other.holdMask & conflicts) != 0;
            if (!blocks && other.waitLockMode != NoLock &&
                (conflicts & LOCKBIT_ON(other.waitLockMode)))
                for (int k = 0; k < bproc->num_waiters && !blocks; k++)
                    blocks = ahead[k] == other.pid;
            if (!blocks)
                continue;
            if (other.leaderPid == MyProcPid)
                caller = true;
            else if (!list_member_int(*out, other.leaderPid))
                *out = lappend_int(*out, other.leaderPid);
        }
    }
    return caller;
}

/*
 * True when the worker waits, directly or through other sessions' lock
 * waits, for a lock this backend holds: the caller waits for the worker on a
 * latch, so PostgreSQL's deadlock detector cannot see the cycle.  Soft
 * blocks count: a request queued behind one that waits for the caller
 * waits for the caller too.  Follows at most WaitChain::kMaxLength sessions
 * deep.
 */
bool worker_waits_for_caller(pid_t worker_pid, WaitChain *chain)
{
    /* Breadth first; parent[i] is the index of the session pids[i] blocks. */
    List *pids = list_make1_int(worker_pid);
    List *parent = list_make1_int(-1);
    List *depth = list_make1_int(1);
    for (int i = 0; i < list_length(pids); i++) {
        if (list_nth_int(depth, i) > WaitChain::kMaxLength - 1)
            continue;
        List *found = list_copy(pids);
        int known = list_length(found);
        bool caller = blockers_of(list_nth_int(pids, i), &found);
        if (caller) {
            int path[WaitChain::kMaxLength], n = 0;
            for (int at = i; at >= 0 && n < WaitChain::kMaxLength; at = list_nth_int(parent, at))
                path[n++] = list_nth_int(pids, at);
            chain->length = n;
            for (int k = 0; k < n; k++)
                chain->pids[k] = path[n - 1 - k];
            return true;
        }
        for (int k = known; k < list_length(found); k++) {
            pids = lappend_int(pids, list_nth_int(found, k));
            parent = lappend_int(parent, i);
            depth = lappend_int(depth, list_nth_int(depth, i) + 1);
        }
    }
    return false;
}

/* The lock manager is asked only when the worker's group waits on a lock. */
void check_self_lock(Watch *wt, TimestampTz now)
{
    if (wt->w->pid <= 0 || !TimestampDifferenceExceeds(wt->last_lock_check, now, kLockCheckMs))
        return;
    wt->last_lock_check = now;
    if (!lock_group_waits_for_lock(wt->view.worker_procno))
        return;
    MemoryContext old = MemoryContextSwitchTo(wt->scratch);
    WaitChain chain;
    bool self = worker_waits_for_caller(wt->w->pid, &chain);
    MemoryContextSwitchTo(old);
    MemoryContextReset(wt->scratch);
    if (self)
        raise_self_deadlock(wt, chain);
}

/* How long to sleep: poll fast while a count is expected from shared memory. */
long poll_interval(const Watch *wt, TimestampTz now)
{
    bool expecting = false;
    TimestampTz since = 0;
    for (int s = 0; s < wt->view.nsites; s++)
        if (wt->counts[s].pending) {
            expecting = true;
            since = wt->view.sites[s].pending_since;
        }
    if (!expecting)
        return kIdleWaitMs;
    return TimestampDifferenceExceeds(since, now, kFastPollWindowMs) ? kSlowPollMs : kFastPollMs;
}

/* After the worker has exited: what it last said decides the record. */
void finish(Watch *wt)
{
    drain_worker_messages(wt->w);
    read_shared(wt->w->shared, wt->w->sites, &wt->view, wt->view.change);
    if (wt->committing) {
        /* A cancel that arrived while the worker committed came too late,
         * and so does one that comes later in this statement. */
        if (wt->view.state == WorkerState::Committed) {
            QueryCancelPending = false;
            HOLD_CANCEL_INTERRUPTS();
            late_cancels_held++;
        }
        RESUME_INTERRUPTS();
    }
    AttemptRecord *rec = wt->rec;
    rec->rows = wt->view.rows;
    rec->query_id = wt->view.query_id;
    /* Stopped with no verdict, or stopped before committing what we accepted. */
    if (rec->verdict == Verdict::Pending ||
        (verdict_commits(rec->verdict) && wt->view.state != WorkerState::Committed))
        rec->verdict = Verdict::Failed;
    if (rec->elapsed_ms == 0.0)
        rec->elapsed_ms = ms_between(wt->start, GetCurrentTimestamp());
}

Watch *new_watch(const RunSpec &spec, AttemptRecord *rec, TimestampTz start,
                 GuardShared *shared, LaunchSite *sites, pid_t pid, WorkerRun *w)
{
    auto *wt = static_cast<Watch *>(palloc0(sizeof(Watch)));
    wt->w = w;
    wt->pid = pid;
    wt->shared = shared;
    wt->sites = sites;
    wt->spec = &spec;
    wt->rec = rec;
    wt->start = start;
    wt->settle_ms = guard_settle_time_ms();
    wt->view.change = UINT32_MAX; /* copy the sites at the first look */
    wt->slow.site = -1;
    wt->sampling = -1;
    wt->home = CurrentMemoryContext;
    wt->last_lock_check = start;
    wt->scratch = AllocSetContextCreate(CurrentMemoryContext, "parallel_guard watch",
                                        ALLOCSET_SMALL_SIZES);
    wt->max_sites = shared->max_sites;
    wt->view.sites = static_cast<LaunchSite *>(palloc0(sizeof(LaunchSite) * wt->max_sites));
    wt->counts = static_cast<SiteCount *>(palloc0(sizeof(SiteCount) * wt->max_sites));
    wt->handles = static_cast<HandleSeen *>(palloc0(sizeof(HandleSeen) * wt->max_sites));
    wt->most_members = static_cast<int *>(palloc(sizeof(int) * wt->max_sites));
    for (int s = 0; s < wt->max_sites; s++)
        wt->most_members[s] = -1;
    rec->verdict = Verdict::Pending;
    rec->planned = -1;
    rec->launched = -1;
    rec->site = -1;
    rec->worker_pid = pid;
    return wt;
}

void free_watch(Watch *wt)
{
    MemoryContextDelete(wt->scratch);
    pfree(wt->view.sites);
    pfree(wt->counts);
    pfree(wt->handles);
    pfree(wt->most_members);
    pfree(wt);
}

/* The statement failed: what launched before its error is still said. */
void record_failure(Watch *wt, TimestampTz now)
{
    Assessment a = assess(wt, false);
    if (a.launches > 0 && a.verdict != wt->reported)
        take_verdict(wt, a, now, false);
    else
        record(wt, a);
    wt->rec->verdict = Verdict::Failed;
    wt->final = true;
}

} // namespace

void watch_attempt(WorkerRun *w, const RunSpec &spec, AttemptRecord *rec, TimestampTz start)
{
    Watch *wt = new_watch(spec, rec, start, w->shared, w->sites, w->pid, w);

    for (;;) {
        drain_worker_messages(w);
        bool stopped = worker_stopped(w);
        read_shared(w->shared, w->sites, &wt->view, wt->view.change);
        TimestampTz now = GetCurrentTimestamp();

        if (!wt->final) {
            bool failed = wt->view.state == WorkerState::Failed ||
                          (stopped && wt->view.state < WorkerState::Executed);
            count_launches(wt, now);
            if (failed)
                record_failure(wt, now);
            else if (judge(wt, now))
                continue; /* act on the new decision at once */
        }
        if (commit_when_done(wt))
            continue;
        if (stopped)
            break;
        if (wt->view.state >= WorkerState::Executed)
            queue_statement_finished(); /* no launch is to come: release the reservation */
        pass_interrupts_on(wt);
        escalate_abort(wt, now);
        check_self_lock(wt, now);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                         poll_interval(wt, now), wait_event_worker());
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    finish(wt);
    free_watch(wt);
}

void release_late_cancels_with(MemoryContext query_cxt)
{
    release_late_cancels(false);
    auto *cb = static_cast<MemoryContextCallback *>(
        MemoryContextAllocZero(query_cxt, sizeof(MemoryContextCallback)));
    cb->func = release_late_cancels_at_end;
    MemoryContextRegisterResetCallback(query_cxt, cb);
}

/* ---- guarded as written: the statement runs in this very process ---- */

struct InlineWatch {
    Watch watch;
};

InlineWatch *inline_watch_begin(const RunSpec &spec, AttemptRecord *rec, TimestampTz start,
                                GuardShared *shared, LaunchSite *sites)
{
    return reinterpret_cast<InlineWatch *>(
        new_watch(spec, rec, start, shared, sites, MyProcPid, nullptr));
}

void inline_watch_look(InlineWatch *iw, bool may_raise)
{
    Watch *wt = &iw->watch;
    read_shared(wt->shared, wt->sites, &wt->view, wt->view.change);
    if (!wt->final) {
        /* Called from within the statement: what the record keeps must
         * outlive the statement's memory. */
        MemoryContext old = MemoryContextSwitchTo(wt->home);
        TimestampTz now = GetCurrentTimestamp();
        count_launches(wt, now);
        (void) judge(wt, now);
        MemoryContextSwitchTo(old);
    }
    if (may_raise && inline_watch_rolls_back(iw) && !wt->short_raised) {
        wt->short_raised = true;
        ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_RESOURCES),
                        errmsg_internal("attempt %d of %d of a guarded statement is rolled back",
                                        wt->rec->number, wt->spec->retries)));
    }
}

bool inline_watch_rolls_back(const InlineWatch *iw)
{
    const Watch *wt = &iw->watch;
    return wt->final && !verdict_commits(wt->rec->verdict);
}

void inline_watch_failed(InlineWatch *iw)
{
    Watch *wt = &iw->watch;
    MemoryContext old = MemoryContextSwitchTo(wt->home);
    if (!inline_watch_rolls_back(iw))
        record_failure(wt, GetCurrentTimestamp());
    MemoryContextSwitchTo(old);
}

void inline_watch_end(InlineWatch *iw)
{
    Watch *wt = &iw->watch;
    if (wt->sampling >= 0)
        (void) build_sampler_stop();
    AttemptRecord *rec = wt->rec;
    rec->rows = wt->view.rows;
    rec->query_id = wt->view.query_id;
    if (rec->verdict == Verdict::Pending)
        rec->verdict = Verdict::Failed;
    if (rec->elapsed_ms == 0.0)
        rec->elapsed_ms = ms_between(wt->start, GetCurrentTimestamp());
    free_watch(wt);
}

} // namespace pg_guard
