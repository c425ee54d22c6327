/*
 * module.cpp: the module's magic block and its settings.
 */
#include "module.hpp"

#include "pg.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

namespace {
int settle_time_ms = 200;
}

long pg_guard::guard_settle_time_ms()
{
    return settle_time_ms;
}

void _PG_init(void)
{
    DefineCustomIntVariable(
        "parallel_guard.settle_time",
        "How long to wait for launched parallel workers to join the lock group.",
        "Used only when the exact launched count is not yet published, for example with "
        "parallel_leader_participation off.",
        &settle_time_ms, 200, 1, 60 * 1000, PGC_USERSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
    MarkGUCPrefixReserved("parallel_guard");
}
