/*
 * launch_plan.cpp: naming launch sites and planning index builds, for the
 * worker and for parallel_guard.explain().
 */
#include "launch_plan.hpp"

extern "C" {
#include "access/genam.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
}

namespace pg_guard {

namespace {

/* The first relation scanned below a node, for a label a DBA recognises. */
bool find_scanned_relation(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    switch (nodeTag(ps->plan)) {
    case T_SeqScan:
    case T_SampleScan:
    case T_IndexScan:
    case T_IndexOnlyScan:
    case T_BitmapHeapScan:
    case T_TidScan:
    case T_TidRangeScan: {
        Index rti = reinterpret_cast<Scan *>(ps->plan)->scanrelid;
        if (rti > 0) {
            *static_cast<Oid *>(context) = rt_fetch(rti, ps->state->es_range_table)->relid;
            return true;
        }
        break;
    }
    default: break;
    }
    return planstate_tree_walker(ps, find_scanned_relation, context);
}

} // namespace

int gather_planned(const PlanState *ps)
{
    if (IsA(ps->plan, Gather))
        return reinterpret_cast<const Gather *>(ps->plan)->num_workers;
    return reinterpret_cast<const GatherMerge *>(ps->plan)->num_workers;
}

char *gather_label(PlanState *ps, int query)
{
    Oid rel = InvalidOid;
    find_scanned_relation(outerPlanState(ps), &rel);
    const char *relname = OidIsValid(rel) ? get_rel_name(rel) : nullptr;
    const char *type = IsA(ps, GatherState) ? "Gather" : "Gather Merge";
    return psprintf("%s%s (node %d)%s%s", query > 1 ? psprintf("query %d: ", query) : "", type,
                    ps->plan->plan_node_id, relname ? " over " : "", relname ? relname : "");
}

char *index_build_label(Oid table)
{
    const char *name = get_rel_name(table);
    return psprintf("index build on %s", name ? name : "?");
}

int index_build_workers(Oid index_oid, Oid *table)
{
    *table = IndexGetRelation(index_oid, false);
    Relation index = index_open(index_oid, NoLock);
    bool parallel = index_can_build_parallel(index);
    index_close(index, NoLock);
    return parallel ? plan_create_index_workers(*table, index_oid) : 0;
}

} // namespace pg_guard
