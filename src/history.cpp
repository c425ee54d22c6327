/*
 * history.cpp: a shared-memory ring of the outcomes of recent guarded runs,
 * readable as the view parallel_guard.history and cleared by
 * parallel_guard.history_reset().
 *
 * Writers take the LWLock exclusively for a memcpy-sized moment; readers
 * copy the ring under a shared lock and build the rows afterwards.
 */
#include "history.hpp"

#include "boundary.hpp"
#include "messages.hpp"
#include "module.hpp"

namespace pg_guard {

namespace {

constexpr int kStatementChars = 160; /* the statement's first line, truncated */
constexpr int kAttemptsKept = 16;    /* per run; later attempts are counted only */
constexpr int kLaunchesKept = 32;    /* launch sites per run, over all its attempts */

/* One launch site of one attempt. */
struct LaunchKept {
    int attempt;
    int planned;
    int launches;
    int fewest;
    char label[kSiteLabel];
};

struct HistoryEntry {
    uint64 run_id; /* 0: empty slot */
    TimestampTz started;
    TimestampTz ended;
    pid_t pid;
    Oid database_id;
    Oid user_id;
    StatementKind kind;
    bool as_written; /* guarded by parallel_guard.target, not run() */
    int target;
    int min;
    int retries;
    int attempts;
    int planned[kAttemptsKept];
    int launched[kAttemptsKept];
    int achieved;
    Verdict verdict;
    RunOutcome outcome;
    int sqlstate;
    uint64 rows;
    char statement[kStatementChars];
    int nlaunches;
    LaunchKept launches[kLaunchesKept];
};

struct HistoryShared {
    LWLock *lock;
    uint64 next_run_id;
    int size;
    HistoryEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

HistoryShared *history = nullptr;

/* The statement's first non-empty line, without leading blanks. */
void first_line(const char *sql, char *out, int outlen)
{
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
        sql++;
    int n = 0;
    while (sql[n] && sql[n] != '\n' && sql[n] != '\r')
        n++;
    n = pg_mbcliplen(sql, n, outlen - 1);
    memcpy(out, sql, n);
    out[n] = '\0';
}

const char *outcome_verdict(const HistoryEntry &e)
{
    if (e.outcome == RunOutcome::Error)
        return e.sqlstate == ERRCODE_QUERY_CANCELED ? "cancelled" : "error";
    if (e.outcome == RunOutcome::NotGuarded)
        return "not_guarded";
    return verdict_name(e.verdict);
}

Datum int_array(const int *values, int n)
{
    Datum *d = static_cast<Datum *>(palloc(sizeof(Datum) * Max(n, 1)));
    for (int i = 0; i < n; i++)
        d[i] = Int32GetDatum(values[i]);
    return PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/* The kept runs, copied under the lock; rows are built from the copy. */
HistoryEntry *copy_history(int *n)
{
    auto *copy = static_cast<HistoryEntry *>(palloc(sizeof(HistoryEntry) * history->size));
    LWLockAcquire(history->lock, LW_SHARED);
    for (int i = 0; i < history->size; i++)
        if (history->entries[i].run_id != 0)
            copy[(*n)++] = history->entries[i];
    LWLockRelease(history->lock);
    return copy;
}

Datum history_view(FunctionCallInfo fcinfo)
{
    require_shared_memory("parallel_guard.history");
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!history)
        return static_cast<Datum>(0);

    int n = 0;
    HistoryEntry *copy = copy_history(&n);

    for (int i = 0; i < n; i++) {
        const HistoryEntry &e = copy[i];
        constexpr int kCols = 19; /* 18 before 1.3: the descriptor's natts are used */
        Datum v[kCols];
        bool nulls[kCols];
        memset(nulls, 0, sizeof(nulls));
        int kept = Min(e.attempts, kAttemptsKept);
        const char *db = get_database_name(e.database_id);
        const char *user = GetUserNameFromId(e.user_id, true);

        v[0] = Int64GetDatum(static_cast<int64>(e.run_id));
        v[1] = TimestampTzGetDatum(e.started);
        v[2] = TimestampTzGetDatum(e.ended);
        v[3] = Int32GetDatum(e.pid);
        v[4] = CStringGetTextDatum(db ? db : "?");
        v[5] = CStringGetTextDatum(user ? user : "?");
        v[6] = CStringGetTextDatum(statement_kind_name(e.kind));
        v[7] = CStringGetTextDatum(e.statement);
        v[8] = Int32GetDatum(e.target);
        v[9] = Int32GetDatum(e.min);
        v[10] = Int32GetDatum(e.retries);
        v[11] = Int32GetDatum(e.attempts);
        v[12] = int_array(e.planned, kept);
        v[13] = int_array(e.launched, kept);
        v[14] = Int32GetDatum(e.achieved);
        nulls[14] = e.outcome != RunOutcome::Committed;
        v[15] = CStringGetTextDatum(outcome_verdict(e));
        v[16] = CStringGetTextDatum(unpack_sql_state(e.sqlstate));
        nulls[16] = e.outcome == RunOutcome::Committed || e.outcome == RunOutcome::NotGuarded;
        v[17] = Int64GetDatum(static_cast<int64>(e.rows));
        nulls[17] = e.outcome != RunOutcome::Committed;
        v[18] = CStringGetTextDatum(e.as_written ? "parallel_guard.target" : "run()");
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
    }
    return static_cast<Datum>(0);
}

/* One row per launch site of every attempt of every run kept. */
Datum history_launches_view(FunctionCallInfo fcinfo)
{
    require_shared_memory("parallel_guard.history_launches");
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!history)
        return static_cast<Datum>(0);

    int n = 0;
    HistoryEntry *copy = copy_history(&n);

    for (int i = 0; i < n; i++)
        for (int j = 0; j < copy[i].nlaunches; j++) {
            const LaunchKept &k = copy[i].launches[j];
            Datum v[6];
            bool nulls[6] = {false, false, false, false, false, false};
            v[0] = Int64GetDatum(static_cast<int64>(copy[i].run_id));
            v[1] = Int32GetDatum(k.attempt);
            v[2] = CStringGetTextDatum(k.label);
            v[3] = Int32GetDatum(k.planned);
            nulls[3] = k.planned < 0;
            v[4] = Int32GetDatum(k.launches);
            v[5] = Int32GetDatum(k.fewest);
            nulls[5] = k.fewest < 0;
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
        }
    return static_cast<Datum>(0);
}

Datum history_reset(FunctionCallInfo)
{
    require_shared_memory("parallel_guard.history_reset()");
    if (history) {
        LWLockAcquire(history->lock, LW_EXCLUSIVE);
        memset(history->entries, 0, sizeof(HistoryEntry) * static_cast<Size>(history->size));
        LWLockRelease(history->lock);
    }
    return static_cast<Datum>(0);
}

} // namespace

Size history_shmem_size()
{
    return add_size(offsetof(HistoryShared, entries),
                    mul_size(static_cast<Size>(guard_history_size()), sizeof(HistoryEntry)));
}

void history_shmem_init()
{
    bool found;
    history = static_cast<HistoryShared *>(
        ShmemInitStruct("parallel_guard history", history_shmem_size(), &found));
    if (!found) {
        memset(history, 0, history_shmem_size());
        history->lock = &(GetNamedLWLockTranche("parallel_guard"))[1].lock;
        history->next_run_id = 1;
        history->size = guard_history_size();
    }
}

uint64 history_record(const RunSpec &spec, const AttemptRecord *recs, int n, TimestampTz started,
                      RunOutcome outcome, int sqlstate)
{
    if (!history || history->size == 0)
        return 0;
    HistoryEntry e;
    memset(&e, 0, sizeof(e));
    e.started = started;
    e.ended = GetCurrentTimestamp();
    e.pid = MyProcPid;
    e.database_id = MyDatabaseId;
    e.user_id = GetUserId();
    e.kind = spec.kind;
    e.as_written = spec.as_written;
    e.target = spec.target;
    e.min = spec.min;
    e.retries = spec.retries;
    e.attempts = n;
    for (int i = 0; i < Min(n, kAttemptsKept); i++) {
        e.planned[i] = recs[i].planned;
        e.launched[i] = recs[i].launched;
    }
    if (n > 0) {
        e.achieved = recs[n - 1].launched;
        e.verdict = recs[n - 1].verdict;
        e.rows = recs[n - 1].rows;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < recs[i].nsites && e.nlaunches < kLaunchesKept; j++) {
            const LaunchRecord &r = recs[i].sites[j];
            LaunchKept &k = e.launches[e.nlaunches++];
            k.attempt = recs[i].number;
            k.planned = r.planned;
            k.launches = r.launches;
            k.fewest = r.fewest;
            memcpy(k.label, r.label, kSiteLabel);
        }
    e.outcome = outcome;
    e.sqlstate = sqlstate;
    first_line(spec.sql, e.statement, kStatementChars);

    LWLockAcquire(history->lock, LW_EXCLUSIVE);
    e.run_id = history->next_run_id++;
    history->entries[e.run_id % static_cast<uint64>(history->size)] = e;
    LWLockRelease(history->lock);
    return e.run_id;
}

} // namespace pg_guard

extern "C" {
PG_FUNCTION_INFO_V1(parallel_guard_history);
PG_FUNCTION_INFO_V1(parallel_guard_history_reset);
PG_FUNCTION_INFO_V1(parallel_guard_history_launches);
}

Datum parallel_guard_history(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::history_view(fcinfo); });
}

Datum parallel_guard_history_reset(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::history_reset(fcinfo); });
}

Datum parallel_guard_history_launches(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::history_launches_view(fcinfo); });
}
