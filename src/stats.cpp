/*
 * stats.cpp: cumulative counters per (database, role) in shared memory.
 *
 * A fixed table of kStatsEntries pairs under one LWLock; a pair that finds
 * the table full is counted in one overflow row (database and role NULL).
 * Writers take the lock exclusively for a few additions, at the end of a
 * guarded run or when an ordinary launch was held back (never on the fast
 * path); readers copy the table under a shared lock and build rows after.
 * Each change appends the changed entry whole to the journal (persist.cpp),
 * under the lock, so that a replay keeps the last one.
 */
#include "stats.hpp"

#include "boundary.hpp"
#include "module.hpp"
#include "persist.hpp"

namespace pg_guard {

namespace {

constexpr int kStatsEntries = 1000;

/* Run outcomes, in the view's column order (runs_met ... runs_cancelled);
 * the later two (runs_not_run, runs_not_guarded, new in 1.4) come after
 * stats_reset, counted apart so that runs[] keeps its meaning. */
enum RunKind : int {
    kMet = 0,
    kPlanLimited,
    kAcceptedShort,
    kBelowMin,
    kPlanTooSmall,
    kError,
    kCancelled,
    kRunKinds,
    kNotRun = kRunKinds, /* StatsEntry::runs_not_run */
    kNotGuarded          /* StatsEntry::runs_not_guarded */
};

struct StatsEntry {
    bool used;
    Oid database_id;
    Oid user_id;
    int64 runs[kRunKinds];
    int64 attempts;
    int64 short_attempts;
    double queued_ms;
    int64 launches_held_back;
    int64 workers_withheld;
    int64 runs_not_run;     /* committed, but ran no query or build (1.4) */
    int64 runs_not_guarded; /* guarded as written, run as the plain statement (1.4) */
};

struct StatsShared {
    LWLock *lock;
    TimestampTz reset_time;
    StatsEntry overflow;
    StatsEntry entries[kStatsEntries];
};

StatsShared *stats = nullptr;

bool stats_journal(const StatsEntry *e);

/* The run's verdict as the history names it (run_verdict_name()). */
RunKind run_kind(const AttemptRecord *recs, int n, RunOutcome outcome, int sqlstate)
{
    if (outcome == RunOutcome::Error)
        return sqlstate == ERRCODE_QUERY_CANCELED ? kCancelled : kError;
    if (outcome == RunOutcome::NotGuarded)
        return kNotGuarded;
    switch (n > 0 ? recs[n - 1].verdict : Verdict::Failed) {
    case Verdict::Met: return kMet;
    case Verdict::PlanLimited: return kPlanLimited;
    case Verdict::AcceptedShort: return kAcceptedShort;
    case Verdict::BelowMin: return kBelowMin;
    case Verdict::PlanTooSmall: return kPlanTooSmall;
    case Verdict::NotRun: return kNotRun;
    default: return kError;
    }
}

/* Under the lock (exclusive): this session's entry, claimed if new. */
StatsEntry *entry_for(Oid database_id, Oid user_id)
{
    StatsEntry *free_entry = nullptr;
    for (auto &e : stats->entries) {
        if (e.used && e.database_id == database_id && e.user_id == user_id)
            return &e;
        if (!e.used && free_entry == nullptr)
            free_entry = &e;
    }
    if (free_entry == nullptr)
        return &stats->overflow;
    memset(free_entry, 0, sizeof(*free_entry));
    free_entry->used = true;
    free_entry->database_id = database_id;
    free_entry->user_id = user_id;
    return free_entry;
}

Datum stats_view(FunctionCallInfo fcinfo)
{
    require_shared_memory("parallel_guard.stats");
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!stats)
        return static_cast<Datum>(0);

    int n = 0;
    auto *copy = static_cast<StatsEntry *>(palloc(sizeof(StatsEntry) * (kStatsEntries + 1)));
    LWLockAcquire(stats->lock, LW_SHARED);
    TimestampTz reset_time = stats->reset_time;
    for (const auto &e : stats->entries)
        if (e.used)
            copy[n++] = e;
    if (stats->overflow.used)
        copy[n++] = stats->overflow;
    LWLockRelease(stats->lock);

    for (int i = 0; i < n; i++) {
        const StatsEntry &e = copy[i];
        /* A view of 1.3 has the first 2 + kRunKinds + 6 (the descriptor's
         * natts are used). */
        constexpr int kCols = 2 + kRunKinds + 6 + 2;
        Datum v[kCols];
        bool nulls[kCols];
        memset(nulls, 0, sizeof(nulls));
        int c = 0;
        const char *db = OidIsValid(e.database_id) ? get_database_name(e.database_id) : nullptr;
        const char *user = OidIsValid(e.user_id) ? GetUserNameFromId(e.user_id, true) : nullptr;
        nulls[c] = db == nullptr;
        v[c++] = db ? CStringGetTextDatum(db) : static_cast<Datum>(0);
        nulls[c] = user == nullptr;
        v[c++] = user ? CStringGetTextDatum(user) : static_cast<Datum>(0);
        for (int k = 0; k < kRunKinds; k++)
            v[c++] = Int64GetDatum(e.runs[k]);
        v[c++] = Int64GetDatum(e.attempts);
        v[c++] = Int64GetDatum(e.short_attempts);
        v[c++] = Float8GetDatum(e.queued_ms);
        v[c++] = Int64GetDatum(e.launches_held_back);
        v[c++] = Int64GetDatum(e.workers_withheld);
        v[c++] = TimestampTzGetDatum(reset_time);
        v[c++] = Int64GetDatum(e.runs_not_run);
        v[c++] = Int64GetDatum(e.runs_not_guarded);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nulls);
    }
    return static_cast<Datum>(0);
}

/* Under the stats' lock (exclusive). */
void clear_stats()
{
    memset(&stats->overflow, 0, sizeof(stats->overflow));
    memset(stats->entries, 0, sizeof(stats->entries));
    stats->reset_time = GetCurrentTimestamp();
}

/* Cleared in shared memory and on disk. */
Datum stats_reset(FunctionCallInfo)
{
    require_shared_memory("parallel_guard.stats_reset()");
    if (stats)
        persist_compact(true, clear_stats);
    return static_cast<Datum>(0);
}

/* Under the lock (exclusive): the changed entry to the journal. */
bool stats_journal(const StatsEntry *e)
{
    return persist_append(RecordKind::Stats, e, sizeof(*e), nullptr, 0);
}

} // namespace

Size stats_shmem_size()
{
    return sizeof(StatsShared);
}

void stats_shmem_init()
{
    bool found;
    stats = static_cast<StatsShared *>(
        ShmemInitStruct("parallel_guard stats", stats_shmem_size(), &found));
    if (!found) {
        memset(stats, 0, stats_shmem_size());
        stats->lock = &(GetNamedLWLockTranche("parallel_guard"))[2].lock;
        stats->reset_time = GetCurrentTimestamp();
    }
}

void stats_record_run(const AttemptRecord *recs, int n, RunOutcome outcome, int sqlstate)
{
    if (!stats)
        return;
    int shorts = 0;
    double queued = 0;
    for (int i = 0; i < n; i++) {
        /* Every attempt that launched fewer than its goal, the last one
         * accepted with at least min included. */
        if (recs[i].verdict == Verdict::Short || recs[i].verdict == Verdict::AcceptedShort ||
            recs[i].verdict == Verdict::BelowMin)
            shorts++;
        queued += recs[i].queued_ms;
    }
    RunKind kind = run_kind(recs, n, outcome, sqlstate);
    LWLockAcquire(stats->lock, LW_EXCLUSIVE);
    StatsEntry *e = entry_for(MyDatabaseId, GetUserId());
    e->used = true;
    if (kind == kNotRun)
        e->runs_not_run++;
    else if (kind == kNotGuarded)
        e->runs_not_guarded++;
    else
        e->runs[kind]++;
    e->attempts += n;
    e->short_attempts += shorts;
    e->queued_ms += queued;
    bool compact = stats_journal(e);
    LWLockRelease(stats->lock);
    if (compact)
        persist_compact(false);
}

void stats_count_held_back(int workers)
{
    if (!stats || workers <= 0)
        return;
    LWLockAcquire(stats->lock, LW_EXCLUSIVE);
    StatsEntry *e = entry_for(MyDatabaseId, GetUserId());
    e->used = true;
    e->launches_held_back++;
    e->workers_withheld += workers;
    bool compact = stats_journal(e);
    LWLockRelease(stats->lock);
    if (compact)
        persist_compact(false);
}

/* ---- persistence (persist.cpp calls these) ---- */

Size stats_entry_size()
{
    return sizeof(StatsEntry);
}

void stats_lock()
{
    LWLockAcquire(stats->lock, LW_EXCLUSIVE);
}

void stats_unlock()
{
    LWLockRelease(stats->lock);
}

/* The reset time, then every entry in use (the overflow row is the one
 * with neither database nor role). */
void stats_dump(PersistWriter *w)
{
    if (!stats)
        return;
    persist_put(w, RecordKind::StatsMeta, &stats->reset_time, sizeof(TimestampTz), nullptr, 0);
    for (const auto &e : stats->entries)
        if (e.used)
            persist_put(w, RecordKind::Stats, &e, sizeof(e), nullptr, 0);
    if (stats->overflow.used)
        persist_put(w, RecordKind::Stats, &stats->overflow, sizeof(stats->overflow), nullptr, 0);
}

/* One record of a file, at server start (the postmaster, alone): a later
 * record of an entry replaces the earlier one. */
void stats_load(RecordKind kind, const char *data, Size len)
{
    if (!stats)
        return;
    if (kind == RecordKind::StatsMeta && len == sizeof(TimestampTz)) {
        memcpy(&stats->reset_time, data, sizeof(TimestampTz));
        return;
    }
    if (kind != RecordKind::Stats || len != sizeof(StatsEntry))
        return;
    StatsEntry e;
    memcpy(&e, data, sizeof(e));
    if (!e.used)
        return;
    StatsEntry *slot = OidIsValid(e.database_id) || OidIsValid(e.user_id)
                           ? entry_for(e.database_id, e.user_id)
                           : &stats->overflow;
    *slot = e;
}

} // namespace pg_guard

extern "C" {
PG_FUNCTION_INFO_V1(parallel_guard_stats);
PG_FUNCTION_INFO_V1(parallel_guard_stats_reset);
}

Datum parallel_guard_stats(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::stats_view(fcinfo); });
}

Datum parallel_guard_stats_reset(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::stats_reset(fcinfo); });
}
