/*
 * wait_events.hpp: the wait events a caller shows in pg_stat_activity while
 * it waits for parallel_guard (wait_event_type 'Extension'): on PostgreSQL
 * 17 and later with names of their own, before 17 as the generic
 * 'Extension' (compat.hpp).
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/* Waiting in the queue for its turn and room for its target (queue.cpp). */
inline uint32 wait_event_queue()
{
    static uint32 id = 0;
    return compat_wait_event_extension("ParallelGuardQueue", &id);
}

/* Waiting out the delay between two attempts (attempt_loop.cpp). */
inline uint32 wait_event_delay()
{
    static uint32 id = 0;
    return compat_wait_event_extension("ParallelGuardDelay", &id);
}

/* Watching its guard worker run an attempt (watcher.cpp). */
inline uint32 wait_event_worker()
{
    static uint32 id = 0;
    return compat_wait_event_extension("ParallelGuardWorker", &id);
}

} // namespace pg_guard
