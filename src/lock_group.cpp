/*
 * lock_group.cpp: a process's parallel lock group, read in shared memory.
 *
 * The group hangs off the leader's PGPROC (lockGroupLeader /
 * lockGroupMembers) and is protected by the leader's lock partition lock
 * (storage/proc.h).  Walking it costs microseconds.
 */
#include "lock_group.hpp"

namespace pg_guard {

int lock_group_workers(int procno)
{
    if (procno < 0)
        return -1;
    PGPROC *leader = &ProcGlobal->allProcs[procno];
    LWLock *partition = LockHashPartitionLockByProc(leader);
    int members = -1;

    LWLockAcquire(partition, LW_SHARED);
    if (leader->lockGroupLeader == leader) {
        members = 0;
        const dlist_head *head = &leader->lockGroupMembers;
        for (const dlist_node *n = head->head.next; n && n != &head->head; n = n->next)
            members++;
        members -= 1; /* the leader is a member of its own group */
    }
    LWLockRelease(partition);
    return members;
}

namespace {

bool waits_for_lock(const PGPROC *proc)
{
    uint32 event = *static_cast<const volatile uint32 *>(&proc->wait_event_info);
    return (event & 0xFF000000U) == PG_WAIT_LOCK;
}

} // namespace

bool lock_group_waits_for_lock(int procno)
{
    if (procno < 0)
        return false;
    PGPROC *leader = &ProcGlobal->allProcs[procno];
    if (waits_for_lock(leader))
        return true;
    LWLock *partition = LockHashPartitionLockByProc(leader);
    bool waiting = false;

    LWLockAcquire(partition, LW_SHARED);
    if (leader->lockGroupLeader == leader) {
        const dlist_head *head = &leader->lockGroupMembers;
        for (const dlist_node *n = head->head.next; n && n != &head->head && !waiting;
             n = n->next) {
            const PGPROC *member = reinterpret_cast<const PGPROC *>(
                reinterpret_cast<const char *>(n) - offsetof(PGPROC, lockGroupLink));
            waiting = waits_for_lock(member);
        }
    }
    LWLockRelease(partition);
    return waiting;
}

} // namespace pg_guard
