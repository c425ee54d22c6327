/*
 * bgworker_slots.hpp: PostgreSQL's own record of registered background
 * workers, read-only.
 *
 * bgworker.c keeps, in the shared struct it registers as "Background Worker
 * Data", one slot per max_worker_processes place (each with a copy of the
 * worker's BackgroundWorker registration) and the two counters its
 * admission check for parallel workers uses (RegisterDynamicBackgroundWorker:
 * parallel_register_count - parallel_terminate_count >= max_parallel_workers
 * refuses).  Nothing public exposes either, so this module mirrors the
 * struct's layout, unchanged from PostgreSQL 10 to 19, and uses it only
 * after checking that layout against the server at run time (its size as
 * BackgroundWorkerShmemSize() reports it, total_slots == max_worker_processes).
 * When the check fails every function here answers "not available" and the
 * callers fall back to the lock groups.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/* The layout was checked and the struct can be read. */
bool bgworker_slots_available();

/*
 * Parallel workers PostgreSQL counts as holding a max_parallel_workers place
 * now (registered and not yet reaped by the postmaster), exactly as its own
 * admission check counts them; -1 when not available.
 */
int parallel_workers_registered();

/* One launch of parallel workers (one parallel context) seen in the slots. */
struct SlotLaunch {
    uint32 handle; /* the parallel context's segment handle (bgw_main_arg) */
    int workers;   /* slots registered for it now */
};

/*
 * The parallel workers registered now by the process `pid` (bgw_notify_pid),
 * grouped by launch; returns how many launches were written into out (at
 * most max), or -1 when not available.  A slot is taken at registration,
 * within LaunchParallelWorkers(), and freed only after the worker has exited
 * and the postmaster has counted it gone, so every launched worker is seen
 * for as long as it lives, and longer.
 */
int parallel_launches_of(pid_t pid, SlotLaunch *out, int max);

/*
 * The same two counts read without BackgroundWorkerLock, for a signal
 * handler (build_sampler.cpp): only plain reads of shared memory, so a
 * registration made at that moment may be missed and seen at the next read.
 * -1 unless bgworker_slots_available() has answered true before.
 */
int parallel_workers_registered_unlocked();
int parallel_workers_of_unlocked(pid_t pid);

} // namespace pg_guard
