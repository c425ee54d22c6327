/*
 * lock_group.hpp: reading a process's parallel lock group, for the watcher
 * (a fallback count of an attempt's workers) and the queue (workers a
 * running attempt holds).
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/*
 * Parallel workers now in the lock group led by the process with this
 * pgprocno, or -1 while that process leads no lock group (it has not yet
 * launched parallel workers).  LaunchParallelWorkers() makes the leader a
 * lock group leader (BecomeLockGroupLeader) and each parallel worker joins
 * early in ParallelWorkerMain() (BecomeLockGroupMember); a worker leaves in
 * ProcKill, before the postmaster has counted it gone.
 */
int lock_group_workers(int procno);

/*
 * True when the process with this pgprocno, or a member of the lock group
 * it leads, is waiting for a heavyweight lock now.  Reads only the PGPROCs'
 * wait events: no allocation, no lock manager traffic.
 */
bool lock_group_waits_for_lock(int procno);

} // namespace pg_guard
