/*
 * history.cpp: a shared-memory ring of the outcomes of recent guarded runs,
 * readable as the view parallel_guard.history and cleared by
 * parallel_guard.history_reset().
 *
 * Writers take the LWLock exclusively for a memcpy-sized moment and one
 * append to the journal (persist.cpp); readers copy the ring under a shared
 * lock and build the rows afterwards.  Each entry is followed in the ring by
 * room for parallel_guard.history_statement_size bytes of its statement.
 *
 * Every role reads the history; the text of a run of another role (its
 * statement, application_name, launch sites, query id) shows as
 * '<insufficient privilege>' (NULL for the query id), as in
 * pg_stat_statements, unless the reader has the privileges of
 * pg_read_all_stats.
 */
#include "history.hpp"

#include "boundary.hpp"
#include "messages.hpp"
#include "module.hpp"
#include "persist.hpp"

#include "catalog/pg_authid.h"

namespace pg_guard {

namespace {

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
    int nlaunches;
    LaunchKept launches[kLaunchesKept];
    uint64 query_id; /* 0: none computed */
    char application_name[NAMEDATALEN];
    int encoding;      /* of the statement's database */
    int statement_len; /* bytes of the statement that follow the entry */
};

struct HistoryShared {
    LWLock *lock;
    uint64 next_run_id;
    int size;
    int statement_size; /* parallel_guard.history_statement_size */
    Size stride;        /* bytes from one entry to the next */
    char entries[FLEXIBLE_ARRAY_MEMBER];
};

HistoryShared *history = nullptr;

Size entry_stride()
{
    return MAXALIGN(sizeof(HistoryEntry) + static_cast<Size>(guard_history_statement_size()) + 1);
}

HistoryEntry *entry_at(char *base, int i)
{
    return reinterpret_cast<HistoryEntry *>(base + static_cast<Size>(i) * history->stride);
}

char *statement_of(HistoryEntry *e)
{
    return reinterpret_cast<char *>(e + 1);
}

/* parallel_guard.history_max_age: entries that ended before this are gone. */
bool too_old(const HistoryEntry &e, TimestampTz now)
{
    int age_s = guard_history_max_age_s();
    return age_s > 0 && e.ended < now - static_cast<TimestampTz>(age_s) * USECS_PER_SEC;
}

/* Keep `e` (and its statement) in its slot, unless a later run holds it. */
void place(const HistoryEntry &e, const char *statement)
{
    HistoryEntry *slot = entry_at(history->entries,
                                  static_cast<int>(e.run_id % static_cast<uint64>(history->size)));
    if (slot->run_id > e.run_id)
        return;
    *slot = e;
    memcpy(statement_of(slot), statement, static_cast<Size>(e.statement_len));
    statement_of(slot)[e.statement_len] = '\0';
}

Datum int_array(const int *values, int n)
{
    Datum *d = static_cast<Datum *>(palloc(sizeof(Datum) * Max(n, 1)));
    for (int i = 0; i < n; i++)
        d[i] = Int32GetDatum(values[i]);
    return PointerGetDatum(construct_array(d, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/* The kept runs, copied under the lock; rows are built from the copy. */
char *copy_history(int *n)
{
    char *copy = static_cast<char *>(palloc(history->stride * static_cast<Size>(history->size)));
    TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(history->lock, LW_SHARED);
    for (int i = 0; i < history->size; i++) {
        HistoryEntry *e = entry_at(history->entries, i);
        if (e->run_id != 0 && !too_old(*e, now))
            memcpy(entry_at(copy, (*n)++), e, history->stride);
    }
    LWLockRelease(history->lock);
    return copy;
}

/* Whether the caller may read the text of every role's runs.  Otherwise it
 * reads those of the roles whose privileges it has (its own, and those it
 * is a member of with INHERIT), as in pg_stat_activity and the queue view. */
bool reads_all_texts()
{
    return superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

constexpr const char *kHidden = "<insufficient privilege>";

Datum history_view(FunctionCallInfo fcinfo)
{
    require_shared_memory("parallel_guard.history");
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!history)
        return static_cast<Datum>(0);

    int n = 0;
    char *copy = copy_history(&n);
    bool all = reads_all_texts();
    Oid me = GetUserId();

    for (int i = 0; i < n; i++) {
        HistoryEntry &e = *entry_at(copy, i);
        bool shown = all || has_privs_of_role(me, e.user_id);
        constexpr int kCols = 21; /* 18 before 1.3, 19 before 1.4: the descriptor's natts are used */
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
        v[7] = CStringGetTextDatum(shown ? statement_of(&e) : kHidden);
        v[8] = Int32GetDatum(e.target);
        v[9] = Int32GetDatum(e.min);
        v[10] = Int32GetDatum(e.retries);
        v[11] = Int32GetDatum(e.attempts);
        v[12] = int_array(e.planned, kept);
        v[13] = int_array(e.launched, kept);
        v[14] = Int32GetDatum(e.achieved);
        nulls[14] = e.outcome != RunOutcome::Committed;
        v[15] = CStringGetTextDatum(run_verdict_name(e.outcome, e.verdict, e.sqlstate));
        v[16] = CStringGetTextDatum(unpack_sql_state(e.sqlstate));
        nulls[16] = e.outcome == RunOutcome::Committed || e.outcome == RunOutcome::NotGuarded;
        v[17] = Int64GetDatum(static_cast<int64>(e.rows));
        nulls[17] = e.outcome != RunOutcome::Committed;
        v[18] = CStringGetTextDatum(e.as_written ? "parallel_guard.target" : "run()");
        v[19] = CStringGetTextDatum(shown ? e.application_name : kHidden);
        v[20] = Int64GetDatum(static_cast<int64>(e.query_id));
        nulls[20] = !shown || e.query_id == 0;
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
    char *copy = copy_history(&n);
    bool all = reads_all_texts();
    Oid me = GetUserId();

    for (int i = 0; i < n; i++) {
        const HistoryEntry &e = *entry_at(copy, i);
        bool shown = all || has_privs_of_role(me, e.user_id);
        for (int j = 0; j < e.nlaunches; j++) {
            const LaunchKept &k = e.launches[j];
            Datum v[6];
            bool nulls[6] = {false, false, false, false, false, false};
            v[0] = Int64GetDatum(static_cast<int64>(e.run_id));
            v[1] = Int32GetDatum(k.attempt);
            v[2] = CStringGetTextDatum(shown ? k.label : kHidden);
            v[3] = Int32GetDatum(k.planned);
            nulls[3] = k.planned < 0;
            v[4] = Int32GetDatum(k.launches);
            v[5] = Int32GetDatum(k.fewest);
            nulls[5] = k.fewest < 0;
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
        }
    }
    return static_cast<Datum>(0);
}

/* Under the history's lock (exclusive). */
void clear_history()
{
    memset(history->entries, 0, history->stride * static_cast<Size>(history->size));
}

/* Cleared in shared memory and on disk. */
Datum history_reset(FunctionCallInfo)
{
    require_shared_memory("parallel_guard.history_reset()");
    if (history)
        persist_compact(true, clear_history);
    return static_cast<Datum>(0);
}

} // namespace

Size history_shmem_size()
{
    return add_size(offsetof(HistoryShared, entries),
                    mul_size(static_cast<Size>(guard_history_size()), entry_stride()));
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
        history->statement_size = guard_history_statement_size();
        history->stride = entry_stride();
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
    /* Guarded as written: the caller's own statement; run(): the statement
     * its last attempt's worker parsed. */
    e.query_id = spec.query_id != 0 ? spec.query_id : n > 0 ? recs[n - 1].query_id : 0;
    if (application_name)
        strlcpy(e.application_name, application_name,
                pg_mbcliplen(application_name, static_cast<int>(strlen(application_name)),
                             NAMEDATALEN - 1) + 1);
    /* The whole statement, up to history_statement_size bytes, cut at a
     * character boundary; blanks before it are left out. */
    const char *sql = spec.sql ? spec.sql : "";
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
        sql++;
    e.encoding = GetDatabaseEncoding();
    e.statement_len = pg_mbcliplen(sql, static_cast<int>(strlen(sql)), history->statement_size);

    LWLockAcquire(history->lock, LW_EXCLUSIVE);
    e.run_id = history->next_run_id++;
    place(e, sql);
    bool compact = persist_append(RecordKind::History, &e, sizeof(e), sql,
                                  static_cast<Size>(e.statement_len));
    LWLockRelease(history->lock);
    if (compact)
        persist_compact(false);
    return e.run_id;
}

/* ---- persistence (persist.cpp calls these) ---- */

Size history_entry_size()
{
    return sizeof(HistoryEntry);
}

void history_lock()
{
    LWLockAcquire(history->lock, LW_EXCLUSIVE);
}

void history_unlock()
{
    LWLockRelease(history->lock);
}

/* Every entry kept and not too old, oldest first, then the next run_id. */
void history_dump(PersistWriter *w)
{
    if (!history)
        return;
    TimestampTz now = GetCurrentTimestamp();
    uint64 first = history->next_run_id > static_cast<uint64>(history->size)
                       ? history->next_run_id - static_cast<uint64>(history->size)
                       : 1;
    for (uint64 id = first; id < history->next_run_id && history->size > 0; id++) {
        HistoryEntry *e =
            entry_at(history->entries, static_cast<int>(id % static_cast<uint64>(history->size)));
        if (e->run_id == id && !too_old(*e, now))
            persist_put(w, RecordKind::History, e, sizeof(*e), statement_of(e),
                        static_cast<Size>(e->statement_len));
    }
    persist_put(w, RecordKind::HistoryMeta, &history->next_run_id, sizeof(uint64), nullptr, 0);
}

/* One record of a file, at server start (the postmaster, alone). */
void history_load(RecordKind kind, const char *data, Size len)
{
    if (!history)
        return;
    if (kind == RecordKind::HistoryMeta && len == sizeof(uint64)) {
        uint64 next;
        memcpy(&next, data, sizeof(next));
        history->next_run_id = Max(history->next_run_id, next);
        return;
    }
    if (kind != RecordKind::History || len < sizeof(HistoryEntry))
        return;
    HistoryEntry e;
    memcpy(&e, data, sizeof(e));
    const char *statement = data + sizeof(e);
    int stored = static_cast<int>(len - sizeof(e));
    /* The header matched; still, nothing read from disk indexes an array or
     * ends a string unchecked. */
    if (e.run_id == 0 || e.statement_len != stored || e.nlaunches < 0 ||
        e.nlaunches > kLaunchesKept || e.attempts < 0)
        return;
    e.application_name[NAMEDATALEN - 1] = '\0';
    for (int i = 0; i < e.nlaunches; i++)
        e.launches[i].label[kSiteLabel - 1] = '\0';
    history->next_run_id = Max(history->next_run_id, e.run_id + 1);
    if (history->size == 0 || too_old(e, GetCurrentTimestamp()))
        return;
    /* history_statement_size may have shrunk since it was written. */
    if (e.statement_len > history->statement_size)
        e.statement_len = PG_VALID_ENCODING(e.encoding)
                              ? pg_encoding_mbcliplen(e.encoding, statement, e.statement_len,
                                                      history->statement_size)
                              : history->statement_size;
    place(e, statement);
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
