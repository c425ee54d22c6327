/*
 * compat.hpp: the newest PostgreSQL names, defined for the older servers
 * this extension supports (15.1 and later; tested on 15, 17, 18 and 19).
 *
 * Included from pg.hpp right after the server headers, so that the rest of
 * the code reads as current PostgreSQL and holds (almost) no version checks,
 * as in pg_stat_kcache and citus.  Each block names the release that
 * introduced the name and what it stands for before.
 */
#pragma once

#if PG_VERSION_NUM < 150001
/* InitMaterializedSRF() appeared in 15.1 (15.0 called it SetSingleFuncCall). */
#error "parallel_guard needs PostgreSQL 15.1 or later"
#endif

/*
 * 16 typed the walker callbacks of nodeFuncs.h: expression_tree_walker(),
 * query_tree_walker() and planstate_tree_walker() take bool (*)(Node *,
 * void *) and the like.  Before, they took an old-style bool (*)(); the
 * walker is called back with the same two arguments either way, so it is
 * passed through void (*)(), the generic function pointer.
 */
#if PG_VERSION_NUM < 160000
template <typename NodeType> bool (*compat_untyped_walker(bool (*walker)(NodeType *, void *)))()
{
    return reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(walker));
}
#define expression_tree_walker(n, w, c) expression_tree_walker((n), compat_untyped_walker(w), (c))
#define query_tree_walker(q, w, c, f) query_tree_walker((q), compat_untyped_walker(w), (c), (f))
#define planstate_tree_walker(ps, w, c) planstate_tree_walker((ps), compat_untyped_walker(w), (c))
#endif

/*
 * 16 replaced the per-class ACL checks (pg_namespace_aclcheck, ...) by
 * object_aclcheck(classid, ...).  Only schemas and functions are checked here.
 */
#if PG_VERSION_NUM < 160000
inline AclResult object_aclcheck(Oid classid, Oid objectid, Oid roleid, AclMode mode)
{
    if (classid == ProcedureRelationId)
        return pg_proc_aclcheck(objectid, roleid, mode);
    if (classid != NamespaceRelationId)
        elog(ERROR, "parallel_guard: object_aclcheck() for class %u is not mapped", classid);
    return pg_namespace_aclcheck(objectid, roleid, mode);
}
#endif

/*
 * 17 removed PGPROC.pgprocno: a process's index in ProcGlobal->allProcs is
 * GetNumberFromPGProc(proc), one's own MyProcNumber.
 */
#if PG_VERSION_NUM < 170000
#define GetNumberFromPGProc(proc) ((proc)->pgprocno)
#define MyProcNumber (MyProc->pgprocno)
#endif

/*
 * 17 added infinite intervals ('infinity', '-infinity').  Before, every
 * interval is finite, including those whose fields hold the values 17 uses
 * to mark infinity.
 */
#if PG_VERSION_NUM < 170000
#define INTERVAL_NOT_FINITE(i) ((void) (i), false)
#define INTERVAL_IS_NOBEGIN(i) ((void) (i), false)
#endif

/*
 * Whether an index's access method can build it with parallel workers
 * (index_build()).  17 added IndexAmRoutine.amcanbuildparallel (BRIN builds
 * in parallel from 17, GIN from 18); in 15 and 16 index_build() plans
 * parallel workers for btree alone.
 */
inline bool index_can_build_parallel(Relation index)
{
#if PG_VERSION_NUM >= 170000
    return index->rd_indam->amcanbuildparallel;
#else
    return index->rd_rel->relam == BTREE_AM_OID;
#endif
}

/*
 * The calling backend's pending statistics of a table, as they are: their
 * trans list holds this transaction's inserts, updates and deletes per
 * (sub)transaction level.  15's find_tabstat_entry() returned exactly this
 * entry; later ones (17, 18 and 19 here) return a copy with trans cleared
 * and those counts folded into counts, which also hold earlier
 * transactions' counts not yet flushed, so this transaction's own writes
 * can no longer be told apart.  (Relations are keyed by OID up to 19.)
 */
inline PgStat_TableStatus *pending_table_status(Oid rel)
{
    PgStat_EntryRef *ref = pgstat_fetch_pending_entry(PGSTAT_KIND_RELATION, MyDatabaseId, rel);
    if (ref == nullptr) /* a shared catalog */
        ref = pgstat_fetch_pending_entry(PGSTAT_KIND_RELATION, InvalidOid, rel);
    return ref ? static_cast<PgStat_TableStatus *>(ref->pending) : nullptr;
}

/*
 * 19 gave pg_plan_query() the ExplainState of an EXPLAIN that plans the
 * query (NULL otherwise); before, it takes none.
 */
#if PG_VERSION_NUM < 190000
#define pg_plan_query(query, sql, options, params, es)                                             \
    pg_plan_query((query), (sql), (options), (params))
#endif

/*
 * A setting's record in the GUC tables (utils/guc_tables.h), for an int
 * setting: 16 exported find_option(); 15 is searched through
 * get_guc_variables().  19 moved the type-specific part into a union of
 * config_generic (_int); before, config_int began with its config_generic.
 */
inline bool find_int_setting(const char *name, struct config_generic **gen,
                             struct config_int **conf)
{
    struct config_generic *g = nullptr;
#if PG_VERSION_NUM >= 160000
    g = find_option(name, false, true, ERROR);
#else
    struct config_generic **vars = get_guc_variables();
    int n = GetNumConfigOptions();
    for (int i = 0; i < n && g == nullptr; i++)
        if (strcmp(vars[i]->name, name) == 0)
            g = vars[i];
#endif
    if (g == nullptr || g->vartype != PGC_INT)
        return false;
    *gen = g;
#if PG_VERSION_NUM >= 190000
    *conf = &g->_int;
#else
    *conf = reinterpret_cast<struct config_int *>(g);
#endif
    return true;
}

/*
 * 19 replaced get_relation_info_hook (called by get_relation_info() for each
 * plain relation build_simple_rel() builds) with build_simple_rel_hook(root,
 * rel, rte), called by build_simple_rel() for every relation it builds.
 * Before, the extension's own build_simple_rel_hook is called from a
 * get_relation_info_hook (compat_install_build_simple_rel_hook(), from
 * _PG_init()): for plain relations, the only ones looked at here, both are
 * called with the RelOptInfo just built from the catalogs.
 */
#if PG_VERSION_NUM < 190000
extern "C" {
#include "optimizer/plancat.h"
}
typedef void (*build_simple_rel_hook_type)(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte);
inline build_simple_rel_hook_type build_simple_rel_hook = nullptr;
inline get_relation_info_hook_type compat_prev_get_relation_info = nullptr;
inline void compat_get_relation_info(PlannerInfo *root, Oid relid, bool inhparent, RelOptInfo *rel)
{
    if (compat_prev_get_relation_info)
        compat_prev_get_relation_info(root, relid, inhparent, rel);
    if (build_simple_rel_hook)
        build_simple_rel_hook(root, rel, root->simple_rte_array[rel->relid]);
}
inline void compat_install_build_simple_rel_hook()
{
    compat_prev_get_relation_info = get_relation_info_hook;
    get_relation_info_hook = compat_get_relation_info;
}
#else
extern "C" {
#include "optimizer/pathnode.h"
}
inline void compat_install_build_simple_rel_hook() {}
#endif

/*
 * 17 added named wait events of type Extension: WaitEventExtensionNew(name)
 * (utils/wait_event.h) returns the wait event information for the name,
 * allocating it in shared memory the first time any process asks, so that
 * pg_stat_activity shows wait_event_type 'Extension' and that name.  Before
 * 17 every extension waits as PG_WAIT_EXTENSION, shown as 'Extension' /
 * 'Extension'.  *cache keeps the answer for this process (0: not asked yet;
 * an allocated event is never 0, since its class bits are set).
 */
inline uint32 compat_wait_event_extension(const char *name, uint32 *cache)
{
#if PG_VERSION_NUM >= 170000
    if (*cache == 0)
        *cache = static_cast<uint32>(WaitEventExtensionNew(name));
    return *cache;
#else
    (void) name;
    (void) cache;
    return PG_WAIT_EXTENSION;
#endif
}
