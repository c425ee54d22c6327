/*
 * launch_plan.cpp: naming launch sites and planning index builds, for the
 * worker and for parallel_guard.explain().
 */
#include "launch_plan.hpp"

extern "C" {
#include "access/genam.h"
#include "catalog/index.h"
#include "access/table.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "utils/rel.h"
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

char *index_rebuild_label(Oid index)
{
    const char *name = get_rel_name(index);
    return psprintf("index rebuild of %s", name ? name : "?");
}

namespace {

/*
 * pgvector's access methods build in parallel on every version (on 15 and 16
 * without amcanbuildparallel, which 17 added) and plan their own workers:
 * IVFFlat asks plan_create_index_workers(), HNSW only asks it whether a
 * parallel build is safe and then takes the table's parallel_workers (capped
 * by max_parallel_maintenance_workers), else max_parallel_maintenance_workers
 * (hnswbuild.c, ComputeParallelWorkers, pgvector 0.5 to 0.8).  Known by the
 * access method's name, as pgvector names them.
 */
enum class VectorAm { None, Hnsw, IvfFlat };

VectorAm vector_am(Relation index)
{
    const char *am = get_am_name(index->rd_rel->relam);
    if (am == nullptr)
        return VectorAm::None;
    if (strcmp(am, "hnsw") == 0)
        return VectorAm::Hnsw;
    if (strcmp(am, "ivfflat") == 0)
        return VectorAm::IvfFlat;
    return VectorAm::None;
}

} // namespace

int index_build_workers(Oid index_oid, Oid *table)
{
    *table = IndexGetRelation(index_oid, false);
    Relation index = index_open(index_oid, NoLock);
    VectorAm vector = vector_am(index);
    bool parallel = vector != VectorAm::None || index_can_build_parallel(index);
    index_close(index, NoLock);
    if (!parallel)
        return 0;
    int workers = plan_create_index_workers(*table, index_oid);
    if (vector != VectorAm::Hnsw || workers == 0)
        return workers;
    Relation heap = table_open(*table, NoLock);
    int reloption = RelationGetParallelWorkers(heap, -1);
    table_close(heap, NoLock);
    return reloption != -1 ? Min(reloption, max_parallel_maintenance_workers)
                           : max_parallel_maintenance_workers;
}

} // namespace pg_guard
