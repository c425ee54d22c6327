/*
 * queue.cpp: guarded runs wait in one cluster-wide queue for their parallel
 * workers instead of colliding, served by priority, then first come, first
 * served.
 *
 * Every run takes a ticket when it starts, and its priority: the caller's
 * parallel_guard.priority (superuser only to set) at that moment.  The order
 * of the queue is the waiting runs' effective priority, highest first, and
 * their tickets within one effective priority:
 *
 *   effective priority = priority + floor(time since it joined / parallel_guard.priority_aging)
 *
 * (no aging when priority_aging is 0).  Every waiting run ages at the same
 * rate, so a run of priority p is served before every run of priority q > p
 * that joined at least (q - p) * priority_aging after it: nothing waits
 * forever behind a stream of higher priorities.  A run that comes back from
 * its delay keeps its ticket and its aging (both count from its joining).
 *
 * Before each attempt a run waits until it is the first waiting run in that
 * order; as that head of the queue it reserves its target at once (within
 * parallel_guard.max_reserved_workers), and it launches when the pool has
 * room for it:
 * free parallel workers = max_parallel_workers minus PostgreSQL's own count
 * of registered parallel workers (parallel_register_count -
 * parallel_terminate_count, the number RegisterDynamicBackgroundWorker()
 * checks; a count from the lock groups runs ahead of it, since an exiting
 * worker leaves its group before the postmaster counts it terminated) minus
 * the targets of runs that are launching; free worker slots likewise from
 * max_worker_processes and the running background workers, plus one slot
 * for the guard's own worker.  Ordinary parallel launches in every backend are
 * capped below the reserved workers (reservation.cpp), so the pool drains
 * towards the head instead of being taken from under it.
 *
 * A run keeps its reservation while it launches and, once its verdict is
 * made, until its statement has finished (a statement may launch workers
 * several times, and between two launches its workers must not go to
 * ordinary queries).  What a reservation holds back at any moment is what
 * its run has not registered yet: reserved minus the parallel workers its
 * guard worker has registered now (bgworker_slots.hpp), which PostgreSQL
 * counts already.  A run that waits out its delay after a short attempt
 * holds no reservation and is not the head, so the runs behind it move on;
 * it comes back with its original ticket.
 *
 * A run of higher effective priority that arrives while a lower one is the
 * head, reserving workers it has not launched yet, becomes the head: the
 * lower one's reservation is released at once (prune_and_find_head()) and it
 * waits behind.  Runs already admitted (launching: they saw room for their
 * target and their worker is starting; running) keep what they have:
 * running statements are never stopped.
 *
 * The queue lives in shared memory reserved at server start (one entry per
 * possible backend) under one LWLock.  An entry is removed when its run ends,
 * on error (attempt_loop.cpp's cleanup) and at process exit; entries whose process is
 * gone are pruned on every look.
 */
#include "queue.hpp"

#include "boundary.hpp"
#include "bgworker_slots.hpp"
#include "lock_group.hpp"
#include "module.hpp"
#include "reservation.hpp"
#include "wait_events.hpp"

#include <algorithm>

extern "C" {
#include "catalog/pg_authid.h"
}

namespace pg_guard {

namespace {

/* The statement's text kept for the queue view, its final NUL included. */
constexpr int kStatementBytes = 1024;

enum class QueueState : int { Free = 0, Waiting, Delaying, Launching, Running };

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
    pid_t worker_pid;  /* the same worker's pid, once started; 0 before */
    uint64 launch_seq; /* order of entering Launching */
    int priority;      /* parallel_guard.priority when it joined */
    bool as_written;   /* a statement guarded as written: no guard worker */
    int64 queued_us;   /* waited in the queue before its attempts so far */
    TimestampTz wait_began; /* when its current wait began (while waiting) */
    char application_name[NAMEDATALEN];
    char statement[kStatementBytes]; /* its text, cut at a whole character */
    TimestampTz reserved_since; /* when the reservation was made; 0: none */
    /*
     * Parallel workers reserved for this run now.  Changed only through
     * set_reserved(): by its owner under the lock, at its exit, or when a
     * dead entry is pruned.
     */
    pg_atomic_uint32 reserved;
};

struct QueueShared {
    LWLock *lock;
    uint64 next_ticket;
    uint64 next_launch_seq;
    int nentries;
    pg_atomic_uint32 reserved_total; /* the sum of every entry's reserved */
    int nlaunching; /* marks of launches in flight after the entries (launching()) */
    pg_atomic_uint32 server_pool;    /* the server's max_parallel_workers */
    QueueEntry entries[FLEXIBLE_ARRAY_MEMBER];
};

QueueShared *queue = nullptr;
QueueEntry *mine = nullptr; /* this backend's entry while it is queued */
bool exit_callback_set = false;
constexpr long kQueuePollMs = 20; /* other queries' workers end without telling us */
/*
 * An ordinary launch publishes, in launching() at its process number, the
 * time it began (before it reads the reservations; 0: none in flight), and
 * clears it once PostgreSQL has registered its workers (a Gather: at its
 * child's first call, or when the Gather returns).  The head of the queue,
 * once it has reserved, waits for every launch that began before its
 * reservation was complete and is still in flight: such a launch may not
 * have seen the reservation, and its workers are not counted yet.  An index
 * build's launch follows its planning, where it reads the reservations,
 * with no point to clear it at: it counts as in flight for
 * kBuildInFlightMs.  The head waits kInFlightMaxMs at most (a Gather whose
 * leader does not take part clears it only at its first row).
 */
constexpr uint64 kBuildLaunch = 1; /* low bit of a launching() mark */
constexpr long kBuildInFlightMs = 100;
constexpr long kInFlightMaxMs = 1000;
constexpr long kSettlePollMs = 1;


Size entries_size()
{
    return MAXALIGN(add_size(offsetof(QueueShared, entries),
                             mul_size(static_cast<Size>(MaxBackends), sizeof(QueueEntry))));
}

/* Ordinary launches run in backends, whose process numbers come first. */
int launching_size()
{
    return MaxBackends;
}

/* The mark of the ordinary launch in flight in process number i. */
pg_atomic_uint64 *launching(int i)
{
    return reinterpret_cast<pg_atomic_uint64 *>(reinterpret_cast<char *>(queue) +
                                                 entries_size()) +
           i;
}

} // namespace

Size queue_shmem_size()
{
    return add_size(entries_size(), mul_size(static_cast<Size>(launching_size()),
                                             sizeof(pg_atomic_uint64)));
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
        queue->next_launch_seq = 1;
        queue->nentries = MaxBackends;
        pg_atomic_init_u32(&queue->reserved_total, 0);
        queue->nlaunching = launching_size();
        for (int i = 0; i < queue->nlaunching; i++)
            pg_atomic_init_u64(launching(i), 0);
        /* In the postmaster: the value of postgresql.conf (or the default). */
        pg_atomic_init_u32(&queue->server_pool, static_cast<uint32>(max_parallel_workers));
        for (int i = 0; i < queue->nentries; i++)
            pg_atomic_init_u32(&queue->entries[i].reserved, 0);
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

uint32 reserved_of(QueueEntry &e)
{
    return pg_atomic_read_u32(&e.reserved);
}

/* Set e's reservation to n and keep reserved_total the sum of them all. */
void set_reserved(QueueEntry &e, uint32 n)
{
    uint32 old = pg_atomic_exchange_u32(&e.reserved, n);
    if (n > old)
        pg_atomic_fetch_add_u32(&queue->reserved_total, n - old);
    else if (old > n)
        pg_atomic_fetch_sub_u32(&queue->reserved_total, old - n);
}

/*
 * Parallel workers that have joined some lock group (the fallback when
 * PostgreSQL's own count cannot be read), and background workers (processes
 * holding a max_worker_processes slot).
 */
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

/*
 * Parallel workers taken now as PostgreSQL counts them (registered, until
 * the postmaster has counted them gone; the lock groups only if that count
 * cannot be read), and background worker processes.
 */
void pool_in_use(int *parallel_workers, int *worker_slots)
{
    int pw;
    count_running(&pw, worker_slots);
    int registered = parallel_workers_registered();
    *parallel_workers = registered >= 0 ? registered : pw;
}

/* The run's priority plus one per priority_aging since it joined the queue. */
int64 effective_priority(const QueueEntry &e, TimestampTz now)
{
    int64 aging_us = static_cast<int64>(guard_priority_aging_ms()) * 1000;
    if (aging_us <= 0 || now <= e.waiting_since)
        return e.priority;
    return e.priority + (now - e.waiting_since) / aging_us;
}

/* Is a served before b: higher effective priority, then the earlier ticket. */
bool serves_before(const QueueEntry &a, const QueueEntry &b, TimestampTz now)
{
    int64 pa = effective_priority(a, now);
    int64 pb = effective_priority(b, now);
    return pa != pb ? pa > pb : a.ticket < b.ticket;
}

/*
 * Under the queue lock (exclusive): drop dead entries and their
 * reservations, find the head (the first waiting run in the queue's order),
 * and release the reservation of a waiting run that is no longer the head
 * (a higher effective priority arrived, or an earlier ticket came back from
 * its delay).
 */
QueueEntry *prune_and_find_head()
{
    TimestampTz now = GetCurrentTimestamp();
    QueueEntry *head = nullptr;
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (e.state == QueueState::Free)
            continue;
        if (!entry_alive(e)) {
            set_reserved(e, 0);
            e.state = QueueState::Free;
            continue;
        }
        if (e.state == QueueState::Waiting && (head == nullptr || serves_before(e, *head, now)))
            head = &e;
    }
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (&e != head && e.state == QueueState::Waiting && reserved_of(e) > 0) {
            set_reserved(e, 0);
            e.reserved_since = 0;
        }
    }
    return head;
}

/* Parallel workers the guard worker `pid` has registered now (0 for none). */
int registered_by(pid_t pid)
{
    if (pid <= 0)
        return 0;
    SlotLaunch launches[8];
    int n = parallel_launches_of(pid, launches, lengthof(launches));
    int workers = 0;
    for (int i = 0; i < n; i++)
        workers += launches[i].workers;
    return workers;
}

bool admitted(const QueueEntry &e)
{
    return e.state == QueueState::Launching || e.state == QueueState::Running;
}

/* What e's reservation holds back from ordinary launches now. */
int reserved_hold(QueueEntry &e)
{
    int reserved = static_cast<int>(reserved_of(e));
    if (reserved == 0)
        return 0;
    return std::max(0, reserved - registered_by(e.worker_pid));
}

/* What an admitted run will still take: a launching run its whole target,
 * reserved or not; a running one what its reservation holds. */
int admitted_hold(QueueEntry &e)
{
    if (e.state == QueueState::Launching)
        return std::max(0, std::max(static_cast<int>(reserved_of(e)), e.target) -
                               registered_by(e.worker_pid));
    return e.state == QueueState::Running ? reserved_hold(e) : 0;
}

/*
 * The server's max_parallel_workers: the pool every session shares, whatever
 * a session set for itself.  Noted at startup; a session whose value comes
 * from the server's configuration notes it again (after a reload).
 */
int server_pool()
{
    int v = server_max_parallel_workers_setting();
    if (v >= 0)
        pg_atomic_write_u32(&queue->server_pool, static_cast<uint32>(v));
    return static_cast<int>(pg_atomic_read_u32(&queue->server_pool));
}

/*
 * The most workers a run may reserve: its target, within its own session's
 * limit (its launches can take no more) and within the server's pool (a
 * session that raised its own max_parallel_workers reserves no more than
 * the server has).  Called by the run's own backend.
 */
int reservation_goal(const QueueEntry &e)
{
    return std::min({e.target, session_max_parallel_workers_setting(), server_pool()});
}

/*
 * The head reserves its target, or what parallel_guard.max_reserved_workers
 * leaves of it after the other runs' reservations.
 */
void reserve_for_head(QueueEntry *head)
{
    int cap = guard_max_reserved_workers();
    if (cap < 0)
        cap = server_pool();
    int others = 0;
    for (int i = 0; i < queue->nentries; i++)
        if (&queue->entries[i] != head)
            others += reserved_hold(queue->entries[i]);
    int want = std::max(0, std::min(reservation_goal(*head), cap - others));
    int had = static_cast<int>(reserved_of(*head));
    if (want != had) {
        set_reserved(*head, static_cast<uint32>(want));
        /* A new share must reach every launch first: from now, when the
         * increment is done, every launch that begins sees it. */
        if (want > had)
            head->reserved_since = GetCurrentTimestamp();
    }
}

/*
 * Room for the run's goal in parallel workers, and for as many worker slots
 * plus its own guard worker's (run() only), after the runs that are launching?  A session
 * that caps max_parallel_workers below target can never see more than its
 * cap: it waits for that many.  Nor can a run ever have worker slots that
 * other background workers hold (the logical replication launcher, another
 * extension's always-on workers): it waits for what the rest of
 * max_worker_processes can give, not for room that cannot come.
 */
bool pool_has_room(const QueueEntry &me)
{
    int target = reservation_goal(me);
    int running_pw, used_slots, held = 0, starting = 0, guard_workers = 0;
    int pw_procs, bg_procs;
    pool_in_use(&running_pw, &used_slots);
    count_running(&pw_procs, &bg_procs);
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (&e == &me || !admitted(e))
            continue;
        /* What it has not registered yet, PostgreSQL does not count yet. */
        held += admitted_hold(e);
        if (e.as_written)
            continue; /* it runs in its caller: no guard worker of its own */
        if (e.state == QueueState::Launching && e.worker_pid == 0)
            starting++; /* its own worker's slot */
        else
            guard_workers++;
    }
    /* run()'s guard worker takes a slot too; a statement guarded as written
     * runs in its caller, a backend, which takes none. */
    int own_slot = me.as_written ? 0 : 1;
    int others = std::max(0, bg_procs - pw_procs - guard_workers);
    target = std::max(0, std::min(target, max_worker_processes - others - own_slot));
    /* PostgreSQL admits a registration while all the registered parallel
     * workers number fewer than the registering session's own setting: a
     * session that lowered it sees room only below its own value. */
    int free_parallel = std::min(server_pool(), session_max_parallel_workers_setting()) -
                        running_pw - held;
    int free_slots = max_worker_processes - used_slots - held - starting;
    return free_parallel >= target && free_slots >= target + own_slot;
}

/*
 * Could an ordinary launch that read the reservations before this head's
 * was made still be registering its workers?  Its mark comes before its
 * read of the reservations, our increment of the reservations before this
 * read of the marks, each with a full barrier: one of the two sees the
 * other.  A mark later than the reservation's completion is a launch that
 * read them after it.
 */
bool launch_may_be_in_flight(const QueueEntry *head, TimestampTz now)
{
    if (TimestampDifferenceExceeds(head->reserved_since, now, kInFlightMaxMs))
        return false;
    pg_memory_barrier();
    for (int i = 0; i < queue->nlaunching; i++) {
        uint64 mark = pg_atomic_read_u64(launching(i));
        if (mark == 0)
            continue;
        auto began = static_cast<TimestampTz>(mark >> 1);
        if (began > head->reserved_since)
            continue;
        if ((mark & kBuildLaunch) && TimestampDifferenceExceeds(began, now, kBuildInFlightMs))
            continue;
        return true;
    }
    return false;
}

void become_launching(QueueEntry *e, TimestampTz now)
{
    if (e->state == QueueState::Waiting && now > e->wait_began)
        e->queued_us += now - e->wait_began;
    e->state = QueueState::Launching;
    e->worker_procno = -1;
    e->worker_pid = 0;
    e->launch_seq = queue->next_launch_seq++;
}

void wake_head()
{
    QueueEntry *head = prune_and_find_head();
    if (head && head != mine)
        SetLatch(&ProcGlobal->allProcs[head->procno].procLatch);
}

/*
 * At process exit the queue lock may not be taken safely (we may be exiting
 * from an error); releasing our reservation and freeing our entry with
 * atomic stores is enough, since a free entry is only claimed under the
 * lock and the claimer rewrites it all.
 */
void leave_at_exit(int, Datum)
{
    if (queue && mine) {
        set_reserved(*mine, 0);
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
        mine->procno = MyProcNumber;
        mine->database_id = MyDatabaseId;
        mine->user_id = GetUserId();
        mine->priority = guard_priority();
        mine->as_written = spec.as_written;
        mine->queued_us = 0;
        const char *app = application_name ? application_name : "";
        int len = pg_mbcliplen(app, static_cast<int>(strlen(app)), NAMEDATALEN - 1);
        memcpy(mine->application_name, app, len);
        mine->application_name[len] = '\0';
        const char *sql = spec.sql ? spec.sql : "";
        len = pg_mbcliplen(sql, static_cast<int>(strnlen(sql, 1024 * 1024)), kStatementBytes - 1);
        memcpy(mine->statement, sql, len);
        mine->statement[len] = '\0';
        mine->target = spec.target;
        mine->attempt = 0;
        mine->retries = spec.retries;
        mine->ticket = queue->next_ticket++;
        mine->waiting_since = GetCurrentTimestamp();
        mine->wait_began = mine->waiting_since;
        mine->worker_procno = -1;
        mine->worker_pid = 0;
        mine->launch_seq = 0;
        mine->reserved_since = 0;
        set_reserved(*mine, 0);
    }
    LWLockRelease(queue->lock);
}

bool queue_wait_turn(const RunSpec &, int attempt, long *budget_ms)
{
    /* Every count below is taken under the queue's lock, where 19 cannot
     * find PostgreSQL's registrations for the first time (bgworker_slots.cpp):
     * find them now, or each count falls back on the lock groups, which see a
     * registered worker only once it has started. */
    (void) bgworker_slots_available();
    if (!queue || !mine)
        return true;
    if (*budget_ms <= 0) {
        LWLockAcquire(queue->lock, LW_EXCLUSIVE);
        mine->attempt = attempt;
        become_launching(mine, GetCurrentTimestamp());
        wake_head();
        LWLockRelease(queue->lock);
        return true;
    }
    TimestampTz start = GetCurrentTimestamp();
    bool room = false;

    for (;;) {
        TimestampTz now = GetCurrentTimestamp();
        long waited = static_cast<long>((now - start) / 1000);
        bool out_of_time = waited >= *budget_ms;
        bool settling = false;

        LWLockAcquire(queue->lock, LW_EXCLUSIVE);
        mine->attempt = attempt;
        if (mine->state == QueueState::Delaying) {
            mine->state = QueueState::Waiting; /* back in line with its old ticket */
            mine->wait_began = now;
        }
        QueueEntry *head = prune_and_find_head();
        if (head == mine) {
            reserve_for_head(mine);
            settling = reserved_of(*mine) > 0 && launch_may_be_in_flight(mine, now);
            if (!settling && pool_has_room(*mine))
                room = true;
        }
        if (room || out_of_time) {
            become_launching(mine, now);
            wake_head(); /* the next in line reserves now */
        }
        LWLockRelease(queue->lock);

        if (room || out_of_time) {
            *budget_ms = std::max(0L, *budget_ms - waited);
            return room;
        }
        long wait = std::min(settling ? kSettlePollMs : kQueuePollMs, *budget_ms - waited);
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait,
                         wait_event_queue());
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

void queue_worker_attached(int caller_procno, pid_t worker_pid)
{
    if (!queue)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    for (int i = 0; i < queue->nentries; i++) {
        QueueEntry &e = queue->entries[i];
        if (e.procno == caller_procno && entry_alive(e) && e.state == QueueState::Launching)
            e.worker_pid = worker_pid;
    }
    LWLockRelease(queue->lock);
}

void queue_attempt_decided(int worker_procno, bool short_attempt, int launched)
{
    if (!queue || !mine)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    if (short_attempt) {
        /* It waits out its delay out of line: no head-of-line stall. */
        set_reserved(*mine, 0);
        mine->worker_procno = -1;
        mine->worker_pid = 0;
        mine->state = QueueState::Delaying;
    } else {
        /*
         * Its workers are registered now and hold nothing back; what it
         * launched stays reserved until its statement has finished, for
         * the statement's next launches.
         */
        set_reserved(*mine, static_cast<uint32>(
                                std::min(std::max(launched, 0), reservation_goal(*mine))));
        mine->worker_procno = worker_procno;
        mine->state = QueueState::Running;
    }
    mine->reserved_since = 0;
    wake_head();
    LWLockRelease(queue->lock);
}

void queue_statement_finished()
{
    if (!queue || !mine || mine->state != QueueState::Running || reserved_of(*mine) == 0)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    set_reserved(*mine, 0);
    wake_head();
    LWLockRelease(queue->lock);
}

void queue_leave()
{
    if (!queue || !mine)
        return;
    LWLockAcquire(queue->lock, LW_EXCLUSIVE);
    set_reserved(*mine, 0);
    mine->state = QueueState::Free;
    mine->pid = 0;
    mine = nullptr;
    wake_head();
    LWLockRelease(queue->lock);
}

uint32 queue_reserved_total()
{
    return queue ? pg_atomic_read_u32(&queue->reserved_total) : 0;
}

bool queue_launch_begins(bool build)
{
    if (!queue || MyProcNumber < 0 || MyProcNumber >= queue->nlaunching)
        return false;
    pg_atomic_uint64 *mark = launching(MyProcNumber);
    uint64 old = pg_atomic_read_u64(mark);
    if (old != 0 && (old & kBuildLaunch) == 0 && !build)
        return false; /* a launch within one in flight: the outer one is older */
    uint64 now = static_cast<uint64>(GetCurrentTimestamp()) << 1;
    (void) pg_atomic_exchange_u64(mark, now | (build ? kBuildLaunch : 0));
    return true;
}

void queue_launch_registered()
{
    if (queue && MyProcNumber >= 0 && MyProcNumber < queue->nlaunching)
        pg_atomic_write_u64(launching(MyProcNumber), 0);
}

int queue_reserved_now()
{
    if (!queue)
        return 0;
    int held = 0;
    LWLockAcquire(queue->lock, LW_SHARED);
    for (int i = 0; i < queue->nentries; i++)
        held += reserved_hold(queue->entries[i]);
    LWLockRelease(queue->lock);
    return held;
}

int queue_guard_share(int caller_procno, int *target)
{
    if (!queue)
        return -1;
    int ahead = -1;
    LWLockAcquire(queue->lock, LW_SHARED);
    QueueEntry *own = nullptr;
    for (int i = 0; i < queue->nentries && own == nullptr; i++) {
        QueueEntry &e = queue->entries[i];
        if (e.procno == caller_procno && entry_alive(e) && admitted(e))
            own = &e;
    }
    if (own) {
        *target = own->target;
        ahead = 0;
        /* Admitted before it: its room was counted after theirs. */
        for (int i = 0; i < queue->nentries; i++) {
            QueueEntry &e = queue->entries[i];
            if (&e != own && admitted(e) && e.launch_seq < own->launch_seq)
                ahead += admitted_hold(e);
        }
    }
    LWLockRelease(queue->lock);
    return ahead;
}

namespace {

const char *state_name(QueueState s)
{
    switch (s) {
    case QueueState::Waiting: return "waiting";
    case QueueState::Delaying: return "delaying";
    case QueueState::Launching: return "launching";
    case QueueState::Running: return "running";
    case QueueState::Free: break;
    }
    return "free";
}

/* waited, as an interval. */
Datum interval_us(int64 us)
{
    auto *iv = static_cast<Interval *>(palloc0(sizeof(Interval)));
    iv->time = us;
    return IntervalPGetDatum(iv);
}

Datum queue_view(FunctionCallInfo fcinfo)
{
    require_shared_memory("parallel_guard.queue");
    InitMaterializedSRF(fcinfo, 0);
    auto *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    if (!queue)
        return static_cast<Datum>(0);

    int n = 0;
    auto *copy = static_cast<QueueEntry *>(palloc(sizeof(QueueEntry) * queue->nentries));
    auto *reserved = static_cast<uint32 *>(palloc(sizeof(uint32) * queue->nentries));
    LWLockAcquire(queue->lock, LW_SHARED);
    for (int i = 0; i < queue->nentries; i++)
        if (entry_alive(queue->entries[i])) {
            reserved[n] = static_cast<uint32>(reserved_hold(queue->entries[i]));
            copy[n++] = queue->entries[i];
        }
    LWLockRelease(queue->lock);

    /* As pg_stat_activity: another role's statement and application_name
     * only for pg_read_all_stats (shown as in parallel_guard.history). */
    bool sees_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
    TimestampTz now = GetCurrentTimestamp();
    for (int i = 0; i < n; i++) {
        const QueueEntry &e = copy[i];
        constexpr int kColumns = 16;
        Datum values[kColumns];
        bool nulls[kColumns];
        memset(nulls, 0, sizeof(nulls));
        int position = 0;
        if (e.state == QueueState::Waiting) {
            position = 1;
            for (int j = 0; j < n; j++)
                if (copy[j].state == QueueState::Waiting && serves_before(copy[j], e, now))
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
        /* Earlier versions' queue_status() has fewer columns:
         * tuplestore_putvalues() takes as many values as the result has. */
        values[9] = Int32GetDatum(static_cast<int32>(reserved[i]));
        values[10] = Int32GetDatum(e.priority);
        /* Effective priority matters only to a run that waits (or will again). */
        bool in_line = e.state == QueueState::Waiting || e.state == QueueState::Delaying;
        values[11] = Int32GetDatum(static_cast<int32>(
            std::min<int64>(effective_priority(e, now), PG_INT32_MAX)));
        nulls[11] = !in_line;
        bool visible = sees_all || has_privs_of_role(GetUserId(), e.user_id);
        values[12] = CStringGetTextDatum(visible ? e.statement : "<insufficient privilege>");
        values[13] = CStringGetTextDatum(visible ? e.application_name : "<insufficient privilege>");
        /* A statement guarded as written runs in its caller: no worker. */
        values[14] = Int32GetDatum(e.worker_pid);
        nulls[14] = e.as_written || e.worker_pid <= 0;
        int64 waited = e.queued_us;
        if (e.state == QueueState::Waiting && now > e.wait_began)
            waited += now - e.wait_began;
        values[15] = interval_us(waited);
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
