/*
 * launch_sites.cpp: publish every launch of parallel workers that the
 * guarded statement makes, in whichever process runs it: the guard's
 * background worker (run()) or the caller itself (a statement guarded as
 * written).  The sites go to the attempt's GuardShared and LaunchSite array
 * (attempt_segment.hpp): in the worker's segment, or in the caller's own
 * memory.
 *
 * While the statement runs, hooks (installed in every process that loads the
 * library, doing nothing at all otherwise) publish:
 *  - each Gather / Gather Merge of every query the statement runs is a
 *    launch site, found after ExecutorStart; a launch begins at the node's
 *    first call after (re)initialisation and is counted exactly
 *    (nworkers_launched) as soon as the leader first runs the node's child,
 *    right after LaunchParallelWorkers() (ExecGather() in nodeGather.c), or
 *    else when the node's call returns;
 *  - each index build is a site, published when its index is created, with
 *    the workers plan_create_index_workers() plans for it; its launch has no
 *    executor node, so the judge counts its registrations.
 * A Gather that has returned its last row waits until its workers have
 * exited, so that PostgreSQL no longer counts them when the statement's next
 * launch asks for workers.
 */
#include "launch_sites.hpp"

#include "boundary.hpp"
#include "launch_plan.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/objectaccess.h"
#include "common/hashfn.h"
#include "executor/execParallel.h"
}

/* What PostgreSQL calls: C linkage, each a tiny guard around its C++ twin. */
extern "C" {
static void guard_executor_start(QueryDesc *qd, int eflags);
static void guard_executor_end(QueryDesc *qd);
static void guard_object_access(ObjectAccessType access, Oid class_id, Oid object_id,
                                int sub_id, void *arg);
static void guard_build_simple_rel(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte);
static TupleTableSlot *guard_gather_call(PlanState *ps);
static TupleTableSlot *guard_child_first_call(PlanState *ps);
}

namespace pg_guard {

namespace {

GuardShared *shared = nullptr;
LaunchSite *sites = nullptr; /* shared->max_sites of them */
void (*changed_callback)(void *) = nullptr;
void *changed_arg = nullptr;
StatementKind statement_kind = StatementKind::CreateTableAs;
bool statement_running = false;
bool main_query_seen = false;
int queries_seen = 1; /* query 1 is the statement's own */

ExecutorStart_hook_type prev_executor_start = nullptr;
ExecutorEnd_hook_type prev_executor_end = nullptr;
object_access_hook_type prev_object_access = nullptr;
build_simple_rel_hook_type prev_build_simple_rel = nullptr;
Oid rebuild_seen = InvalidOid;   /* the index rebuild last published */
bool probing_rebuild = false;    /* our own plan_create_index_workers() call */

/* Whoever judges the launches looks again: the caller's process is woken
 * (the guard worker), or the judge is called here (guarded as written; it
 * may end the attempt with an ERROR). */
void changed()
{
    wake_proc(shared->caller_procno);
    if (changed_callback)
        changed_callback(changed_arg);
}

/* ---- publishing launch sites (under the spinlock, no calls) ---- */

int add_site(SiteKind kind, int query, int node_id, int planned, uint32 query_hash,
             const char *label, bool counted_now)
{
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&shared->mutex);
    int i = 0;
    while (i < shared->nsites &&
           !(sites[i].node_id == node_id && sites[i].query_hash == query_hash &&
             sites[i].kind == kind && kind != SiteKind::IndexBuild))
        i++;
    bool no_room = false;
    if (i == shared->nsites) {
        if (shared->nsites < shared->max_sites) {
            shared->nsites++;
            LaunchSite &s = sites[i];
            memset(&s, 0, sizeof(s));
            s.kind = kind;
            s.query = query;
            s.node_id = node_id;
            s.planned = planned;
            s.fewest = -1;
            s.query_hash = query_hash;
            strlcpy(s.label, label, kSiteLabel);
        } else if (kind == SiteKind::IndexBuild) {
            no_room = true; /* the caller counts builds one site each: no folding */
        } else {
            /*
             * Fold further Gather sites into the last one.  Its launches so
             * far were judged against its own plan; from now on each launch
             * is judged as it is counted (count_launch), against its own.
             */
            i = shared->max_sites - 1;
            LaunchSite &s = sites[i];
            if (!s.folded) {
                s.folded = true;
                s.short_launch = s.fewest >= 0 && s.fewest < Min(s.planned, shared->target);
                s.kind = SiteKind::Gather;
                s.node_id = -1;
                strlcpy(s.label, "further launch sites", kSiteLabel);
            }
            s.planned = Min(s.planned, planned);
        }
    }
    if (!no_room) {
        LaunchSite &s = sites[i];
        if (counted_now) { /* a site that plans no workers: launched none */
            s.launches++;
            s.fewest = 0;
            if (s.counted_at == 0)
                s.counted_at = now;
        } else if (kind == SiteKind::IndexBuild) {
            s.pending = true; /* the caller counts its registrations */
            s.pending_since = now;
        }
        shared->ran_query = true;
        shared->change++;
    }
    int room = shared->max_sites;
    SpinLockRelease(&shared->mutex);
    if (no_room)
        ereport(ERROR,
                (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                 errmsg_plural("parallel_guard cannot count more than %d index build in one "
                               "statement",
                               "parallel_guard cannot count more than %d index builds in one "
                               "statement",
                               room, room),
                 errdetail("Partitions were attached after the statement was checked.")));
    changed();
    return i;
}

void begin_launch(int site)
{
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&shared->mutex);
    sites[site].pending = true;
    sites[site].pending_since = now;
    shared->change++;
    SpinLockRelease(&shared->mutex);
    changed();
}

void count_launch(int site, int launched, uint32 handle, int planned)
{
    TimestampTz now = GetCurrentTimestamp();
    SpinLockAcquire(&shared->mutex);
    LaunchSite &s = sites[site];
    s.handle = handle;
    if (s.folded && launched < Min(planned, shared->target))
        s.short_launch = true;
    if (s.counted_at == 0)
        s.counted_at = now;
    s.pending = false;
    s.launches++;
    s.fewest = s.fewest < 0 ? launched : Min(s.fewest, launched);
    shared->change++;
    SpinLockRelease(&shared->mutex);
    changed();
}

/* ---- Gather nodes: hooks on the node and on its child ---- */

struct GatherHook {
    QueryDesc *query;
    PlanState *gather;
    PlanState *child;
    ExecProcNodeMtd gather_call;
    ExecProcNodeMtd child_call;
    int site;
    bool awaiting; /* a launch has begun and is not counted yet */
};

GatherHook *hooks = nullptr; /* in TopMemoryContext */
int nhooks = 0;
int hooks_capacity = 0;

/* Newest first: an entry left by a query that failed may share an address
 * with a live node, and the live node's entry is always the newer. */
GatherHook *hook_of_gather(PlanState *ps)
{
    for (int i = nhooks - 1; i >= 0; i--)
        if (hooks[i].gather == ps)
            return &hooks[i];
    return nullptr;
}

GatherHook *hook_of_child(PlanState *ps)
{
    for (int i = nhooks - 1; i >= 0; i--)
        if (hooks[i].child == ps)
            return &hooks[i];
    return nullptr;
}

bool initialized(const PlanState *ps)
{
    if (IsA(ps, GatherState))
        return reinterpret_cast<const GatherState *>(ps)->initialized;
    return reinterpret_cast<const GatherMergeState *>(ps)->initialized;
}

ParallelExecutorInfo *executor_info(const PlanState *ps)
{
    if (IsA(ps, GatherState))
        return reinterpret_cast<const GatherState *>(ps)->pei;
    return reinterpret_cast<const GatherMergeState *>(ps)->pei;
}

/* What the launch just made got: nothing when the node ran without
 * parallel mode (ExecGather() then launches nothing). */
int launched_of(const PlanState *ps)
{
    if (executor_info(ps) == nullptr || !ps->state->es_use_parallel_mode)
        return 0;
    if (IsA(ps, GatherState))
        return reinterpret_cast<const GatherState *>(ps)->nworkers_launched;
    return reinterpret_cast<const GatherMergeState *>(ps)->nworkers_launched;
}

void hook_child(GatherHook *h)
{
    if (h->child == nullptr)
        return;
    h->child->ExecProcNodeReal = guard_child_first_call;
    if (h->child->ExecProcNode == h->child_call)
        h->child->ExecProcNode = guard_child_first_call;
}

void unhook_child(GatherHook *h)
{
    h->child->ExecProcNodeReal = h->child_call;
    if (h->child->ExecProcNode == guard_child_first_call)
        h->child->ExecProcNode = h->child_call;
}

/* The parallel segment of the node's launch: what its registrations carry
 * (bgw_main_arg), so that the caller tells them from other launches'. */
uint32 launch_handle(const PlanState *ps)
{
    ParallelExecutorInfo *pei = executor_info(ps);
    if (pei == nullptr || pei->pcxt == nullptr || pei->pcxt->seg == nullptr)
        return 0;
    return dsm_segment_handle(pei->pcxt->seg);
}

void count_if_awaiting(GatherHook *h)
{
    if (h->awaiting && initialized(h->gather)) {
        h->awaiting = false;
        count_launch(h->site, launched_of(h->gather), launch_handle(h->gather),
                     gather_planned(h->gather));
    }
}

/*
 * The node has returned its last row: its workers have finished
 * (ExecParallelFinish) but are still exiting, and PostgreSQL counts them
 * against max_parallel_workers until the postmaster has reaped them.  Wait
 * for that, as ReinitializeParallelDSM() does before a rescan, so that the
 * statement's next launch (the Gather an InitPlan was feeding, the next
 * Append child) is not short for want of the statement's own workers.
 */
void wait_for_finished_workers(PlanState *ps)
{
    ParallelExecutorInfo *pei = executor_info(ps);
    if (pei == nullptr || pei->pcxt->nworkers_launched == 0)
        return;
    ExecParallelFinish(pei);
    for (int i = 0; i < pei->pcxt->nworkers_launched; i++)
        if (pei->pcxt->worker[i].bgwhandle != nullptr)
            (void) WaitForBackgroundWorkerShutdown(pei->pcxt->worker[i].bgwhandle);
}

struct GatherCall {
    ExecProcNodeMtd call;
    PlanState *node;
    TupleTableSlot *slot;
};

void call_gather(void *p)
{
    auto *c = static_cast<GatherCall *>(p);
    c->slot = c->call(c->node);
}

TupleTableSlot *gather_call(PlanState *ps)
{
    GatherHook *h = hook_of_gather(ps);
    if (h == nullptr)
        elog(ERROR, "executor hook of parallel_guard lost its Gather node");
    if (!initialized(ps) && ps->state->es_use_parallel_mode) {
        /*
         * First call, or the first after a rescan: a launch begins.  Not
         * without parallel mode: ExecGather() then launches nothing, by
         * design (a query not run to completion in one go, such as a lazily
         * evaluated SQL function's, or from 18 one run with a tuple count,
         * such as PL/pgSQL's SELECT INTO), so it is no launch at all.
         */
        begin_launch(h->site);
        h->awaiting = true;
        hook_child(h);
    }
    TupleTableSlot *slot;
    if (h->awaiting) {
        /*
         * The leader reads its workers before it runs the child, so an error
         * a worker raised at once can end this call before the child's
         * first call: the launch is counted all the same.
         */
        GatherCall call = {h->gather_call, ps, nullptr};
        ErrorData *edata = nullptr;
        bool ok = pg_try(call_gather, &call, &edata);
        h = hook_of_gather(ps); /* queries run meanwhile may have moved the hooks */
        if (!ok) {
            count_if_awaiting(h);
            rethrow_pg_error(edata);
        }
        slot = call.slot;
    } else {
        slot = h->gather_call(ps);
        h = hook_of_gather(ps);
    }
    count_if_awaiting(h); /* the leader did not run the child itself */
    if (TupIsNull(slot))
        wait_for_finished_workers(ps);
    return slot;
}

TupleTableSlot *child_first_call(PlanState *ps)
{
    GatherHook *h = hook_of_child(ps);
    if (h == nullptr)
        elog(ERROR, "executor hook of parallel_guard lost its node");
    unhook_child(h); /* later calls go straight to the real node */
    count_if_awaiting(h);
    ExecProcNodeMtd real = h->child_call;
    return real(ps);
}

/* ---- finding the Gather nodes of a query ---- */

struct FindContext {
    QueryDesc *query;
    int query_number;
    uint32 query_hash;
    int found;
};

void add_hook(const GatherHook &h)
{
    if (nhooks == hooks_capacity) {
        int capacity = hooks_capacity ? hooks_capacity * 2 : 16;
        Size size = sizeof(GatherHook) * static_cast<Size>(capacity);
        hooks = static_cast<GatherHook *>(
            hooks ? repalloc(hooks, size) : MemoryContextAlloc(TopMemoryContext, size));
        hooks_capacity = capacity;
    }
    hooks[nhooks++] = h;
}

bool find_gathers(PlanState *ps, void *context)
{
    if (ps == nullptr)
        return false;
    auto *fc = static_cast<FindContext *>(context);
    if (is_gather(ps)) {
        int site = add_site(IsA(ps, GatherState) ? SiteKind::Gather : SiteKind::GatherMerge,
                            fc->query_number, ps->plan->plan_node_id, gather_planned(ps),
                            fc->query_hash, gather_label(ps, fc->query_number), false);
        GatherHook h = {fc->query, ps, outerPlanState(ps), ps->ExecProcNodeReal,
                        outerPlanState(ps) ? outerPlanState(ps)->ExecProcNodeReal : nullptr,
                        site, false};
        add_hook(h);
        ps->ExecProcNodeReal = guard_gather_call;
        fc->found++;
    }
    return planstate_tree_walker(ps, find_gathers, context);
}

/* ---- hooks ---- */

void executor_start(QueryDesc *qd, int eflags)
{
    if (prev_executor_start)
        prev_executor_start(qd, eflags);
    else
        standard_ExecutorStart(qd, eflags);
    if (!statement_running || (eflags & EXEC_FLAG_EXPLAIN_ONLY))
        return;

    /* The statement's own query writes into the new relation: DestIntoRel
     * (CREATE TABLE AS, SELECT INTO, CREATE MATERIALIZED VIEW) or
     * DestTransientRel (REFRESH MATERIALIZED VIEW's fill query). */
    CommandDest dest = qd->dest->mydest;
    bool own = !main_query_seen && (dest == DestIntoRel || dest == DestTransientRel);
    main_query_seen = main_query_seen || own;

    FindContext fc = {qd, own ? 1 : queries_seen + 1,
                      qd->sourceText ? hash_bytes(reinterpret_cast<const unsigned char *>(
                                                      qd->sourceText),
                                                  static_cast<int>(strlen(qd->sourceText)))
                                     : 0,
                      0};
    if (own)
        fc.query_hash = 0;
    find_gathers(qd->planstate, &fc);
    if (fc.found > 0 && !own)
        queries_seen++;
    if (own && fc.found == 0)
        (void) add_site(SiteKind::SerialQuery, 1, -1, 0, 0, "the statement's query (no Gather)",
                        true);
    if (own) {
        SpinLockAcquire(&shared->mutex);
        shared->ran_query = true;
        shared->change++;
        SpinLockRelease(&shared->mutex);
        changed();
    }
}

void executor_end(QueryDesc *qd)
{
    /* Forget this query's nodes: they are freed with it. */
    int kept = 0;
    for (int i = 0; i < nhooks; i++)
        if (hooks[i].query != qd)
            hooks[kept++] = hooks[i];
    nhooks = kept;
    if (prev_executor_end)
        prev_executor_end(qd);
    else
        standard_ExecutorEnd(qd);
}

/*
 * An index of the guarded CREATE INDEX was created (once per partition of
 * a partitioned table): index_create() builds it right after this hook and
 * a CommandCounterIncrement().  Making that increment here lets us ask
 * plan_create_index_workers() now, exactly as index_build() will, how many
 * workers the build plans.
 */
void index_created(Oid index_oid)
{
    CommandCounterIncrement();
    if (get_rel_relkind(index_oid) != RELKIND_INDEX)
        return; /* a partitioned index: built partition by partition */
    Oid table;
    int planned = index_build_workers(index_oid, &table);
    /* A serial build is a site that plans no workers, counted at once. */
    (void) add_site(SiteKind::IndexBuild, 1, -1, planned, 0, index_build_label(table),
                    planned == 0);
}

void object_access(ObjectAccessType access, Oid class_id, Oid object_id, int sub_id, void *arg)
{
    if (prev_object_access)
        prev_object_access(access, class_id, object_id, sub_id, arg);
    if (statement_running && statement_kind == StatementKind::CreateIndex &&
        access == OAT_POST_CREATE && class_id == RelationRelationId && sub_id == 0)
        index_created(object_id);
}

/*
 * REFRESH MATERIALIZED VIEW (not CONCURRENTLY) fills a new heap, swaps it
 * in and rebuilds each index of the view (finish_heap_swap() ->
 * reindex_relation() -> index_build()): each rebuild that plans workers is
 * a launch.  No hook marks a rebuild, but index_build() (or the access
 * method, as pgvector's do) asks plan_create_index_workers() for its plan,
 * which builds the view's RelOptInfo: this hook sees that call while
 * PostgreSQL marks the view as being reindexed.  The index being rebuilt
 * is the first of the view's indexes, in reindex_relation()'s order (OID
 * order, RelationGetIndexList()), that ReindexIsProcessingIndex() still
 * reports: those before it are done, those after it are pending.  A
 * rebuild that plans no workers launches nothing and is no site.
 */
void relation_info(Oid relid)
{
    if (!statement_running || statement_kind != StatementKind::RefreshMatView ||
        probing_rebuild || !ReindexIsProcessingHeap(relid))
        return;
    Relation heap = table_open(relid, NoLock); /* locked by the REFRESH */
    List *indexes = RelationGetIndexList(heap);
    table_close(heap, NoLock);
    Oid index = InvalidOid;
    ListCell *lc;
    foreach (lc, indexes) {
        if (ReindexIsProcessingIndex(lfirst_oid(lc))) {
            index = lfirst_oid(lc);
            break;
        }
    }
    if (!OidIsValid(index) || index == rebuild_seen)
        return;
    rebuild_seen = index;
    Oid table;
    probing_rebuild = true;
    int planned = index_build_workers(index, &table);
    probing_rebuild = false;
    if (planned > 0)
        (void) add_site(SiteKind::IndexBuild, 1, -1, planned, 0,
                        index_rebuild_label(index), false);
}

} // namespace

void launch_sites_install_hooks()
{
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = guard_executor_start;
    prev_executor_end = ExecutorEnd_hook;
    ExecutorEnd_hook = guard_executor_end;
    prev_object_access = object_access_hook;
    object_access_hook = guard_object_access;
    prev_build_simple_rel = build_simple_rel_hook;
    build_simple_rel_hook = guard_build_simple_rel;
}

void launch_sites_begin(GuardShared *to, LaunchSite *to_sites, StatementKind kind,
                        void (*on_change)(void *), void *arg)
{
    shared = to;
    sites = to_sites;
    statement_kind = kind;
    changed_callback = on_change;
    changed_arg = arg;
    main_query_seen = false;
    queries_seen = 1;
    rebuild_seen = InvalidOid;
    probing_rebuild = false;
    nhooks = 0; /* entries of queries that failed before their ExecutorEnd */
    statement_running = true;
}

void launch_sites_end()
{
    statement_running = false;
    changed_callback = nullptr;
    changed_arg = nullptr;
}

bool launch_sites_active()
{
    return statement_running;
}

} // namespace pg_guard

using namespace pg_guard;

static void guard_executor_start(QueryDesc *qd, int eflags)
{
    cpp_call([&] { executor_start(qd, eflags); });
}

static void guard_executor_end(QueryDesc *qd)
{
    cpp_call([&] { executor_end(qd); });
}

static void guard_object_access(ObjectAccessType access, Oid class_id, Oid object_id,
                                int sub_id, void *arg)
{
    cpp_call([&] { object_access(access, class_id, object_id, sub_id, arg); });
}

static void guard_build_simple_rel(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
    if (prev_build_simple_rel)
        prev_build_simple_rel(root, rel, rte);
    if (rte->rtekind == RTE_RELATION)
        cpp_call([&] { relation_info(rte->relid); });
}

static TupleTableSlot *guard_gather_call(PlanState *ps)
{
    return cpp_call([&] { return gather_call(ps); });
}

static TupleTableSlot *guard_child_first_call(PlanState *ps)
{
    return cpp_call([&] { return child_first_call(ps); });
}
