/*
 * messages.cpp: message text, built with Boost.Format behind cpp_call().
 *
 * Message style (PostgreSQL's Error Message Style Guide), for every file:
 *  - Prefix: NOTICE, LOG and DEBUG lines start with "parallel_guard: "; they
 *    mix with a script's other NOTICEs or with the whole server log, where
 *    nothing else says where they come from.  ERRORs and WARNINGs have no
 *    prefix: they answer a call of parallel_guard's (or a guarded
 *    statement), and their SQLSTATE and CONTEXT identify them.  An internal
 *    error that may surface in any statement (a hook's) names parallel_guard
 *    in its words instead.
 *  - Primary messages are short, lower case, without a period; the reason
 *    goes to the DETAIL, what to do to the HINT, both complete sentences.
 *  - Configuration names are in double quotes ("max_parallel_workers"),
 *    except inside SQL shown as a command (SET parallel_guard.min = 0).
 *  - A counted noun agrees with its number: errmsg_plural()/errdetail_plural(),
 *    or plural() below for the text composed here.
 *  - User-facing text goes through errmsg()/errdetail()/errhint() with a
 *    literal format (the attempt NOTICEs too: one format per verdict, with
 *    the counts composed here as arguments); errmsg_internal() is for what
 *    should never happen and for the LOG lines, whose key=value format is
 *    parsed and never translated.
 *
 * The strings are composed in C++ and copied into palloc'd memory through
 * pg_call(); the ereport() calls happen afterwards in plain frames, so no
 * std::string is alive when PostgreSQL may raise an error.
 *
 * The LOG lines are key=value pairs in a fixed order, so log tools can parse
 * them:  parallel_guard: attempt=2/5 worker_pid=1234 planned=4 launched=4 ...
 */
#include "messages.hpp"

#include "boundary.hpp"

#include <boost/format.hpp>
#include <string>

namespace pg_guard {

namespace {

char *to_palloc(const std::string &s)
{
    char *out = nullptr;
    pg_call([&] { out = pstrdup(s.c_str()); });
    return out;
}

/* "1 parallel worker", "2 parallel workers" */
std::string plural(long n, const char *one, const char *many)
{
    return (boost::format("%d %s") % n % (n == 1 ? one : many)).str();
}

std::string delay_string(long ms)
{
    if (ms % 1000 == 0)
        return (boost::format("%d s") % (ms / 1000)).str();
    return (boost::format("%d ms") % ms).str();
}

const char *counted_token(Counted c)
{
    switch (c) {
    case Counted::Gather: return "gather";
    case Counted::Registrations: return "registrations";
    case Counted::LockGroup: return "lock_group";
    }
    return "?";
}

const char *kWorker = "parallel worker";
const char *kWorkers = "parallel workers";

/* "launched 2 parallel workers", "launched 1 parallel worker (counted in the
 * lock group)" */
std::string launched_string(const AttemptRecord &r)
{
    if (r.launched < 0)
        return "no parallel workers launched";
    std::string out = "launched " + plural(r.launched, kWorker, kWorkers);
    if (r.counted == Counted::LockGroup)
        out += " (counted in the lock group)";
    return out;
}

/* " in 3 launches (Gather (node 2) over mid)": where it was decided */
std::string where_string(const AttemptRecord &r)
{
    std::string out;
    if (r.launches > 1)
        out += (boost::format(" in %d launches") % r.launches).str();
    /* The place is named when the statement launched from several, and when
     * the plan limits the attempt; a query without Gather needs no name. */
    const char *site = deciding_site(r);
    bool limited = r.verdict == Verdict::PlanLimited || r.verdict == Verdict::PlanTooSmall;
    if (site && (r.nsites > 1 || limited) && r.sites[r.site].kind != SiteKind::SerialQuery)
        out += (boost::format(" (%s)") % site).str();
    return out;
}

/* "planned 4, launched 2 parallel workers" (the fewest of any launch) */
std::string workers_string(const AttemptRecord &r)
{
    if (r.planned < 0)
        return launched_string(r);
    if (r.launched < 0)
        return (boost::format("planned %s, none launched") % plural(r.planned, kWorker, kWorkers))
            .str();
    return (boost::format("planned %d, %s%s") % r.planned % launched_string(r) % where_string(r))
        .str();
}

/* The parts of an attempt's reports that are composed here: the counts and
 * the deciding launch (workers, where), the delay, the timings of the
 * NOTICE's DETAIL, and the whole LOG line. */
struct AttemptText {
    char *workers;
    char *where;
    char *delay;
    char *timing;
    char *log;
};

AttemptText attempt_text(const RunSpec &s, const AttemptRecord &r)
{
    std::string timing =
        r.launched < 0
            ? (boost::format("Verdict %.1f ms after the attempt started.") % r.elapsed_ms).str()
            : (boost::format("Verdict %.1f ms after the launch, %.1f ms after the attempt "
                             "started.") %
               r.verdict_ms % r.elapsed_ms)
                  .str();
    if (r.queued_ms >= 1.0)
        timing += (boost::format(" Waited %.1f ms in the queue before launching%s.") % r.queued_ms %
                   (r.queue_room ? "" : " (the queue wait ran out)"))
                      .str();
    std::string log =
        (boost::format("parallel_guard: attempt=%d/%d worker_pid=%d planned=%d launched=%d "
                       "target=%d min=%d verdict=%s counted=%s verdict_ms=%.3f "
                       "elapsed_ms=%.3f queued_ms=%.3f launches=%d") %
         r.number % s.retries % r.worker_pid % r.planned % r.launched % s.target % s.min %
         verdict_name(r.verdict) % counted_token(r.counted) % r.verdict_ms % r.elapsed_ms %
         r.queued_ms % r.launches)
            .str();
    return {to_palloc(workers_string(r)), to_palloc(where_string(r)),
            to_palloc(delay_string(s.delay_ms)), to_palloc(timing), to_palloc(log)};
}

/*
 * The NOTICE of an attempt's verdict: one literal (translatable) format per
 * verdict, the composed parts as arguments; the reason, where there is
 * one, opens the DETAIL.
 */
void notice_attempt(const RunSpec &s, const AttemptRecord &r, const AttemptText &t, bool revised)
{
    int n = r.number;
    int of = s.retries;
    const char *rev = revised ? ", revised by a later launch" : "";
    switch (r.verdict) {
    case Verdict::Met:
        ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: %s: target %d met", n, of, rev,
                                t.workers, s.target),
                         errdetail_internal("%s", t.timing)));
        return;
    case Verdict::PlanLimited:
        if (r.planned == 0)
            ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: the plan uses no "
                                    "parallel workers; accepted",
                                    n, of, rev),
                             errdetail("Retrying cannot change the plan, and min %d accepts it. "
                                       "%s",
                                       s.min, t.timing)));
        else
            ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: %s: the plan asks for "
                                    "fewer than target %d; accepted",
                                    n, of, rev, t.workers, s.target),
                             errdetail("Retrying cannot change the plan. %s", t.timing)));
        return;
    case Verdict::Short:
        ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: %s: short of target %d; "
                                "rolled back, next attempt in %s",
                                n, of, rev, t.workers, s.target, t.delay),
                         errdetail_internal("%s", t.timing)));
        return;
    case Verdict::AcceptedShort:
        ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: %s: short of target %d, at "
                                "least min %d on the last attempt; accepted",
                                n, of, rev, t.workers, s.target, s.min),
                         errdetail_internal("%s", t.timing)));
        return;
    case Verdict::BelowMin:
        ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: %s: fewer than min %d on the "
                                "last attempt; rolled back",
                                n, of, rev, t.workers, s.min),
                         errdetail_internal("%s", t.timing)));
        return;
    case Verdict::PlanTooSmall:
        ereport(NOTICE, (errmsg_plural("parallel_guard: attempt %d of %d%s: the plan asks for %d "
                                       "parallel worker%s, fewer than min %d; rolled back",
                                       "parallel_guard: attempt %d of %d%s: the plan asks for %d "
                                       "parallel workers%s, fewer than min %d; rolled back",
                                       static_cast<unsigned long>(Max(r.planned, 0)), n, of, rev,
                                       r.planned, t.where, s.min),
                         errdetail("Retrying cannot change the plan. %s", t.timing)));
        return;
    case Verdict::NotRun:
        ereport(NOTICE, (errmsg("parallel_guard: attempt %d of %d%s: the statement ran no query "
                                "and built no index; committed",
                                n, of, rev),
                         errdetail("There were no parallel workers to guard: for example, CREATE "
                                   "TABLE IF NOT EXISTS found the table. %s",
                                   t.timing)));
        return;
    case Verdict::Failed:
        ereport(NOTICE,
                (errmsg("parallel_guard: attempt %d of %d%s: the statement failed", n, of, rev),
                 errdetail_internal("%s", t.timing)));
        return;
    case Verdict::Pending: break;
    }
    ereport(NOTICE, (errmsg_internal("parallel_guard: attempt %d of %d%s: undecided", n, of, rev),
                     errdetail_internal("%s", t.timing)));
}

} // namespace

const char *verdict_name(Verdict v)
{
    switch (v) {
    case Verdict::Pending: return "pending";
    case Verdict::Met: return "met";
    case Verdict::PlanLimited: return "plan_limited";
    case Verdict::Short: return "short";
    case Verdict::AcceptedShort: return "accepted_short";
    case Verdict::BelowMin: return "below_min";
    case Verdict::PlanTooSmall: return "plan_too_small";
    case Verdict::NotRun: return "not_run";
    case Verdict::Failed: return "failed";
    }
    return "unknown";
}

const char *run_verdict_name(RunOutcome outcome, Verdict last, int sqlstate)
{
    switch (outcome) {
    case RunOutcome::Error: return sqlstate == ERRCODE_QUERY_CANCELED ? "cancelled" : "error";
    case RunOutcome::NotGuarded: return "not_guarded";
    case RunOutcome::Committed:
    case RunOutcome::Shortfall: break;
    }
    return verdict_name(last);
}

void report_attempt(const RunSpec &spec, const AttemptRecord &rec, AttemptReport what)
{
    AttemptText t = cpp_call([&] { return attempt_text(spec, rec); });
    if (what == AttemptReport::Log)
        ereport(LOG_SERVER_ONLY, (errmsg_internal("%s", t.log), errhidestmt(true)));
    else
        notice_attempt(spec, rec, t, what == AttemptReport::Revised);
}

void report_run(const RunSpec &spec, const AttemptRecord *recs, int n, double total_ms,
                uint64 run_id)
{
    char *line = cpp_call([&] {
        const AttemptRecord &last = recs[n - 1];
        RunOutcome outcome =
            verdict_commits(last.verdict) ? RunOutcome::Committed : RunOutcome::Shortfall;
        return to_palloc((boost::format("parallel_guard: run kind=%s attempts=%d/%d target=%d "
                                        "min=%d planned=%d launched=%d verdict=%s rows=%llu "
                                        "total_ms=%.3f launches=%d guarded_by=%s run_id=%llu") %
                          statement_kind_token(spec.kind) % n % spec.retries % spec.target %
                          spec.min % last.planned % last.launched %
                          run_verdict_name(outcome, last.verdict, 0) %
                          static_cast<unsigned long long>(last.rows) % total_ms % last.launches %
                          (spec.as_written ? "parallel_guard.target" : "run()") %
                          static_cast<unsigned long long>(run_id))
                             .str());
    });
    ereport(LOG_SERVER_ONLY, (errmsg_internal("%s", line), errhidestmt(true)));
}

char *attempts_detail(const RunSpec &spec, const AttemptRecord *recs, int n)
{
    return cpp_call([&] {
        std::string out;
        for (int i = 0; i < n; i++) {
            const AttemptRecord &r = recs[i];
            if (i > 0)
                out += ' ';
            out += (boost::format("Attempt %d of %d: %s.") % r.number % spec.retries %
                    workers_string(r))
                       .str();
        }
        return to_palloc(out);
    });
}

char *delay_text(long ms)
{
    return cpp_call([&] { return to_palloc(delay_string(ms)); });
}

} // namespace pg_guard
