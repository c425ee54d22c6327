/*
 * run.cpp: the SQL entry point parallel_guard.run(), whose attempts each run
 * in a background worker of their own.
 *
 *   validate the arguments and the statement  (nothing started yet)
 *   the attempts (attempt_loop.cpp), each: start a worker, watch its
 *   launches, commit or roll back (watcher.cpp)
 *   return one row
 *
 * If anything raises an error (a cancel, statement_timeout, the statement's
 * own error), the current worker is terminated and waited for before the
 * error leaves.
 */
#include "attempt.hpp"
#include "attempt_loop.hpp"
#include "boundary.hpp"
#include "launcher.hpp"
#include "messages.hpp"
#include "statement.hpp"
#include "watcher.hpp"

extern "C" {
PG_FUNCTION_INFO_V1(parallel_guard_run);
}

namespace pg_guard {

namespace {

int int_arg(FunctionCallInfo fcinfo, int i, const char *name)
{
    if (PG_ARGISNULL(i))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("%s of parallel_guard.run() must not be NULL", name)));
    return PG_GETARG_INT32(i);
}

/*
 * The interval in milliseconds.  Counted in milliseconds, not microseconds,
 * every interval fits in 64 bits: |month| <= 2^31 gives at most 5.6e18 ms,
 * |day| <= 2^31 adds 1.9e17 and time/1000 9.2e15, below 9.2e18.
 */
long interval_ms(const Interval *iv)
{
    constexpr int64 kMsPerDay = static_cast<int64>(SECS_PER_DAY) * 1000;
    return static_cast<long>(iv->month * (DAYS_PER_MONTH * kMsPerDay) + iv->day * kMsPerDay +
                             iv->time / 1000);
}

RunSpec read_arguments(FunctionCallInfo fcinfo)
{
    RunSpec spec;
    memset(&spec, 0, sizeof(spec));

    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("sql of parallel_guard.run() must not be NULL")));
    spec.sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
    spec.target = int_arg(fcinfo, 1, "target");
    spec.min = int_arg(fcinfo, 2, "min");
    spec.retries = int_arg(fcinfo, 3, "retries");
    if (PG_ARGISNULL(4))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("delay of parallel_guard.run() must not be NULL")));
    const Interval *delay = PG_GETARG_INTERVAL_P(4);

    if (spec.target < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("target must be at least 1, not %d", spec.target)));
    if (spec.min < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("min must not be negative, not %d", spec.min)));
    if (spec.min > spec.target)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("min (%d) must not exceed target (%d)", spec.min, spec.target)));
    if (spec.retries < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("retries must be at least 1, not %d", spec.retries),
                        errdetail("The argument retries counts every attempt, the first "
                                  "included: 1 means a single attempt and no retry.")));
    /* 17 and later have infinite intervals: -infinity is negative, infinity
     * is no delay one can wait out. */
    if (INTERVAL_IS_NOBEGIN(delay))
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("delay must not be negative")));
    if (INTERVAL_NOT_FINITE(delay))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("delay must be finite"),
                        errhint("Give the wait between two attempts, such as '2 seconds'; "
                                "\"statement_timeout\" bounds the whole call.")));
    spec.delay_ms = interval_ms(delay);
    if (spec.delay_ms < 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("delay must not be negative")));

    return spec;
}

/*
 * The worker commits on its own: say what that means for the caller.  In a
 * subtransaction too: psql's ON_ERROR_ROLLBACK and pgjdbc's autosave put
 * every statement of a transaction block in a savepoint, and a ROLLBACK of
 * the savepoint or of the block does not remove the table either.  (A
 * PL/pgSQL block with EXCEPTION in autocommit mode is a subtransaction as
 * well: the NOTICE holds there too, since an error after run() rolls back
 * the caller's work but not the table.)
 */
void warn_about_transaction()
{
    if (IsolationUsesXactSnapshot())
        ereport(WARNING,
                (errmsg("the calling transaction will not see the rows that "
                        "parallel_guard.run() writes"),
                 errdetail("The statement commits in its own transaction; this %s transaction "
                           "keeps its older snapshot, so the new table looks empty to it.",
                           IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
                 errhint("Read the table in a new transaction, or call parallel_guard.run() "
                         "at READ COMMITTED.")));
    else if (IsTransactionBlock() || IsSubTransaction())
        ereport(NOTICE,
                (errmsg("parallel_guard: run() commits independently of the calling "
                        "transaction"),
                 errdetail("A later ROLLBACK, of a savepoint or of the whole transaction, does "
                           "not remove the table.")));
}

[[noreturn]] void raise_worker_error(const RunSpec &spec, const AttemptRecord &rec, ErrorData *err)
{
    if (err == nullptr)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("parallel_guard background worker (PID %d) exited unexpectedly",
                               rec.worker_pid),
                        errdetail("Attempt %d of %d; its transaction was rolled back.", rec.number,
                                  spec.retries)));
    err->elevel = ERROR; /* a worker's FATAL ends the worker, not us */
    if (err->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN) {
        /*
         * A server shutdown signals this backend right after (or before) its
         * worker.  Let that signal end us as it ends a plain statement (FATAL
         * 57P01), rather than reach the client after an ERROR of ours: the
         * worker needs far longer to die and tell us than the postmaster
         * needs to signal us, so a short wait suffices.  A worker terminated
         * on its own (pg_terminate_backend) costs the caller these 20 ms.
         */
        CHECK_FOR_INTERRUPTS();
        sleep_ms(20);
        /* 57P01 would tell connection pools that *our* connection died. */
        err->sqlerrcode = ERRCODE_QUERY_CANCELED;
        err->detail = psprintf("The parallel_guard background worker (PID %d) was terminated: %s",
                               rec.worker_pid, err->message);
        err->message = pstrdup("parallel_guard background worker was terminated");
    }
    if (err->cursorpos > 0) {
        /* The position is in the guarded text, not in the caller's query. */
        err->internalpos = err->cursorpos;
        err->internalquery = pstrdup(spec.sql);
        err->cursorpos = 0;
    }
    const char *ours = psprintf("parallel_guard.run() attempt %d of %d", rec.number, spec.retries);
    err->context = err->context ? psprintf("%s\n%s", err->context, ours) : pstrdup(ours);
    ThrowErrorData(err);
    pg_unreachable();
}

/* ---- the runner: one background worker per attempt ---- */

struct WorkerRunner {
    WorkerRun *current;
};

void worker_attempt(void *arg, const RunSpec &spec, AttemptRecord *rec, TimestampTz start)
{
    auto *r = static_cast<WorkerRunner *>(arg);
    r->current = launch_worker(spec);
    watch_attempt(r->current, spec, rec, start);
    ErrorData *err = r->current->error;
    release_worker(r->current);
    r->current = nullptr;
    if (rec->verdict == Verdict::Failed)
        raise_worker_error(spec, *rec, err);
}

void worker_abandon(void *arg)
{
    auto *r = static_cast<WorkerRunner *>(arg);
    stop_worker_quietly(r->current);
    r->current = nullptr;
}

Datum run_sql_function(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    RunSpec spec = read_arguments(fcinfo);

    PreventCommandIfReadOnly("parallel_guard.run()");
    PreventCommandIfParallelMode("parallel_guard.run()");
    GuardedStatement st = parse_guarded_statement(spec.sql);
    check_target_relation(st);
    check_statement_reads(st, spec.sql);
    spec.kind = st.kind;
    spec.max_sites = launch_site_room(st);
    /* The statement gets at least target workers to plan with. */
    spec.per_gather = -1;
    spec.maintenance = -1;
    bool builds = is_index_build(st.kind) || st.kind == StatementKind::RefreshMatView;
    if (builds && max_parallel_maintenance_workers < spec.target)
        spec.maintenance = spec.target; /* REFRESH rebuilds the view's indexes */
    if (!is_index_build(st.kind) && max_parallel_workers_per_gather < spec.target)
        spec.per_gather = spec.target;
    check_guard_settings(spec, 1);
    warn_about_transaction();

    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    release_late_cancels_with(rsinfo->econtext->ecxt_per_query_memory);
    auto *runner_state = static_cast<WorkerRunner *>(palloc0(sizeof(WorkerRunner)));
    AttemptLog log = guard_attempts(spec, {worker_attempt, worker_abandon, runner_state});
    const AttemptRecord &last = log.recs[log.n - 1];

    /* Before 1.4 run() returns the first 5 columns: the descriptor's natts
     * are used. */
    Datum values[7];
    bool nulls[7] = {false, false, false, false, false, false, false};
    values[0] = Int32GetDatum(last.launched);
    values[1] = Int32GetDatum(log.n);
    values[2] = BoolGetDatum(last.launched >= spec.target);
    values[3] = Int32GetDatum(last.planned);
    nulls[3] = last.planned < 0;
    values[4] = Int64GetDatum(static_cast<int64>(last.rows));
    /* The history's verdict of a committed run: met, plan_limited,
     * accepted_short or not_run. */
    values[5] = CStringGetTextDatum(run_verdict_name(RunOutcome::Committed, last.verdict, 0));
    values[6] = Int64GetDatum(static_cast<int64>(log.run_id));
    nulls[6] = log.run_id == 0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    return static_cast<Datum>(0);
}

} // namespace

} // namespace pg_guard

Datum parallel_guard_run(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::run_sql_function(fcinfo); });
}
