/*
 * bgworker_slots.cpp: read bgworker.c's "Background Worker Data" (see the
 * header for why and under which checks).
 */
#include "bgworker_slots.hpp"

#include "boundary.hpp"

namespace pg_guard {

namespace {

/* The layout of src/backend/postmaster/bgworker.c, PostgreSQL 10 to 19. */
struct MirrorSlot {
    bool in_use;
    bool terminate;
    pid_t pid;
    uint64 generation;
    BackgroundWorker worker;
};

struct MirrorArray {
    int total_slots;
    uint32 parallel_register_count;
    uint32 parallel_terminate_count;
    MirrorSlot slot[FLEXIBLE_ARRAY_MEMBER];
};

enum class Probe { NotYet, Usable, Unusable };
Probe probe = Probe::NotYet;
MirrorArray *slots = nullptr;

#if PG_VERSION_NUM >= 190000
/*
 * 19 no longer exports BackgroundWorkerShmemSize(); but its shared memory
 * index attaches an existing area only with the size the area was made
 * with, and raises an ERROR otherwise.  So ask it, in a subtransaction that
 * is rolled back (which releases ShmemIndexLock on that ERROR).  Rolling
 * back releases every LWLock this backend holds, so the question waits for
 * a moment when it holds none (holding one holds interrupts too).
 */
bool can_ask_now()
{
    return IsTransactionState() && InterruptHoldoffCount == 0 && CritSectionCount == 0;
}

void attach_with_size(void *arg)
{
    bool found = false;
    (void) ShmemInitStruct("Background Worker Data", *static_cast<Size *>(arg), &found);
    if (!found)
        elog(ERROR, "no \"Background Worker Data\" in shared memory");
}

bool server_size_is(Size size)
{
    ErrorData *edata = nullptr;
    bool same = pg_try_rolled_back(attach_with_size, &size, &edata);
    if (!same)
        FreeErrorData(edata);
    return same;
}
#else
bool can_ask_now()
{
    return true;
}

bool server_size_is(Size size)
{
    return size == BackgroundWorkerShmemSize();
}
#endif

MirrorArray *attach()
{
    if (probe == Probe::NotYet && !can_ask_now())
        return nullptr; /* not now; asked again at the next look */
    if (probe == Probe::NotYet) {
        probe = Probe::Unusable;
        Size mirror_size =
            add_size(offsetof(MirrorArray, slot),
                     mul_size(static_cast<Size>(max_worker_processes), sizeof(MirrorSlot)));
        if (IsUnderPostmaster && server_size_is(mirror_size)) {
            bool found = false;
            void *p = ShmemInitStruct("Background Worker Data", mirror_size, &found);
            auto *array = static_cast<MirrorArray *>(p);
            if (found && array->total_slots == max_worker_processes) {
                slots = array;
                probe = Probe::Usable;
            }
        }
        if (probe == Probe::Unusable)
            elog(DEBUG1, "parallel_guard: background worker slots not readable on this server; "
                         "counting lock groups instead");
    }
    return slots;
}

} // namespace

bool bgworker_slots_available()
{
    return attach() != nullptr;
}

int parallel_workers_registered()
{
    MirrorArray *a = attach();
    if (a == nullptr)
        return -1;
    /* The register count changes under BackgroundWorkerLock; the postmaster
     * bumps the terminate count without a lock, before it frees the slot. */
    LWLockAcquire(BackgroundWorkerLock, LW_SHARED);
    uint32 registered = a->parallel_register_count;
    pg_read_barrier();
    uint32 terminated = *static_cast<volatile uint32 *>(&a->parallel_terminate_count);
    LWLockRelease(BackgroundWorkerLock);
    return static_cast<int>(registered - terminated);
}

int parallel_workers_registered_unlocked()
{
    if (probe != Probe::Usable)
        return -1;
    uint32 registered = *static_cast<volatile uint32 *>(&slots->parallel_register_count);
    pg_read_barrier();
    uint32 terminated = *static_cast<volatile uint32 *>(&slots->parallel_terminate_count);
    return static_cast<int>(registered - terminated);
}

int parallel_workers_of_unlocked(pid_t pid)
{
    if (probe != Probe::Usable)
        return -1;
    int n = 0;
    for (int i = 0; i < slots->total_slots; i++) {
        const MirrorSlot *s = &slots->slot[i];
        if (!*static_cast<const volatile bool *>(&s->in_use))
            continue;
        pg_read_barrier(); /* the registration is written before in_use */
        if ((s->worker.bgw_flags & BGWORKER_CLASS_PARALLEL) != 0 &&
            *static_cast<const volatile pid_t *>(&s->worker.bgw_notify_pid) == pid)
            n++;
    }
    return n;
}

int parallel_launches_of(pid_t pid, SlotLaunch *out, int max)
{
    MirrorArray *a = attach();
    if (a == nullptr)
        return -1;
    int n = 0;
    LWLockAcquire(BackgroundWorkerLock, LW_SHARED);
    for (int i = 0; i < a->total_slots; i++) {
        const MirrorSlot *s = &a->slot[i];
        if (!*static_cast<const volatile bool *>(&s->in_use))
            continue;
        pg_read_barrier(); /* the registration is written before in_use */
        if ((s->worker.bgw_flags & BGWORKER_CLASS_PARALLEL) == 0 || s->worker.bgw_notify_pid != pid)
            continue;
        uint32 handle = DatumGetUInt32(s->worker.bgw_main_arg);
        int j = 0;
        while (j < n && out[j].handle != handle)
            j++;
        if (j == n) {
            if (n == max)
                continue;
            out[n++] = {handle, 0};
        }
        out[j].workers++;
    }
    LWLockRelease(BackgroundWorkerLock);
    return n;
}

} // namespace pg_guard
