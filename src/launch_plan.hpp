/*
 * launch_plan.hpp: what a statement plans to launch, shared by the worker
 * (which publishes each launch site as it runs) and parallel_guard.explain()
 * (which plans the statement as the worker would, without running it), so
 * that both name the same places the same way.
 */
#pragma once

#include "pg.hpp"

namespace pg_guard {

inline bool is_gather(const PlanState *ps)
{
    return IsA(ps, GatherState) || IsA(ps, GatherMergeState);
}

/* Gather.num_workers (or Gather Merge's). */
int gather_planned(const PlanState *ps);

/* "Gather (node 3) over big", "query 2: Gather Merge (node 1) over t". */
char *gather_label(PlanState *ps, int query);

/* "index build on big" */
char *index_build_label(Oid table);

/* How a REFRESH's rebuild of `index` is named, by run() and explain() alike. */
char *index_rebuild_label(Oid index);

/*
 * The workers the build of this index (just created, not yet built) plans,
 * asking plan_create_index_workers() exactly as index_build() does, or 0
 * when its access method cannot build in parallel.  The index's catalog
 * rows must be visible (after CommandCounterIncrement()).
 */
int index_build_workers(Oid index_oid, Oid *table);

} // namespace pg_guard
