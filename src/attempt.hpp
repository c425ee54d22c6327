/*
 * attempt.hpp: what the caller records of each attempt, and its verdicts.
 */
#pragma once

#include "pg.hpp"
#include "attempt_segment.hpp"
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
    NotRun,        /* the statement ended without running a query or build: committed */
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
    int max_sites;     /* launch sites the attempt's segment has room for */
    bool as_written;   /* guarded as written (parallel_guard.target), not by run() */
    uint64 query_id;   /* the statement's query id, 0 if none (run(): never computed) */
};

/* One launch site of an attempt, as the verdict saw it. */
struct LaunchRecord {
    SiteKind kind;
    int planned;  /* workers each of its launches planned */
    int launches; /* launches counted */
    int fewest;   /* the fewest workers one of them got; -1 none counted */
    char label[kSiteLabel];
};

/* How launched workers were counted, best first. */
enum class Counted : int {
    Gather = 0,    /* exactly, from the Gather nodes (nworkers_launched) */
    Registrations, /* index builds: PostgreSQL's registrations of the workers */
    LockGroup      /* from the worker's lock group (a fallback) */
};

struct AttemptRecord {
    int number;   /* 1-based */
    int planned;  /* the fewest workers any launch planned; -1 not known yet */
    int launched; /* the fewest workers any launch got; -1 none counted */
    int launches; /* launches of parallel workers the statement made */
    int site;     /* the site that decided the verdict (index into sites), or -1 */
    int nsites;
    LaunchRecord *sites; /* palloc'd, nsites entries */
    Counted counted;
    Verdict verdict;
    double verdict_ms; /* from the launch of the parallel workers to the verdict */
    double elapsed_ms; /* from the attempt's start to its verdict */
    double queued_ms;  /* waited in the queue before this attempt */
    bool queue_room;   /* the queue saw room for target before launching */
    int worker_pid;
    uint64 rows;
    uint64 query_id; /* the statement's in the guard worker (0: none computed) */
};

inline bool verdict_commits(Verdict v)
{
    return v == Verdict::Met || v == Verdict::PlanLimited || v == Verdict::AcceptedShort ||
           v == Verdict::NotRun;
}

/* The label of the site that decided the verdict, or nullptr. */
inline const char *deciding_site(const AttemptRecord &r)
{
    return r.site >= 0 && r.site < r.nsites ? r.sites[r.site].label : nullptr;
}

} // namespace pg_guard
