#!/usr/bin/python3
"""bench_queue.py: the driver half of test/bench_queue.sh (queuing benchmark).

Connects with libpq's environment (PGHOST, PGPORT, PGUSER, PGDATABASE) to a
throwaway cluster started by bench_queue.sh, makes the sample data and runs,
for each workload (K jobs started together, each wanting `target` workers,
with or without a background of ordinary parallel queries from pgbench), the
same K CREATE TABLE AS jobs several ways on the same cluster and data:

  guard   parallel_guard.run(sql, target, min, retries, delay) per job: the
          jobs queue in the server (first come, first served) and the head of
          the queue reserves its workers: ordinary queries yield to it;
  aswritten  the bare CTAS guarded as written: the job's session sets
          parallel_guard.target (and min, retries, delay) in its connection
          options; the statement runs in the session's own backend, queued
          and reserved like run();
  noreserve  the same as guard, with parallel_guard.yield_to_reservations = off for
          the whole server (ALTER SYSTEM + reload): the queue orders the
          guarded runs, but ordinary queries take workers between its check
          and the launch;
  client  what batch code does today: the CTAS on one connection in its own
          thread; from a second connection, 1 s later, count the statement's
          parallel workers in pg_stat_activity (leader_pid); if short,
          pg_cancel_backend, DROP TABLE IF EXISTS, sleep `delay`, retry, up
          to the same number of attempts; the last attempt is accepted with
          at least `min` workers, else the job fails;
  plain   the bare CTAS, no guard, no retry.

The background ("bg" = N clients) is N threads of ordinary parallel
queries in a loop, each run under EXPLAIN ANALYZE so that its latency and
its Workers Launched are recorded (what pgbench cannot report).

Last, the hook's cost (BENCH_HOOK=1): pgbench -S and a short ordinary
parallel query, TPS with the library preloaded against the same server
restarted without it, alternated BENCH_HOOK_ROUNDS times.

Prints a report and "RESULT ..." lines.  Settings come from the environment
(see bench_queue.sh).  Needs Debian's python3-psycopg2.
"""
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import psycopg2
import psycopg2.errorcodes

E = os.environ


def env_list(name, default):
    return E.get(name, default).split()


KS = [int(k) for k in env_list("BENCH_K", "4 8 40")]
# background clients per workload ("off"/"on": 0 / BENCH_BG_CLIENTS)
BGS = env_list("BENCH_BG", "0 3 8")
WORKS = env_list("BENCH_WORK", "sleep")
METHODS = env_list("BENCH_METHODS", "guard aswritten noreserve client")
TARGET = int(E.get("BENCH_TARGET", "4"))
MIN = int(E.get("BENCH_MIN", "2"))
RETRIES = int(E.get("BENCH_RETRIES", "5"))
DELAY_S = float(E.get("BENCH_DELAY_S", "2"))
CHECK_S = float(E.get("BENCH_CHECK_S", "1"))  # the client's blind second
CPU_ROWS = int(E.get("BENCH_ROWS", "2000000"))
SLEEP_ROWS = int(E.get("BENCH_SLEEP_ROWS", "1200"))
SLEEP_MS = float(E.get("BENCH_SLEEP_MS", "5"))
BG_CLIENTS = int(E.get("BENCH_BG_CLIENTS", "2"))
BG_WORKERS = int(E.get("BENCH_BG_WORKERS", "2"))
SINGLE_RUNS = int(E.get("BENCH_SINGLE_RUNS", "3"))
QUEUE_TIMEOUT = E.get("BENCH_QUEUE_TIMEOUT", "2min")
WORKDIR = E.get("BENCH_DIR", "/tmp")
PG_BIN = E.get("PG_BIN", "/usr/lib/postgresql/15/bin")
JOB_TIMEOUT_S = float(E.get("BENCH_JOB_TIMEOUT_S", "300"))
HOOK = E.get("BENCH_HOOK", "1") == "1"
HOOK_SECONDS = int(E.get("BENCH_HOOK_SECONDS", "10"))
HOOK_ROUNDS = int(E.get("BENCH_HOOK_ROUNDS", "2"))
PGDATA = E.get("PGDATA_DIR", "")

# Planner settings of every job session: plans of the sample tables are
# parallel, jobs ask for TARGET workers (run() raises per-gather itself).
SESSION_OPTIONS = (
    "-c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 "
    "-c jit=off -c work_mem=64MB -c max_parallel_workers_per_gather=%d "
    "-c parallel_guard.queue_timeout=%s" % (TARGET, QUEUE_TIMEOUT)
)

QUERIES = {
    # CPU-bound: hashing every row; partial aggregation in each worker.
    "cpu": "SELECT v % 100 AS g, count(*) AS n, sum(length(md5(pad || id))) AS s "
    "FROM big GROUP BY 1",
    # Wall-clock-bound: each row sleeps, so every process (leader and each
    # worker) contributes time, not CPU, as on a machine with a core per
    # worker or an I/O-bound scan.
    "sleep": "SELECT k FROM slp WHERE pg_sleep(%g) IS NOT NULL" % (SLEEP_MS / 1000.0),
}
WORK_TEXT = {
    "cpu": "CPU-bound aggregate over %d rows" % CPU_ROWS,
    "sleep": "sleep-bound scan, %d rows x %g ms" % (SLEEP_ROWS, SLEEP_MS),
}

# Background: ordinary parallel queries that take BG_WORKERS workers each
# (sleep-bound, so they take workers rather than CPU).
BG_SQL = "SELECT count(*) FROM bgt WHERE pg_sleep(0.001) IS NOT NULL"


def bg_clients(bg):
    if bg == "off":
        return 0
    if bg == "on":
        return BG_CLIENTS
    return int(bg)


def ctas(work, table):
    """The job's statement (no %-formatting: the queries contain %)."""
    return "CREATE TABLE " + table + " AS " + QUERIES[work]


def connect(options=SESSION_OPTIONS):
    conn = psycopg2.connect(options=options)
    conn.autocommit = True
    conn.notices = []
    return conn


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def log(msg):
    print(msg, flush=True)


def setup_data():
    c = connect()
    log("== sample data")
    t0 = time.time()
    q(c, "CREATE EXTENSION IF NOT EXISTS parallel_guard")
    if "cpu" in WORKS:
        q(c, "CREATE TABLE big AS SELECT g AS id, (g::bigint * 7919 %% 1000003)::int AS v, "
             "md5(g::text) AS pad FROM generate_series(1, %d) g" % CPU_ROWS)
        q(c, "ALTER TABLE big SET (parallel_workers = %d)" % TARGET)
        q(c, "VACUUM ANALYZE big")
    if "sleep" in WORKS:
        # wide rows: the scan spreads evenly over leader and workers
        q(c, "CREATE TABLE slp AS SELECT g AS k, repeat('x', 400) AS pad "
             "FROM generate_series(1, %d) g" % SLEEP_ROWS)
        q(c, "ALTER TABLE slp SET (parallel_workers = %d)" % TARGET)
        q(c, "VACUUM ANALYZE slp")
    q(c, "CREATE TABLE bgt AS SELECT g AS k, repeat('x', 400) AS pad FROM generate_series(1, 1000) g")
    q(c, "ALTER TABLE bgt SET (parallel_workers = %d)" % BG_WORKERS)
    q(c, "VACUUM ANALYZE bgt")
    q(c, "CHECKPOINT")
    log("   made in %.1f s" % (time.time() - t0))
    c.close()


def pool_busy(c):
    return q(c, "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN "
                "('parallel worker', 'parallel_guard')")[0][0]


def settle(c, timeout=120):
    """Waits until no parallel worker or guard worker runs."""
    deadline = time.time() + timeout
    while pool_busy(c) and time.time() < deadline:
        time.sleep(0.1)


# ---- the three methods: each returns a dict per job ------------------------------

def job_guard(work, table, barrier, out):
    conn = connect()
    r = {"attempts": 0, "wasted": 0, "met": False, "failed": False, "workers": None,
         "ran_out": 0, "queued_ms": 0.0, "error": None}
    barrier.wait()
    r["start"] = time.time()
    try:
        row = q(conn, "SELECT achieved_workers, attempts, target_met FROM parallel_guard.run("
                      "%s, target => %s, min => %s, retries => %s, delay => %s)",
                (ctas(work, table), TARGET, MIN, RETRIES, "%g s" % DELAY_S))[0]
        r["workers"], r["attempts"], r["met"] = row
    except psycopg2.Error as e:
        r["failed"] = True
        r["error"] = e.pgcode
    r["end"] = time.time()
    notices = "".join(conn.notices)
    # every attempt that was not accepted says "rolled back" in its NOTICE
    # (short, below min on the last attempt, plan too small)
    r["wasted"] = len(re.findall(r"rolled back", notices))
    r["ran_out"] = notices.count("the queue wait ran out")
    r["queued_ms"] = sum(float(x) for x in re.findall(r"Waited ([\d.]+) ms in the queue", notices))
    if r["failed"] and not r["attempts"]:
        r["attempts"] = len(re.findall(r"parallel_guard: attempt \d+ of", notices))
    conn.close()
    out.append(r)


def aswritten_options():
    return SESSION_OPTIONS + (" -c parallel_guard.target=%d -c parallel_guard.min=%d "
                              "-c parallel_guard.retries=%d -c parallel_guard.delay=%dms"
                              % (TARGET, MIN, RETRIES, round(DELAY_S * 1000)))


def job_aswritten(work, table, barrier, out):
    """The bare CTAS in a session with parallel_guard.target set: the
    attempts are read from the NOTICE each one sends."""
    conn = connect(aswritten_options())
    r = {"attempts": 0, "wasted": 0, "met": False, "failed": False, "workers": None,
         "ran_out": 0, "queued_ms": 0.0, "error": None}
    barrier.wait()
    r["start"] = time.time()
    try:
        q(conn, ctas(work, table))
    except psycopg2.Error as e:
        r["failed"] = True
        r["error"] = e.pgcode
    r["end"] = time.time()
    notices = "".join(conn.notices)
    # "parallel_guard: attempt N of M: <outcome>" (revised verdicts say
    # "attempt N of M, revised by a later launch: ..." and are left out)
    atts = re.findall(r"parallel_guard: attempt (\d+) of \d+: ([^\n]*)", notices)
    if atts:
        r["attempts"] = max(int(n) for n, _ in atts)
        last = atts[-1][1]
        m = re.search(r"launched (\d+)", last)
        r["workers"] = int(m.group(1)) if m else None
        r["met"] = not r["failed"] and re.search(r"target \d+ met", last) is not None
    r["wasted"] = len(re.findall(r"rolled back", notices))
    r["ran_out"] = notices.count("the queue wait ran out")
    r["queued_ms"] = sum(float(x) for x in re.findall(r"Waited ([\d.]+) ms in the queue", notices))
    conn.close()
    out.append(r)


def job_client(work, table, barrier, out):
    conn = connect()
    mon = connect()
    pid = conn.get_backend_pid()
    r = {"attempts": 0, "wasted": 0, "met": False, "failed": False, "workers": None,
         "early": 0, "error": None}
    barrier.wait()
    r["start"] = time.time()
    for attempt in range(1, RETRIES + 1):
        r["attempts"] = attempt
        state = {}

        def run_ctas():
            try:
                q(conn, ctas(work, table))
                state["ok"] = True
            except psycopg2.Error as e:
                state["error"] = e.pgcode

        t = threading.Thread(target=run_ctas)
        t.start()
        t.join(CHECK_S)
        if not t.is_alive():
            # done within the blind second: nothing to check, accepted
            r["early"] += 1
            if state.get("ok"):
                r["workers"] = None
                break
            r["error"] = state.get("error")
            r["failed"] = True
            break
        n = q(mon, "SELECT count(*) FROM pg_stat_activity WHERE leader_pid = %s", (pid,))[0][0]
        last = attempt == RETRIES
        if n >= TARGET or (last and n >= MIN):
            t.join()
            r["workers"] = n
            r["met"] = n >= TARGET
            if not state.get("ok"):
                r["failed"] = True
                r["error"] = state.get("error")
            break
        q(mon, "SELECT pg_cancel_backend(%s)", (pid,))
        t.join()
        q(conn, "DROP TABLE IF EXISTS %s" % table)
        r["wasted"] += 1
        if last:
            r["failed"] = True
            r["workers"] = n
            break
        time.sleep(DELAY_S)
    r["end"] = time.time()
    conn.close()
    mon.close()
    out.append(r)


class Sampler:
    """Samples pg_stat_activity every 100 ms: the most parallel workers seen
    per leader pid (used only to report the plain CTAS's workers)."""

    def __init__(self):
        self.max = {}
        self.stop = threading.Event()
        self.conn = connect()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            for pid, n in q(self.conn, "SELECT leader_pid, count(*) FROM pg_stat_activity "
                                       "WHERE leader_pid IS NOT NULL GROUP BY 1"):
                self.max[pid] = max(self.max.get(pid, 0), n)
            self.stop.wait(0.1)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.conn.close()


def job_plain(work, table, barrier, out):
    conn = connect()
    pid = conn.get_backend_pid()
    r = {"attempts": 1, "wasted": 0, "met": False, "failed": False, "workers": None,
         "error": None}
    barrier.wait()
    r["start"] = time.time()
    try:
        q(conn, ctas(work, table))
    except psycopg2.Error as e:
        r["failed"] = True
        r["error"] = e.pgcode
    r["end"] = time.time()
    r["pid"] = pid
    conn.close()
    out.append(r)


def run_method(method, work, k, tag):
    tables = ["j_%s_%d" % (tag, i) for i in range(k)]
    barrier = threading.Barrier(k)
    out = []
    sampler = Sampler() if method == "plain" else None
    fn = {"guard": job_guard, "aswritten": job_aswritten, "noreserve": job_guard,
          "client": job_client,
          "plain": job_plain}[method]
    threads = [threading.Thread(target=fn, args=(work, t, barrier, out)) for t in tables]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOB_TIMEOUT_S)
    if sampler:
        sampler.close()
        for r in out:
            r["workers"] = sampler.max.get(r["pid"], 0)
            r["met"] = r["workers"] >= TARGET
            # the plain CTAS never fails for want of workers; below min = slow
            r["below_min"] = r["workers"] < MIN
    return out, tables


# ---- background -----------------------------------------------------------------

class Background:
    """n threads, each running the ordinary parallel query BG_SQL in a loop
    under EXPLAIN ANALYZE: (latency, workers launched) of every query."""

    def __init__(self, n):
        self.stop_event = threading.Event()
        self.samples = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop) for _ in range(n)]
        for t in self.threads:
            t.start()
        time.sleep(1.0)
        with self.lock:
            self.samples = []  # count from the jobs' start only

    def loop(self):
        conn = connect("-c parallel_setup_cost=0 -c parallel_tuple_cost=0 "
                       "-c min_parallel_table_scan_size=0 -c max_parallel_workers_per_gather=%d"
                       % BG_WORKERS)
        deadline = time.time() + 1200
        while not self.stop_event.is_set() and time.time() < deadline:
            t0 = time.time()
            plan = q(conn, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + BG_SQL)
            dt = time.time() - t0
            m = re.search(r"Workers Launched: (\d+)", "\n".join(r[0] for r in plan))
            with self.lock:
                self.samples.append((dt, int(m.group(1)) if m else 0))
        conn.close()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(60)
        with self.lock:
            return list(self.samples)


# ---- single-job times -------------------------------------------------------------

def single_times(work):
    """Median time of one job alone: plain CTAS with TARGET, MIN and 0
    workers, and guarded with TARGET."""
    res = {}
    c = connect()
    for label, per_gather in (("plain_%dw" % TARGET, TARGET), ("plain_%dw" % MIN, MIN),
                              ("plain_0w", 0)):
        runs = SINGLE_RUNS if per_gather == TARGET else 1
        ts = []
        q(c, "SET max_parallel_workers_per_gather = %d" % per_gather)
        for i in range(runs):
            t0 = time.time()
            q(c, ctas(work, "single"))
            ts.append(time.time() - t0)
            q(c, "DROP TABLE single")
        res[label] = statistics.median(ts)
    q(c, "RESET max_parallel_workers_per_gather")
    ts = []
    for i in range(SINGLE_RUNS):
        t0 = time.time()
        q(c, "SELECT * FROM parallel_guard.run(%s, target => %s, min => %s, retries => 1)",
          (ctas(work, "single"), TARGET, MIN))
        ts.append(time.time() - t0)
        q(c, "DROP TABLE single")
    res["guard_%dw" % TARGET] = statistics.median(ts)
    c.close()
    return res


# ---- report -----------------------------------------------------------------------

def summarize(method, k, out, ideal, t1):
    n_met = sum(1 for r in out if r["met"])
    if method == "plain":
        n_fail = sum(1 for r in out if r.get("below_min"))
    else:
        n_fail = sum(1 for r in out if r["failed"])
    wasted = sum(r["wasted"] for r in out)
    starts = [r["start"] for r in out]
    ends = [r["end"] for r in out]
    makespan = max(ends) - min(starts) if out else float("nan")
    med = statistics.median([r["end"] - r["start"] for r in out]) if out else float("nan")
    s = {
        "method": method, "K": k, "done": len(out), "met": n_met, "failed": n_fail,
        "wasted": wasted, "makespan": makespan, "median": med,
        "over_ideal": makespan / ideal if ideal else float("nan"),
        "over_cpu": makespan / (k * t1) if t1 else float("nan"),
        "workers": ",".join("-" if r["workers"] is None else str(r["workers"])
                            for r in sorted(out, key=lambda r: r["start"])),
    }
    s["met_first"] = sum(1 for r in out if r["met"] and r["attempts"] == 1)
    if method in ("guard", "aswritten", "noreserve"):
        s["ran_out"] = sum(r["ran_out"] for r in out)
        s["queued_s"] = sum(r["queued_ms"] for r in out) / 1000.0
    if method == "client":
        s["early"] = sum(r["early"] for r in out)
    return s


def set_yield(on):
    c = connect()
    q(c, "ALTER SYSTEM SET parallel_guard.yield_to_reservations = %s" % ("on" if on else "off"))
    q(c, "SELECT pg_reload_conf()")
    want = "on" if on else "off"
    deadline = time.time() + 10
    while time.time() < deadline:
        c2 = connect()
        got = q(c2, "SHOW parallel_guard.yield_to_reservations")[0][0]
        c2.close()
        if got == want:
            break
        time.sleep(0.1)
    c.close()


def held_back():
    c = connect()
    row = q(c, "SELECT coalesce(sum(ordinary_launches_held_back), 0), "
               "coalesce(sum(ordinary_workers_withheld), 0) FROM parallel_guard.stats")[0]
    c.close()
    return int(row[0]), int(row[1])


def bg_summary(samples):
    if not samples:
        return {"bg_n": 0, "bg_median_ms": float("nan"), "bg_workers_mean": float("nan"),
                "bg_full": float("nan")}
    return {
        "bg_n": len(samples),
        "bg_median_ms": 1000.0 * statistics.median(dt for dt, _ in samples),
        "bg_workers_mean": statistics.mean(w for _, w in samples),
        "bg_full": sum(1 for _, w in samples if w >= BG_WORKERS) / float(len(samples)),
    }


# ---- the hook's cost ---------------------------------------------------------------

def restart(preload):
    opts = "-c shared_preload_libraries=%s" % ("parallel_guard" if preload else "''")
    subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(PG_BIN, "pg_ctl"), "-D", PGDATA,
                    "-l", os.path.join(WORKDIR, "server.log"), "-w", "-m", "fast", "-o", opts,
                    "restart"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pgbench_tps(args, options=""):
    env = dict(E)
    env["PGOPTIONS"] = options
    out = subprocess.run([os.path.join(PG_BIN, "pgbench"), "-n"] + args, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    if not m:
        raise RuntimeError("pgbench said: " + out[-500:])
    return float(m.group(1))


def hook_cost():
    """TPS preloaded / not preloaded, alternated on the same server."""
    log("\n== hook cost: pgbench -S and a short parallel query, preloaded vs not (%d s each, "
        "%d rounds, alternated)" % (HOOK_SECONDS, HOOK_ROUNDS))
    c = connect()
    q(c, "CREATE TABLE short_par AS SELECT g AS k FROM generate_series(1, 20000) g")
    q(c, "ALTER TABLE short_par SET (parallel_workers = 2)")
    q(c, "VACUUM ANALYZE short_par")
    c.close()
    subprocess.run([os.path.join(PG_BIN, "pgbench"), "-i", "-q", "-s", "5"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = os.path.join(WORKDIR, "short_par.sql")
    with open(script, "w") as f:
        f.write("SELECT count(*) FROM short_par;\n")
    par_opts = ("-c parallel_setup_cost=0 -c parallel_tuple_cost=0 -c min_parallel_table_scan_size=0 "
                "-c max_parallel_workers_per_gather=2")
    tps = {("S", True): [], ("S", False): [], ("par", True): [], ("par", False): []}
    for rnd in range(HOOK_ROUNDS):
        for preload in ((True, False) if rnd % 2 == 0 else (False, True)):
            restart(preload)
            tps[("S", preload)].append(pgbench_tps(["-S", "-c", "2", "-j", "2", "-T", str(HOOK_SECONDS)]))
            tps[("par", preload)].append(pgbench_tps(["-f", script, "-c", "2", "-j", "2", "-T",
                                                      str(HOOK_SECONDS)], par_opts))
            log("   round %d, %s: pgbench -S %.0f tps, short parallel query %.0f tps"
                % (rnd + 1, "preloaded" if preload else "not preloaded",
                   tps[("S", preload)][-1], tps[("par", preload)][-1]))
    restart(True)
    for kind, text in (("S", "pgbench -S"), ("par", "short parallel query")):
        on = statistics.median(tps[(kind, True)])
        off = statistics.median(tps[(kind, False)])
        log("   %s: %.0f tps preloaded, %.0f tps not preloaded, ratio %.3f" % (text, on, off, on / off))
        log("RESULT hook %s tps_preloaded=%.0f tps_not_preloaded=%.0f ratio=%.3f"
            % (kind, on, off, on / off))


def main():
    t_start = time.time()
    setup_data()
    c = connect()
    settings = q(c, "SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings "
                    "WHERE name IN ('max_worker_processes', 'max_parallel_workers', "
                    "'shared_preload_libraries', 'parallel_guard.queue_timeout')")[0][0]
    version = q(c, "SELECT extversion FROM pg_extension WHERE extname = 'parallel_guard'")[0][0]
    pool = int(q(c, "SHOW max_parallel_workers")[0][0])
    c.close()
    log("   %s, parallel_guard %s, %d CPUs" % (settings, version, os.cpu_count()))
    log("   jobs: target %d, min %d, retries %d, delay %g s; client checks after %g s"
        % (TARGET, MIN, RETRIES, DELAY_S, CHECK_S))
    log("   background: N threads of EXPLAIN ANALYZE %s, %d workers planned" % (BG_SQL, BG_WORKERS))
    results = []
    singles = {}
    at_once = max(1, pool // TARGET)
    for work in WORKS:
        log("\n== %s: %s" % (work, WORK_TEXT[work]))
        singles[work] = single_times(work)
        t1 = singles[work]["plain_%dw" % TARGET]
        log("   one job alone: " + ", ".join("%s %.2f s" % kv for kv in singles[work].items()))
        for bg in BGS:
            nbg = bg_clients(bg)
            for k in KS:
                # the ideal schedule: the whole pool for the jobs, TARGET
                # workers each, every job as fast as alone (what reserved
                # workers promise: ordinary queries yield to the jobs)
                ideal = math.ceil(k / float(at_once)) * t1
                for method in METHODS:
                    if method == "noreserve":
                        set_yield(False)
                    c = connect()
                    q(c, "SELECT parallel_guard.stats_reset()")
                    c.close()
                    b = Background(nbg) if nbg else None
                    samples = []
                    try:
                        out, tables = run_method(method, work, k, "%s_%s_%d" % (method, nbg, k))
                    finally:
                        if b:
                            samples = b.stop()
                        if method == "noreserve":
                            set_yield(True)
                    hb, wh = held_back()
                    c = connect()
                    settle(c)
                    for t in tables:
                        q(c, "DROP TABLE IF EXISTS %s" % t)
                    c.close()
                    s = summarize(method, k, out, ideal, t1)
                    s.update(work=work, bg=nbg, ideal=ideal, held_back=hb, withheld=wh)
                    s.update(bg_summary(samples))
                    results.append(s)
                    extra = ""
                    if method in ("guard", "aswritten", "noreserve"):
                        extra = " queue_wait_total=%.1fs queue_wait_ran_out=%d" % (s["queued_s"], s["ran_out"])
                    if method == "client":
                        extra = " done_before_check=%d" % s["early"]
                    if nbg:
                        extra += (" | bg: %d queries, median %.0f ms, %.2f workers each (%d%% got %d), "
                                  "held back %d, withheld %d"
                                  % (s["bg_n"], s["bg_median_ms"], s["bg_workers_mean"],
                                     100 * s["bg_full"], BG_WORKERS, hb, wh))
                    log("   bg=%d K=%d %-9s met %d/%d (%d at attempt 1), %s %d, wasted %2d, "
                        "makespan %6.1f s (ideal %5.1f s, x%.2f), median job %5.1f s%s"
                        % (nbg, k, method, s["met"], k, s["met_first"],
                           "below-min" if method == "plain" else "failed", s["failed"],
                           s["wasted"], s["makespan"], ideal, s["over_ideal"], s["median"], extra))

    log("\n== summary")
    log("ideal = ceil(K / %d) x one job alone with %d workers: the pool of %d holds %d jobs of %d "
        "workers at once, ordinary queries yielding to them" % (at_once, TARGET, pool, at_once, TARGET))
    hdr = "%-5s %2s %2s %-9s %6s %7s %5s %6s %9s %9s %7s %8s | %8s %8s" % (
        "work", "bg", "K", "method", "met", "1st", "fail", "wasted", "makespan", "median",
        "ideal", "x ideal", "bg ms", "bg wrk")
    log(hdr)
    for s in results:
        log("%-5s %2d %2d %-9s %6s %7s %5d %6d %8.1fs %8.1fs %6.1fs %8.2f | %8s %8s" % (
            s["work"], s["bg"], s["K"], s["method"], "%d/%d" % (s["met"], s["K"]),
            "%d/%d" % (s["met_first"], s["K"]), s["failed"], s["wasted"], s["makespan"],
            s["median"], s["ideal"], s["over_ideal"],
            "%.0f" % s["bg_median_ms"] if s["bg"] else "-",
            "%.2f" % s["bg_workers_mean"] if s["bg"] else "-"))
    log("\n'1st' is jobs that met the target at their first attempt; 'fail' a job below min "
        "(an error); 'wasted' attempts rolled back (guard, noreserve) or cancelled and dropped "
        "(client).  'bg ms' is the median latency of the background's ordinary queries during "
        "the jobs, 'bg wrk' the workers they launched on average (of %d planned)." % BG_WORKERS)
    for work, d in singles.items():
        for label, v in d.items():
            log("RESULT single %s %s %.2f s" % (work, label, v))
    for s in results:
        log("RESULT %s bg=%d K=%d %s met=%d/%d met_first_attempt=%d wasted=%d failed=%d "
            "makespan_s=%.1f median_job_s=%.1f ideal_s=%.1f makespan_over_ideal=%.2f "
            "bg_queries=%d bg_median_ms=%.1f bg_workers_mean=%.2f bg_held_back=%d bg_withheld=%d" % (
                s["work"], s["bg"], s["K"], s["method"], s["met"], s["K"], s["met_first"],
                s["wasted"], s["failed"], s["makespan"], s["median"], s["ideal"], s["over_ideal"],
                s["bg_n"], s["bg_median_ms"], s["bg_workers_mean"], s["held_back"], s["withheld"]))
    if HOOK:
        hook_cost()
    log("RESULT bench_seconds %.0f" % (time.time() - t_start))


if __name__ == "__main__":
    main()
