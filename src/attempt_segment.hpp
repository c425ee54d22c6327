/*
 * shared.hpp: the dynamic shared memory segment one attempt shares between
 * the calling backend and its background worker.
 *
 * Layout (shm_toc): the fixed GuardShared block, the SQL text, the caller's
 * serialized GUC state and a shm_mq that carries the worker's notices and
 * errors back to the caller in protocol format (as parallel.c does).
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

constexpr uint64 kTocMagic = UINT64CONST(0x50475244'31303030); /* "PGRD1000" */
constexpr uint64 kKeyShared = 1;
constexpr uint64 kKeySql = 2;
constexpr uint64 kKeyGuc = 3;
constexpr uint64 kKeyQueue = 4;
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

    /* Written by the worker. */
    int worker_procno;
    WorkerState state;
    int planned;  /* workers the first Gather plans; -1 unknown */
    int launched; /* workers that Gather launched; -1 not yet */
    TimestampTz launch_time;
    uint64 rows;

    /* Written by the caller. */
    Decision decision;
};

/* A consistent copy of the fields that change, read under the mutex. */
struct SharedView {
    int worker_procno;
    WorkerState state;
    int planned;
    int launched;
    TimestampTz launch_time;
    uint64 rows;
    Decision decision;
};

inline SharedView read_shared(GuardShared *s)
{
    SharedView v;
    SpinLockAcquire(&s->mutex);
    v.worker_procno = s->worker_procno;
    v.state = s->state;
    v.planned = s->planned;
    v.launched = s->launched;
    v.launch_time = s->launch_time;
    v.rows = s->rows;
    v.decision = s->decision;
    SpinLockRelease(&s->mutex);
    return v;
}

/* Wake the process with the given pgprocno (its latch). */
inline void wake_proc(int procno)
{
    if (procno >= 0)
        SetLatch(&ProcGlobal->allProcs[procno].procLatch);
}

} // namespace pg_guard
