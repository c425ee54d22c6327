/*
 * as_written.cpp: with parallel_guard.target above 0, the statements a
 * session already runs (CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED
 * VIEW, REFRESH MATERIALIZED VIEW, CREATE INDEX) are guarded as written: in
 * the session's own backend and transaction, with their bind parameters,
 * returning the plain command tag.
 *
 * A utility hook takes each such statement and hands it to the attempt loop
 * that run() uses (attempt_loop.cpp), with a runner of its own: each attempt
 * runs the statement, as the plain statement would run it, inside an
 * internal subtransaction (as a PL/pgSQL block with an EXCEPTION clause
 * does), while this process publishes its own launches (launch_sites.cpp)
 * and judges them as it goes (inline_watch_*, watcher.cpp).  A launch that
 * comes up short ends the statement at once with an ERROR, and the
 * subtransaction is rolled back: no table, index, lock or worker is left,
 * and the caller's transaction goes on.  A good attempt's subtransaction is
 * released into the caller's transaction, which commits or rolls it back as
 * it would the plain statement.  Each retry takes the snapshot a new
 * statement would take.
 */
#include "as_written.hpp"

#include "attempt_loop.hpp"
#include "boundary.hpp"
#include "build_sampler.hpp"
#include "history.hpp"
#include "bgworker_slots.hpp"
#include "launch_sites.hpp"
#include "module.hpp"
#include "queue.hpp"
#include "reservation.hpp"
#include "statement.hpp"
#include "stats.hpp"
#include "watcher.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "parser/parse_func.h"
#include "utils/snapmgr.h"
}

/* What PostgreSQL calls: C linkage, a tiny guard around its C++ twin. */
extern "C" {
static void guard_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
                                  ProcessUtilityContext context, ParamListInfo params,
                                  QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc);
}

namespace pg_guard {

namespace {

ProcessUtility_hook_type prev_process_utility = nullptr;
bool guarding = false; /* a statement of this backend is being guarded */

void call_next(PlannedStmt *pstmt, const char *query, bool read_only_tree,
               ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *env,
               DestReceiver *dest, QueryCompletion *qc)
{
    if (prev_process_utility)
        prev_process_utility(pstmt, query, read_only_tree, context, params, env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query, read_only_tree, context, params, env, dest, qc);
}

/* Whether the statement is one the guard runs, and which. */
bool guardable(const Node *stmt, StatementKind *kind)
{
    if (IsA(stmt, CreateTableAsStmt)) {
        const auto *ctas = castNode(CreateTableAsStmt, const_cast<Node *>(stmt));
        if (ctas->objtype == OBJECT_MATVIEW)
            *kind = StatementKind::CreateMatView;
        else
            *kind = ctas->is_select_into ? StatementKind::SelectInto : StatementKind::CreateTableAs;
        return true;
    }
    if (IsA(stmt, RefreshMatViewStmt)) {
        *kind = StatementKind::RefreshMatView;
        return true;
    }
    if (IsA(stmt, IndexStmt)) {
        *kind = StatementKind::CreateIndex;
        return true;
    }
    return false;
}

/*
 * Only a role that may execute parallel_guard.run() gets guarded statements
 * (and so reserved workers): checked at each statement, as EXECUTE is.
 */
void check_may_guard()
{
    Oid argtypes[] = {TEXTOID, INT4OID, INT4OID, INT4OID, INTERVALOID};
    List *name = list_make2(makeString(pstrdup("parallel_guard")), makeString(pstrdup("run")));
    Oid run = LookupFuncName(name, 5, argtypes, true);
    if (!OidIsValid(run))
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("extension \"parallel_guard\" is not installed in this database"),
                 errdetail("\"parallel_guard.target\" is %d: this statement would be guarded, "
                           "and guarding needs the extension.",
                           guard_target()),
                 errhint("Run CREATE EXTENSION parallel_guard, or RESET parallel_guard.target.")));
    if (object_aclcheck(ProcedureRelationId, run, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("permission denied to guard statements with \"parallel_guard.target\""),
                 errdetail("Guarded statements need the EXECUTE privilege on function "
                           "parallel_guard.run(), which role \"%s\" lacks.",
                           GetUserNameFromId(GetUserId(), false)),
                 errhint("Grant EXECUTE on function parallel_guard.run() to the role, or RESET "
                         "parallel_guard.target.")));
}

/* The statement's own text within the query string (it may hold several). */
const char *statement_text(const PlannedStmt *pstmt, const char *query)
{
    if (query == nullptr)
        return "";
    int location = pstmt->stmt_location;
    int length = pstmt->stmt_len;
    int total = static_cast<int>(strlen(query));
    if (location < 0 || location > total)
        return query;
    if (length <= 0 || location + length > total)
        length = total - location;
    return pnstrdup(query + location, length);
}

RunSpec spec_from_settings(StatementKind kind, const Node *stmt, const char *sql)
{
    RunSpec spec;
    memset(&spec, 0, sizeof(spec));
    spec.sql = sql;
    spec.kind = kind;
    spec.as_written = true;
    spec.target = guard_target();
    spec.min = guard_min(spec.target);
    spec.retries = guard_retries();
    spec.delay_ms = guard_delay_ms();
    if (spec.min > spec.target)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("\"parallel_guard.min\" (%d) must not exceed "
                               "\"parallel_guard.target\" (%d)",
                               spec.min, spec.target),
                        errhint("Lower \"parallel_guard.min\", or RESET it to follow "
                                "\"parallel_guard.target\".")));
    RawStmt raw;
    memset(&raw, 0, sizeof(raw));
    raw.type = T_RawStmt;
    raw.stmt = const_cast<Node *>(stmt);
    GuardedStatement st = {&raw, kind, nullptr};
    spec.max_sites = launch_site_room(st);
    /* The statement gets at least target workers to plan with, as with run(). */
    spec.per_gather = -1;
    spec.maintenance = -1;
    bool builds = is_index_build(kind) || kind == StatementKind::RefreshMatView;
    if (builds && max_parallel_maintenance_workers < spec.target)
        spec.maintenance = spec.target;
    if (!is_index_build(kind) && max_parallel_workers_per_gather < spec.target)
        spec.per_gather = spec.target;
    return spec;
}

/* ---- the runner: each attempt in a subtransaction of the caller's ---- */

struct Statement {
    PlannedStmt *pstmt;
    const char *query;
    ProcessUtilityContext context;
    ParamListInfo params;
    QueryEnvironment *env;
    DestReceiver *dest;
    QueryCompletion *qc;
};

struct InlineRunner {
    Statement st;
    GuardShared *shared; /* in this process's memory: nobody else reads it */
    LaunchSite *sites;
    InlineWatch *watch;
    bool serving;
};

void look(void *arg)
{
    auto *r = static_cast<InlineRunner *>(arg);
    inline_watch_look(r->watch, true);
}

void stop_publishing(InlineRunner *r)
{
    launch_sites_end();
    (void) build_sampler_stop();
    if (r->serving)
        reservation_serve_caller(-1);
    r->serving = false;
}

void inline_attempt(void *arg, const RunSpec &spec, AttemptRecord *rec, TimestampTz start)
{
    auto *r = static_cast<InlineRunner *>(arg);
    Statement &st = r->st;
    MemoryContext cxt = CurrentMemoryContext;
    ResourceOwner owner = CurrentResourceOwner;

    memset(r->shared, 0, sizeof(GuardShared));
    SpinLockInit(&r->shared->mutex);
    r->shared->caller_procno = -1; /* the judge is called, nobody is woken */
    r->shared->worker_procno = MyProcNumber;
    r->shared->state = WorkerState::Running;
    r->shared->target = spec.target;
    r->shared->max_sites = spec.max_sites;
    memset(r->sites, 0, sizeof(LaunchSite) * static_cast<Size>(spec.max_sites));
    r->watch = inline_watch_begin(spec, rec, start, r->shared, r->sites);
    reservation_serve_caller(MyProcNumber); /* its launches are the run's own */
    r->serving = true;
    if (st.qc)
        InitializeQueryCompletion(st.qc);

    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(cxt);
    ErrorData *volatile edata = nullptr;
    PG_TRY();
    {
        PushActiveSnapshot(GetTransactionSnapshot());
        launch_sites_begin(r->shared, r->sites, spec.kind, look, r);
        call_next(st.pstmt, st.query, true, st.context, st.params, st.env, st.dest, st.qc);
        launch_sites_end();
        r->shared->rows = st.qc ? st.qc->nprocessed : 0;
        r->shared->state = WorkerState::Executed;
        r->shared->change++;
        /* A short build's cancel that has not fired yet: the look judges it. */
        (void) build_sampler_cancelled(true);
        inline_watch_look(r->watch, false);
        PopActiveSnapshot();
    }
    PG_CATCH();
    {
        launch_sites_end();
        MemoryContextSwitchTo(cxt);
        edata = CopyErrorData();
        FlushErrorState();
    }
    PG_END_TRY();

    bool our_cancel = build_sampler_cancelled(true);
    stop_publishing(r);
    if (edata != nullptr || inline_watch_rolls_back(r->watch))
        RollbackAndReleaseCurrentSubTransaction();
    else
        ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(cxt);
    CurrentResourceOwner = owner;

    if (edata != nullptr && our_cancel && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
        inline_watch_look(r->watch, false); /* the build the sampler found short */
    queue_statement_finished();
    if (edata != nullptr && !inline_watch_rolls_back(r->watch)) {
        inline_watch_failed(r->watch);
        inline_watch_end(r->watch);
        r->watch = nullptr;
        ReThrowError(edata);
    }
    bool rolled_back = inline_watch_rolls_back(r->watch);
    inline_watch_end(r->watch);
    r->watch = nullptr;
    if (rolled_back && st.qc)
        InitializeQueryCompletion(st.qc);
}

void inline_abandon(void *arg)
{
    auto *r = static_cast<InlineRunner *>(arg);
    stop_publishing(r);
}

/* CREATE INDEX CONCURRENTLY commits on its own: no subtransaction can hold it. */
void run_unguarded(const Statement &st, StatementKind kind, const char *why)
{
    RunSpec spec;
    memset(&spec, 0, sizeof(spec));
    spec.sql = statement_text(st.pstmt, st.query);
    spec.kind = kind;
    spec.as_written = true;
    spec.query_id = st.pstmt->queryId;
    spec.target = guard_target();
    spec.min = guard_min(spec.target);
    spec.retries = guard_retries();
    TimestampTz start = GetCurrentTimestamp();
    ereport(NOTICE, (errmsg("parallel_guard: %s is not guarded", why),
                     errdetail("It cannot run inside a subtransaction, which "
                               "\"parallel_guard.target\" needs to roll back a short attempt; it "
                               "runs as the plain statement.")));
    ereport(LOG, (errmsg("parallel_guard: %s is not guarded", why)));
    call_next(st.pstmt, st.query, false, st.context, st.params, st.env, st.dest, st.qc);
    (void) history_record(spec, nullptr, 0, start, RunOutcome::NotGuarded, 0);
    stats_record_run(nullptr, 0, RunOutcome::NotGuarded, 0);
}

void guard_as_written(const Statement &st, StatementKind kind)
{
    const Node *stmt = st.pstmt->utilityStmt;
    if (kind == StatementKind::CreateIndex && castNode(IndexStmt, const_cast<Node *>(stmt))->concurrent) {
        run_unguarded(st, kind, "CREATE INDEX CONCURRENTLY");
        return;
    }
    check_may_guard();
    if ((is_index_build(kind) || kind == StatementKind::RefreshMatView) &&
        !bgworker_slots_available())
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("parallel index builds cannot be guarded as written on this "
                               "server"),
                        errdetail("This server does not let parallel_guard count parallel index "
                                  "builds in the session that runs them."),
                        errhint("Use parallel_guard.run() for this statement.")));
    RunSpec spec = spec_from_settings(kind, stmt, statement_text(st.pstmt, st.query));
    spec.query_id = st.pstmt->queryId;
    check_guard_settings(spec, 0);

    int nest = -1;
    if (spec.per_gather >= 0 || spec.maintenance >= 0) {
        nest = NewGUCNestLevel();
        if (spec.per_gather >= 0)
            (void) set_config_option("max_parallel_workers_per_gather",
                                     psprintf("%d", spec.per_gather), PGC_USERSET, PGC_S_SESSION,
                                     GUC_ACTION_SAVE, true, 0, false);
        if (spec.maintenance >= 0)
            (void) set_config_option("max_parallel_maintenance_workers",
                                     psprintf("%d", spec.maintenance), PGC_USERSET,
                                     PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    }

    auto *r = static_cast<InlineRunner *>(palloc0(sizeof(InlineRunner)));
    r->st = st;
    r->shared = static_cast<GuardShared *>(palloc0(sizeof(GuardShared)));
    r->sites = static_cast<LaunchSite *>(palloc0(sizeof(LaunchSite) * spec.max_sites));
    QueryCompletion own_qc;
    if (r->st.qc == nullptr)
        r->st.qc = &own_qc; /* the rows written, for the verdict's record */

    guarding = true;
    PG_TRY();
    {
        (void) guard_attempts(spec, {inline_attempt, inline_abandon, r});
    }
    PG_FINALLY();
    {
        guarding = false;
    }
    PG_END_TRY();
    if (nest >= 0)
        AtEOXact_GUC(true, nest);
}

void as_written_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
                                ProcessUtilityContext context, ParamListInfo params,
                                QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    StatementKind kind;
    if (guard_target() <= 0 || guarding || launch_sites_active() || IsParallelWorker() ||
        !guardable(pstmt->utilityStmt, &kind)) {
        call_next(pstmt, query, read_only_tree, context, params, env, dest, qc);
        return;
    }
    guard_as_written({pstmt, query, context, params, env, dest, qc}, kind);
}

} // namespace

void as_written_install_hook()
{
    prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = guard_process_utility;
}

} // namespace pg_guard

static void guard_process_utility(PlannedStmt *pstmt, const char *query, bool read_only_tree,
                                  ProcessUtilityContext context, ParamListInfo params,
                                  QueryEnvironment *env, DestReceiver *dest, QueryCompletion *qc)
{
    pg_guard::cpp_call([&] {
        pg_guard::as_written_process_utility(pstmt, query, read_only_tree, context, params, env,
                                             dest, qc);
    });
}
