/*
 * attempt_segment.hpp: the dynamic shared memory segment one attempt shares
 * between the calling backend and its background worker.
 *
 * Layout (shm_toc): the fixed GuardShared block, the SQL text, the caller's
 * loaded libraries and serialized GUC state, and a shm_mq that carries the
 * worker's notices and errors back to the caller in protocol format (as
 * parallel.c does).
 *
 * A statement can launch parallel workers several times (each Gather or
 * Gather Merge at its first call and at every rescan, an InitPlan's Gather
 * before the Gather that needs it, each query REFRESH ... CONCURRENTLY runs,
 * each index build of a partitioned table).  The worker publishes each place
 * that launches, a "launch site", with what it planned and what each of its
 * launches got.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

constexpr uint64 kTocMagic = UINT64CONST(0x50475244'31303130); /* "PGRD1010" */
constexpr uint64 kKeyShared = 1;
constexpr uint64 kKeySql = 2;
constexpr uint64 kKeyGuc = 3;
constexpr uint64 kKeyQueue = 4;
constexpr uint64 kKeyLibraries = 5;
constexpr uint64 kKeySites = 6;
constexpr Size kQueueSize = 16384;

/* Where the worker is; written by the worker only. */
enum class WorkerState : int {
    Starting = 0, /* not yet connected */
    Running,      /* connected, statement under way */
    Executed,     /* statement done, transaction open, waiting for Decision */
    Committed,    /* committed: the table exists */
    RolledBack,   /* rolled back on the caller's request */
    Failed        /* the statement raised an error (sent through the queue) */
};

/* What the caller wants done with the worker's transaction. */
enum class Decision : int { Pending = 0, Commit, Abort };

enum class SiteKind : int {
    SerialQuery = 0, /* the statement's own query, planned without any Gather */
    Gather,
    GatherMerge,
    IndexBuild /* one index build (one per partition of a partitioned table) */
};

/*
 * Room for launch sites: this many, plus one per index the statement can
 * build (each partition's build is a site of its own; the caller counts
 * them before the worker starts).  Gather sites past the room are folded
 * into the last site, which then judges each of their launches against its
 * own plan as it is counted (short_launch): only what the history shows is
 * folded, never what the verdict rests on.
 */
constexpr int kMinSites = 64;
constexpr int kSiteLabel = 64;

/*
 * One place of the statement that launches parallel workers.  Gather sites
 * are counted exactly by the worker (nworkers_launched); index builds have
 * no executor node, so the worker publishes the build and what
 * plan_create_index_workers() planned for it, and the caller counts the
 * registrations (bgworker_slots.hpp).
 */
struct LaunchSite {
    SiteKind kind;
    int query;    /* 1: the statement's own query; 2, 3, ...: later queries it ran */
    int node_id;  /* plan_node_id of the Gather; -1 otherwise */
    int planned;  /* workers each launch plans (Gather.num_workers); -1 not known */
    int launches; /* launches counted */
    int fewest;   /* the fewest workers one of its launches got; -1 none counted */
    bool pending; /* a launch is under way and not counted yet */
    TimestampTz pending_since;
    TimestampTz counted_at; /* when its first launch was counted */
    uint32 query_hash; /* to fold repeated runs of one query into one site */
    uint32 handle;     /* its newest counted launch's parallel segment, 0 none:
                        * those registrations are this site's, no other's */
    bool folded;       /* further Gather sites folded in: planned and fewest are
                        * minimums over different launches, short_launch judges */
    bool short_launch; /* folded: one of its launches got fewer than
                        * min(its own plan, target) */
    char label[kSiteLabel];
};

struct GuardShared {
    slock_t mutex; /* protects every field below that changes */

    /* Set by the caller before the worker starts; read-only afterwards. */
    Oid database_id;
    Oid authenticated_user_id;
    Oid outer_user_id; /* GetCurrentRoleId(): InvalidOid without SET ROLE */
    Oid current_user_id;
    int sec_context;
    int caller_procno;
    int per_gather;  /* max_parallel_workers_per_gather for the statement, or -1 */
    int maintenance; /* max_parallel_maintenance_workers for the statement, or -1 */
    int target;      /* the run's target: folded sites judge each launch against it */
    int max_sites;   /* room in the sites chunk (kKeySites) */

    /* Written by the worker. */
    int worker_procno;
    WorkerState state;
    bool ran_query; /* an executor or index build ran for the statement */
    uint64 rows;
    uint64 query_id; /* the statement's, as PostgreSQL computed it (0: none) */
    uint32 change; /* bumped whenever a site changes */
    int nsites;    /* sites used in the sites chunk (kKeySites), under mutex */

    /* Written by the caller. */
    Decision decision;
};

/* A consistent copy of what changes, taken under the mutex. */
struct SharedView {
    int worker_procno;
    WorkerState state;
    bool ran_query;
    uint64 rows;
    uint64 query_id;
    uint32 change;
    int nsites;
    LaunchSite *sites; /* palloc'd, room for max_sites */
};

inline void read_shared(GuardShared *s, const LaunchSite *sites, SharedView *v,
                        uint32 known_change)
{
    SpinLockAcquire(&s->mutex);
    v->worker_procno = s->worker_procno;
    v->state = s->state;
    v->ran_query = s->ran_query;
    v->rows = s->rows;
    v->query_id = s->query_id;
    bool changed = s->change != known_change;
    v->change = s->change;
    v->nsites = s->nsites;
    if (changed)
        memcpy(v->sites, sites, sizeof(LaunchSite) * static_cast<Size>(s->nsites));
    SpinLockRelease(&s->mutex);
}

/* Wake the process with the given pgprocno (its latch). */
inline void wake_proc(int procno)
{
    if (procno >= 0)
        SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

} // namespace pg_guard
