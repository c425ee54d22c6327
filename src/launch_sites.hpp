/*
 * launch_sites.hpp: publish each launch of parallel workers the guarded
 * statement makes, in the process that runs it (the guard's worker, or the
 * caller when the statement is guarded as written).
 */
#pragma once

#include "attempt_segment.hpp"
#include "statement.hpp"

namespace pg_guard {

/* The executor, object-access and planner hooks (from _PG_init, after the
 * reservation hooks, so that they wrap those); they do nothing while no
 * statement is published. */
void launch_sites_install_hooks();

/*
 * From now until launch_sites_end(), publish every launch of this process
 * into shared and sites (shared->max_sites of them).  After each change,
 * the process shared->caller_procno is woken (-1: none) and on_change(arg)
 * is called, when given, outside any lock; it may raise an ERROR, which
 * then ends the statement.
 */
void launch_sites_begin(GuardShared *shared, LaunchSite *sites, StatementKind kind,
                        void (*on_change)(void *), void *arg);
void launch_sites_end();

/* A statement is being published in this process. */
bool launch_sites_active();

} // namespace pg_guard
