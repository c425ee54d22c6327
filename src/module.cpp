/*
 * module.cpp: the module's magic block and its settings.
 */
#include "module.hpp"

#include "pg.hpp"
#include "as_written.hpp"
#include "history.hpp"
#include "launch_sites.hpp"
#include "persist.hpp"
#include "queue.hpp"
#include "reservation.hpp"
#include "stats.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace {
bool shmem_ready = false; /* the shared memory of the queue, history and stats is set up */
int settle_time_ms = 200;
shmem_request_hook_type prev_shmem_request = nullptr;
shmem_startup_hook_type prev_shmem_startup = nullptr;

/* The queue, the history and the stats live in shared memory reserved at
 * server start. */
void guard_shmem_request()
{
    if (prev_shmem_request)
        prev_shmem_request();
    RequestAddinShmemSpace(add_size(add_size(pg_guard::queue_shmem_size(),
                                             pg_guard::history_shmem_size()),
                                    add_size(pg_guard::stats_shmem_size(),
                                             pg_guard::persist_shmem_size())));
    RequestNamedLWLockTranche("parallel_guard", 3); /* the queue's, the history's, the stats' */
}

void guard_shmem_startup()
{
    if (prev_shmem_startup)
        prev_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    pg_guard::queue_shmem_init();
    pg_guard::history_shmem_init();
    pg_guard::stats_shmem_init();
    pg_guard::persist_shmem_startup(); /* loads the history and the stats saved on disk */
    LWLockRelease(AddinShmemInitLock);
    shmem_ready = true;
}
int queue_timeout_ms = 5 * 60 * 1000;
int history_size = 200;
int history_statement_size = 1024;
int history_max_age_s = 0;
bool history_journal = true;
bool yield_to_reservations = true;
int max_reserved_workers = -1;
int queue_priority = 0;
int priority_aging_ms = 10 * 1000;
int as_written_target = 0;
int as_written_min = 2;
int as_written_retries = 5;
int as_written_delay_ms = 2000;
struct config_generic *min_record = nullptr;
struct config_int *min_setting = nullptr;
} // namespace

int pg_guard::guard_target()
{
    return as_written_target;
}

int pg_guard::guard_min(int target)
{
    bool set = min_record != nullptr && min_record->source > PGC_S_DEFAULT;
    return set ? as_written_min : Min(as_written_min, target);
}

int pg_guard::guard_retries()
{
    return as_written_retries;
}

long pg_guard::guard_delay_ms()
{
    return as_written_delay_ms;
}

bool pg_guard::guard_yield_to_reservations()
{
    return yield_to_reservations;
}

int pg_guard::guard_max_reserved_workers()
{
    return max_reserved_workers;
}

int pg_guard::guard_priority()
{
    return queue_priority;
}

long pg_guard::guard_priority_aging_ms()
{
    return priority_aging_ms;
}

int pg_guard::guard_history_size()
{
    return history_size;
}

int pg_guard::guard_history_statement_size()
{
    return history_statement_size;
}

int pg_guard::guard_history_max_age_s()
{
    return history_max_age_s;
}

bool pg_guard::guard_history_journal()
{
    return history_journal;
}

long pg_guard::guard_settle_time_ms()
{
    return settle_time_ms;
}

long pg_guard::guard_queue_timeout_ms()
{
    return queue_timeout_ms;
}

void pg_guard::require_shared_memory(const char *what)
{
    if (!shmem_ready)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("parallel_guard must be loaded via \"shared_preload_libraries\""),
                 errdetail("%s reads or clears shared memory that is reserved only when the "
                           "library is loaded at server start.",
                           what),
                 errhint("Add parallel_guard to \"shared_preload_libraries\" and restart the "
                         "server.")));
}

void _PG_init(void)
{
    compat_install_build_simple_rel_hook();
    DefineCustomIntVariable(
        "parallel_guard.settle_time",
        "How long to wait for launched parallel workers to join the lock group.",
        "Used only when the exact launched count is not yet published, for example with "
        "\"parallel_leader_participation\" off.",
        &settle_time_ms, 200, 1, 60 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.queue_timeout",
        "The longest a guarded run waits in the queue for free parallel workers, in all.",
        "After that its attempts launch without waiting (and are retried when short). "
        "0 disables the waiting. Needs parallel_guard in \"shared_preload_libraries\". "
        "Superuser only: a shorter wait jumps the queue.",
        &queue_timeout_ms, 5 * 60 * 1000, 0, INT_MAX, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    DefineCustomBoolVariable(
        "parallel_guard.yield_to_reservations",
        "Whether ordinary parallel launches leave the workers reserved by guarded runs free.",
        "When on, a Gather, Gather Merge, parallel CREATE INDEX or VACUUM launches at most "
        "\"max_parallel_workers\" minus the reserved workers, as if the pool were busier. "
        "Needs parallel_guard in \"shared_preload_libraries\".",
        &yield_to_reservations, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.max_reserved_workers",
        "The most parallel workers guarded runs may reserve at once.",
        "Ordinary parallel queries always keep the rest of \"max_parallel_workers\". "
        "-1 means the server's \"max_parallel_workers\".",
        &max_reserved_workers, -1, -1, 1024 /* MAX_PARALLEL_WORKER_LIMIT */, PGC_SIGHUP, 0, nullptr,
        nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.priority",
        "The priority of this session's guarded runs in the queue: higher is served first.",
        "Taken when a run joins the queue. Superuser only (typically ALTER ROLE ... SET): "
        "a higher priority jumps the queue. Needs parallel_guard in "
        "\"shared_preload_libraries\".",
        &queue_priority, 0, -100, 100, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.priority_aging",
        "A waiting guarded run's priority rises by one per this much time in the queue.",
        "Aging keeps a run from waiting forever behind higher priorities. 0 disables it.",
        &priority_aging_ms, 10 * 1000, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    /* A server-start setting can only exist when loaded at server start. */
    if (process_shared_preload_libraries_in_progress) {
        DefineCustomIntVariable(
            "parallel_guard.history_size", "How many finished guarded runs the history keeps.",
            "Kept in shared memory and in pg_stat/. Needs parallel_guard in "
            "\"shared_preload_libraries\".",
            &history_size, 200, 0, 100000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
        DefineCustomIntVariable(
            "parallel_guard.history_statement_size",
            "How many bytes of each statement's text the history keeps.",
            "Like \"track_activity_query_size\": longer texts are cut at a character "
            "boundary.",
            &history_statement_size, 1024, 100, 1024 * 1024, PGC_POSTMASTER, GUC_UNIT_BYTE, nullptr,
            nullptr, nullptr);
    }
    /* Seconds, not milliseconds: an age limit of a month exceeds INT_MAX ms. */
    DefineCustomIntVariable(
        "parallel_guard.history_max_age", "How long the history keeps a finished guarded run.",
        "Older runs are no longer shown and are dropped when the history is saved. "
        "0 keeps runs of any age (\"parallel_guard.history_size\" still limits their "
        "number).",
        &history_max_age_s, 0, 0, INT_MAX, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable(
        "parallel_guard.history_journal",
        "Whether each finished guarded run is appended to a journal that survives a crash.",
        "The history and the stats are saved at every clean shutdown either way; off, a "
        "crash loses the runs since the last save, and nothing is written per run.",
        &history_journal, true, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.target",
        "Guard every CREATE TABLE AS, SELECT INTO, CREATE or REFRESH MATERIALIZED VIEW and "
        "CREATE INDEX of the session with this many parallel workers at each launch.",
        "0 guards nothing. Above 0, each such statement runs in the session's own transaction "
        "as parallel_guard.run() would run it: a short attempt is rolled back and retried.",
        &as_written_target, 0, 0, 1024, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.min",
        "The fewest parallel workers the last attempt of a guarded statement accepts.",
        "Left at its default, it never exceeds \"parallel_guard.target\".", &as_written_min, 2, 0,
        1024, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.retries",
        "Attempts in all of a statement guarded by \"parallel_guard.target\", the first "
        "included.",
        nullptr, &as_written_retries, 5, 1, INT_MAX, PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomIntVariable(
        "parallel_guard.delay",
        "The wait between two attempts of a statement guarded by \"parallel_guard.target\".",
        nullptr, &as_written_delay_ms, 2000, 0, INT_MAX, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr,
        nullptr);
    (void) find_int_setting("parallel_guard.min", &min_record, &min_setting);
    MarkGUCPrefixReserved("parallel_guard");

    if (process_shared_preload_libraries_in_progress) {
        prev_shmem_request = shmem_request_hook;
        shmem_request_hook = guard_shmem_request;
        prev_shmem_startup = shmem_startup_hook;
        shmem_startup_hook = guard_shmem_startup;
        pg_guard::reservation_install_hooks();
    }
    /* After the reservation hooks: a guarded statement's launch is counted
     * around the reservation's handling of it. */
    pg_guard::launch_sites_install_hooks();
    pg_guard::as_written_install_hook();
}
