/*
 * queue.cpp: guarded runs wait in one cluster-wide FIFO queue for their
 * parallel workers instead of colliding.
 *
 * Every run takes a ticket when it starts.  Before each attempt it waits
 * until it is the waiting run with the smallest ticket and the pool has room
 * for its target: free parallel workers = max_parallel_workers minus the
 * parallel workers running now (processes in some other process's lock
 * group, read from ProcGlobal->allProcs) minus the target of every guarded
 * run that is launching and not yet decided; free worker slots likewise from
 * max_worker_processes and the running background workers, plus one slot
 * for the guard's own worker.  So a run never takes workers that an earlier
 * waiting run could use.  Ordinary parallel queries cannot be held back;
 * they are what the retries are for.
 *
 * The queue lives in shared memory reserved at server start (one entry per
 * possible backend) under one LWLock.  An entry is removed when its run ends,
 * on error (run.cpp's cleanup) and at process exit; entries whose process is
 * gone are pruned on every look.
 */
#include "queue.hpp"

#include "boundary.hpp"
#include "module.hpp"
#include "lock_group.hpp"

#include <algorithm>

namespace pg_guard {

namespace {

enum class QueueState : int { Free = 0, Waiting, Launching, Running };

struct QueueEntry {
    QueueState state;
    pid_t pid;
    int procno;
    Oid database_id;
    Oid user_id;
    int target;
    int attempt;
    int retries;
    uint64 ticket;
    TimestampTz waiting_since;
    int worker_procno; /* the current attempt's guard worker, or -1 */
    int launched;      /* parallel workers the running attempt launched */
    int joined_max;    /* the most of them seen in its lock group so far */
};

struct QueueShared {
    LWLock *lock;
    uint64 next_ticket;
    int nentries;
    QueueEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

QueueShared *queue = nullptr;
QueueEntry *mine = nullptr; /* this backend's entry while it is queued */
bool exit_callback_set = false;
constexpr long kQueuePollMs = 20; /* other queries' workers end without telling us */

} // namespace

Size queue_shmem_size()
{
    return add_size(offsetof(QueueShared, entries),
                    mul_size(static_cast<Size>(MaxBackends), sizeof(QueueEntry)));
}

void queue_shmem_init()
{
    bool found;
    queue = static_cast<QueueShared *>(
        ShmemInitStruct("parallel_guard queue", queue_shmem_size(), &found));
    if (!found) {
        memset(queue, 0, queue_shmem_size());
        queue->lock = &(GetNamedLWLockTranche("parallel_guard"))->lock;
        queue->next_ticket = 1;
        queue->nentries = MaxBackends;
    }
}

namespace {

/*
 * Is a process using this PGPROC now?  PostgreSQL 15's ProcKill leaves pid,
 * isBackgroundWorker and (for the last member of a group whose leader exited
 * first) lockGroupLeader as they were; only the shared latch is disowned.
 * The latch owner is therefore the liveness test.
 */
bool proc_in_use(const PGPROC *proc, int pid)
{
    int owner = *static_cast<const volatile int *>(&proc->procLatch.owner_pid);
    return owner != 0 && (pid == 0 || owner == pid);
}

bool entry_alive(const QueueEntry &e)
{
    return e.state != QueueState::Free && proc_in_use(&ProcGlobal->allProcs[e.procno], e.pid);
}

/* Parallel workers that have joined some lock group, and background workers
 * (processes holding a max_worker_processes slot). */
void count_running(int *parallel_workers, int *background_workers)
{
    int pw = 0, bw = 0;
    for (uint32 i = 0; i < ProcGlobal->allProcCount; i++) {
        const PGPROC *proc = &ProcGlobal->allProcs[i];
        if (!proc_in_use(proc, 0))
            continue;
        /* isBackgroundWorker is also true of auxiliary processes; the
         * free list a PGPROC belongs to says whether it is a worker slot's. */
        if (proc->procgloballist == &ProcGlobal->bgworkerFreeProcs)
            bw++;
        const PGPROC *leader = proc->lockGroupLeader;
        if (leader != nullptr && leader != proc)
            pw++;
    }
    *parallel_workers = pw;
    *background_workers = bw;
}

/* Under the queue lock (exclusive): drop dead entries, find the head. */
QueueEntry *prune_and_find_head()
{
    QueueEntry *head = nullptr;
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (e.state == QueueState::Free)
            continue;
        if (!entry_alive(e)) {
            e.state = QueueState::Free;
            continue;
        }
        if (e.state == QueueState::Waiting && (head == nullptr || e.ticket < head->ticket))
            head = &e;
    }
    return head;
}

/*
 * Room for `target` more parallel workers and target + 1 worker slots?  A
 * session that caps max_parallel_workers below target can never see more
 * than its cap: it waits for that many.
 */
bool pool_has_room(int target)
{
    target = std::min(target, max_parallel_workers);
    int running_pw, running_bw, reserved = 0;
    count_running(&running_pw, &running_bw);
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (e.state == QueueState::Launching)
            reserved += e.target + 1;
        else if (e.state == QueueState::Running && e.worker_procno >= 0 && e.launched > 0) {
            /*
             * The verdict comes as soon as the workers are registered, before
             * they have started and joined the lock group: until they show
             * up there, they are reserved, or the next run in line would see
             * room that is not there and launch short.
             */
            e.joined_max = std::max(e.joined_max, lock_group_workers(e.worker_procno));
            reserved += std::max(0, e.launched - e.joined_max);
        }
    }
    int free_parallel = max_parallel_workers - running_pw - reserved;
    int free_slots = max_worker_processes - running_bw - reserved;
    return free_parallel >= target && free_slots >= target + 1;
}

void wake_head()
{
    QueueEntry *head = prune_and_find_head();
    if (head && head != mine)
        SetLatch(&ProcGlobal->allProcs[head->procno].procLatch);
}

/*
 * At process exit the queue lock may not be taken safely (we may be exiting
 * from an error); freeing our own entry with one store is enough, since a
 * free entry is only claimed under the lock and the claimer rewrites it all.
 */
void leave_at_exit(int, Datum)
{
    if (queue && mine) {
        pg_write_barrier();
        mine->state = QueueState::Free;
        mine = nullptr;
    }
}

} // namespace

bool queue_available()
{
    return queue != nullptr;
}

void queue_join(const RunSpec &spec)
{
    if (!queue)
        return;
    if (!exit_callback_set) {
        before_shmem_exit(leave_at_exit, 0);
        exit_callback_set = true;
    }
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    prune_and_find_head();
    /* One entry per backend: MaxBackends entries always suffice. */
    for (int i = 0; i < queue->nentries && mine == nullptr; i++)
        if (queue->entries[i].state == QueueState::Free)
            mine = &queue->entries[i];
    if (mine) {
        mine->state = QueueState::Waiting;
        mine->pid = MyProcPid;
        mine->procno = MyProc->pgprocno;
        mine->database_id = MyDatabaseId;
        mine->user_id = GetUserId();
        mine->target = spec.target;
        mine->attempt = 0;
        mine->retries = spec.retries;
        mine->ticket = queue->next_ticket++;
        mine->waiting_since = GetCurrentTimestamp();
        mine->worker_procno = -1;
        mine->launched = 0;
        mine->joined_max = 0;
    }
    LWLockRelease(queue->lock);
}

bool queue_wait_turn(const RunSpec &spec, int attempt, long *budget_ms)
{
    if (!queue || !mine || *budget_ms <= 0) {
        if (queue && mine) {
            LWLockAcquire(queue->lock, LW_EXCLUSIVE);
            mine->attempt = attempt;
            mine->state = QueueState::Launching;
            LWLockRelease(queue->lock);
        }
        return true;
    }
    TimestampTz start = GetCurrentTimestamp();
    bool room = false;

    for (;;) {
        TimestampTz now = GetCurrentTimestamp();
        long waited = static_cast<long>((now - start) / 1000);
        bool out_of_time = waited >= *budget_ms;

        LWLockAcquire(queue->lock, LW_EXCLUSIVE);
        mine->attempt = attempt;
        QueueEntry *head = prune_and_find_head();
        if (head == mine && pool_has_room(spec.target))
            room = true;
        if (room || out_of_time) {
            mine->state = QueueState::Launching;
            mine->worker_procno = -1;
            wake_head(); /* the next in line may have room as well */
        }
        LWLockRelease(queue->lock);

        if (room || out_of_time) {
            *budget_ms = std::max(0L, *budget_ms - waited);
            return room;
        }
        long wait = std::min(kQueuePollMs, *budget_ms - waited);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait,
                         PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

void queue_attempt_decided(int worker_procno, bool short_attempt, int launched)
{
    if (!queue || !mine)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    mine->worker_procno = short_attempt ? -1 : worker_procno;
    mine->launched = short_attempt ? 0 : launched;
    mine->joined_max = 0;
    mine->state = short_attempt ? QueueState::Waiting : QueueState::Running;
    wake_head();
    LWLockRelease(queue->lock);
}

void queue_leave()
{
    if (!queue || !mine)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    mine->state = QueueState::Free;
    mine->pid = 0;
    mine = nullptr;
    wake_head();
    LWLockRelease(queue->lock);
}

namespace {

const char *state_name(QueueState s)
{
    switch (s) {
    case QueueState::Waiting: return "waiting";
    case QueueState::Launching: return "launching";
    case QueueState::Running: return "running";
    case QueueState::Free: break;
    }
    return "free";
}

Datum queue_view(FunctionCallInfo fcinfo)
{
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!queue)
        return static_cast<Datum>(0);

    int n = 0;
    auto *copy = static_cast<QueueEntry *>(palloc(sizeof(QueueEntry) * queue->nentries));
    LWLockAcquire(queue->lock, LW_SHARED);
    for (int i = 0; i < queue->nentries; i++)
        if (entry_alive(queue->entries[i]))
            copy[n++] = queue->entries[i];
    LWLockRelease(queue->lock);

    for (int i = 0; i < n; i++) {
        const QueueEntry &e = copy[i];
        Datum values[9];
        bool nulls[9] = {false, false, false, false, false, false, false, false, false};
        int position = 0;
        if (e.state == QueueState::Waiting) {
            position = 1;
            for (int j = 0; j < n; j++)
                if (copy[j].state == QueueState::Waiting && copy[j].ticket < e.ticket)
                    position++;
        }
        int held = e.worker_procno >= 0 ? std::max(0, lock_group_workers(e.worker_procno)) : 0;
        const char *db = get_database_name(e.database_id);
        values[0] = Int32GetDatum(e.pid);
        values[1] = CStringGetTextDatum(db ? db : "?");
        values[2] = CStringGetTextDatum(
            GetUserNameFromId(e.user_id, true) ? GetUserNameFromId(e.user_id, true) : "?");
        values[3] = Int32GetDatum(position);
        nulls[3] = position == 0;
        values[4] = Int32GetDatum(e.target);
        values[5] = Int32GetDatum(held);
        values[6] = Int32GetDatum(e.attempt);
        values[7] = CStringGetTextDatum(state_name(e.state));
        values[8] = TimestampTzGetDatum(e.waiting_since);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return static_cast<Datum>(0);
}

} // namespace

} // namespace pg_guard

extern "C" {
PG_FUNCTION_INFO_V1(parallel_guard_queue);
}

Datum parallel_guard_queue(PG_FUNCTION_ARGS)
{
    return pg_guard::cpp_call([&] { return pg_guard::queue_view(fcinfo); });
}
