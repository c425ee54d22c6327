/*
 * attempt.hpp: what the caller records of each attempt, and its verdicts.
 */
#pragma once

#include "pg.hpp"
#include "statement.hpp"

namespace pg_guard {

enum class Verdict : int {
    Pending = 0,
    Met,           /* launched >= target: committed */
    PlanLimited,   /* the plan asks for fewer than target, all launched: committed */
    Short,         /* fewer than needed, attempts remain: rolled back, retry */
    AcceptedShort, /* last attempt, fewer than needed but >= min: committed */
    BelowMin,      /* last attempt, fewer than min: rolled back, ERROR */
    PlanTooSmall,  /* the plan asks for fewer than min: rolled back, ERROR */
    Failed         /* the statement raised an error: ERROR */
};

/* The arguments of run() that the attempts need. */
struct RunSpec {
    const char *sql;
    int target;
    int min;
    int retries; /* attempts in all, the first included */
    long delay_ms;
    StatementKind kind;
    int per_gather;    /* max_parallel_workers_per_gather for the statement, or -1 */
    int maintenance;   /* max_parallel_maintenance_workers for the statement, or -1 */
    int index_planned; /* CREATE INDEX: workers its build will ask for, -1 unknown */
};

struct AttemptRecord {
    int number;   /* 1-based */
    int planned;  /* -1: not known (not planned yet, or an index build) */
    int launched; /* at the verdict; -1 unknown */
    bool exact;   /* launched read from the Gather, not counted in the lock group */
    Verdict verdict;
    double verdict_ms; /* from the launch of the parallel workers to the verdict */
    double elapsed_ms; /* from the attempt's start to its verdict */
    double queued_ms;  /* waited in the queue before this attempt */
    bool queue_room;   /* the queue saw room for target before launching */
    int worker_pid;
    uint64 rows;
};

inline bool verdict_commits(Verdict v)
{
    return v == Verdict::Met || v == Verdict::PlanLimited || v == Verdict::AcceptedShort;
}

} // namespace pg_guard
