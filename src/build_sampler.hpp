/*
 * build_sampler.hpp: count the parallel workers of an index build that runs
 * in this very process (a statement guarded as written).
 *
 * A parallel index build registers its workers inside _bt_begin_parallel()
 * (or an access method's own) and gives no hook from then until it has
 * finished: the only way to know its count while it runs is to look at
 * PostgreSQL's registrations from outside the build.  The caller of run()
 * looks from its own process; here a timer does, every millisecond, from a
 * signal handler that only reads shared memory (bgworker_slots.hpp).  When
 * the build's registrations are settled (the rule of the watcher:
 * registrations_settled()) and below what the attempt needs, it cancels the
 * statement as a query cancel would, so the attempt is rolled back within a
 * millisecond, not after the build.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

/*
 * Start sampling the next build of this process, which plans `planned`
 * workers; below `cancel_below` settled workers the statement is cancelled
 * (0: never).  bgworker_slots_available() must have answered true.
 */
void build_sampler_start(int planned, int cancel_below, long settle_ms);

/* Its registrations are settled (the most seen is its count). */
bool build_sampler_settled();

/* Stop the timer; returns the most workers seen registered for the build. */
int build_sampler_stop();

/*
 * The sampler cancelled the statement.  clear: forget it, and drop the
 * cancel when it has not fired yet (the attempt is rolled back anyway).
 */
bool build_sampler_cancelled(bool clear);

} // namespace pg_guard
