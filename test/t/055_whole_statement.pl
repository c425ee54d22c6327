# 055_whole_statement.pl: the guarantee covers the whole statement, and no
# wait is without an end.
#
#  A. a Gather on the inner side of a nested loop is rescanned: every launch
#     counts (launches=3 in the attempt's LOG line);
#  B. an Append over two Gathers whose second launch is starved by another
#     session: the attempt turns short after its first launch was good,
#     is rolled back and retried; the table is committed only from an
#     attempt whose every launch was good (the sessions wait for one
#     another, not for time: no margin to race);
#  C. the caller's memory stays flat over a long statement (it grew by
#     about 90 kB/s while the self-lock check allocated on every poll: over
#     2 MB in 25 s; measured over 10 s now, against the 205 kB allowed, the
#     same 20 kB/s as the 512 kB over 25 s allowed before);
#  D. a worker that ignores the cancel of a rolled-back attempt is
#     terminated after the grace period;
#  E. a statement that ends without running a query (CREATE TABLE IF NOT
#     EXISTS finding a table created after the caller's check) ends the
#     call with verdict not_run instead of waiting forever;
#  F. libraries the caller loaded run in the worker (auto_explain's NOTICE).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = guard_node('whole', tables => [ [ big => 100_000 ], [ b2 => 100_000 ] ]);
my $ctl = GuardTap::Session->new($node, 'control');
my $caller = GuardTap::Session->new($node, 'caller');
$caller->query($GUARD_SETTINGS);
my $cpid = $caller->pid;

$ctl->query("CREATE TABLE small AS SELECT g AS k FROM generate_series(1, 3) g");
$ctl->query("ALTER TABLE small SET (parallel_workers = 0)");
$ctl->query("ANALYZE small");

# --- A. a rescanned Gather -------------------------------------------------
{
	my $label = 'rescanned Gather';
	$caller->query('SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off');
	my $off = log_offset($node);
	my $r = $caller->run("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE rescanned AS SELECT s.k, b.k AS bk FROM small s JOIN big b ON b.k % 3 = s.k', "
		  . "target => 2, min => 2, retries => 1)");
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	my ($run) = parse_runs(log_since($node, $off));
	is($run->{launches} // 'none', '3',
		"$label: the inner Gather's three launches (one per outer row) are counted");
	is("$run->{planned}|$run->{launched}|$run->{verdict}", '2|2|met',
		"$label: each launch planned and got 2 workers");
	$caller->query('RESET enable_hashjoin; RESET enable_mergejoin; RESET enable_material');
}

# --- B. the second Gather starved ---------------------------------------------
# No timing: the first branch's workers wait (hold()) until the competitor's
# 4 workers run, and the competitor holds them until attempt 1 was judged.
{
	my $label = 'second Gather starved';
	holder_fixture($node);
	# One row per page: each of the 4 workers of a scan of "spread" holds
	# on a row of its own until the tag comes.
	$ctl->query("CREATE TABLE spread WITH (fillfactor = 10) AS "
		  . "SELECT g AS k, repeat('x', 700) AS pad FROM generate_series(1, 400) g");
	$ctl->query("ALTER TABLE spread SET (parallel_workers = 4)");
	$ctl->query("ANALYZE spread");
	# Branch one holds until the tag 'b_first' comes; branch two reads b2.
	# Only the workers run hold(): the leader of a CREATE TABLE AS may not
	# run a volatile PL/pgSQL function in parallel mode (its command
	# counter is used), so it does not take part.
	$caller->query('SET enable_parallel_append = off; SET parallel_leader_participation = off');
	# This session may have 6 workers at once: with the competitor's 4
	# registered, branch two can launch only 2.
	$caller->query('SET max_parallel_workers = 6');
	my $off = log_offset($node);
	my $n = $caller->start("SELECT achieved_workers, attempts, target_met FROM parallel_guard.run("
		  . "'CREATE TABLE starved AS SELECT count(*) FROM spread WHERE k <= 100 AND hold(''b_first'') "
		  . "UNION ALL SELECT count(*) FROM b2', "
		  . "target => 4, min => 2, retries => 6, delay => '1 s')");
	ok( $ctl->poll(
			"SELECT count(*) >= 4 FROM pg_stat_activity WHERE backend_type = 'parallel worker' "
			  . "AND wait_event = 'PgSleep'",
			't', 20),
		"$label: the first branch's 4 workers run");
	# A competitor takes 4 workers, then the first branch may end.
	my $comp = GuardTap::Session->new($node, 'competitor');
	$comp->query($GUARD_SETTINGS . ' SET max_parallel_workers_per_gather = 4;');
	my $h = GuardTap::start_holder($ctl, $comp, 'b_comp', $label);
	$ctl->query("INSERT INTO stop VALUES ('b_first')");
	# Attempt 1 judged short (its revised LOG line), then the competitor ends.
	ok(defined(wait_log($node, $off, qr/parallel_guard: attempt=1\/6 .*launched=2 .*verdict=short/)),
		"$label: attempt 1 was judged short while the competitor held its workers");
	ok(release_holder($ctl, $h), "$label: the competitor ends");
	my $r = $caller->result($n, 90);
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	my @att = parse_attempts(log_since($node, $off));
	my @first = grep { $_->{number} == 1 } @att;
	is("$first[0]{verdict}|$first[0]{launches}", 'met|1',
		"$label: attempt 1's first launch met target (its first LOG line)");
	is("$first[-1]{verdict}|$first[-1]{launches}|$first[-1]{launched}", 'short|2|2',
		"$label: attempt 1 is short: its second launch got 2 of 4 (the revised LOG line)");
	like($r->{err}, qr/attempt 1 of 6, revised by a later launch: planned 4, launched 2 parallel workers in 2 launches \(Gather \(node \d+\) over b2\): short/,
		"$label: the NOTICE says a later launch revised the verdict and names the Gather");
	is($att[-1]{verdict}, 'met', "$label: the accepted attempt met target in both launches");
	is($r->{out}, '4|' . $att[-1]{number} . '|t', "$label: achieved_workers is the fewest of any launch");
	$comp->quit;
	$caller->query('RESET enable_parallel_append; RESET max_parallel_workers; '
		  . 'RESET parallel_leader_participation');
}

# --- C. the caller's memory over a long statement -------------------------------
{
	my $label = 'memory over 10 s';
	my $window = 10;
	my $allowed = int(512 * 1024 * $window / 25);
	my $total = sub {
		my $off = log_offset($node);
		$ctl->query("SELECT pg_log_backend_memory_contexts($cpid)");
		my ($bytes) = wait_log($node, $off,
			qr/\[$cpid\] LOG:  Grand total: (\d+) bytes/, 20);
		return $bytes;
	};
	# The statement runs until the test lets it end: its 4 workers wait in
	# hold() (B's fixture: one row of blocks each) until stop has 'c_mem'.
	# As in B, only the workers run hold().
	$caller->query('SET parallel_leader_participation = off');
	my $n = $caller->start("SELECT achieved_workers FROM parallel_guard.run("
		  . "'CREATE TABLE mem AS SELECT k FROM blocks WHERE hold(''c_mem'')', "
		  . "target => 4, min => 4, retries => 1)");
	ok($ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'",
			'4', 20),
		"$label: the statement runs with 4 workers");
	sleep 2;
	my $t0 = time;
	my $before = $total->();
	usleep(100_000) while time < $t0 + $window;
	my $after = $total->();
	ok(!$caller->finished($n), "$label: the statement still ran at the second measurement");
	$ctl->query("INSERT INTO stop VALUES ('c_mem')");
	my $r = $caller->result($n, 120);
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	is($ctl->query('SELECT count(*) FROM mem'), '16', "$label: the table has every row of blocks");
	$caller->query('RESET parallel_leader_participation');
	ok(defined $before && defined $after, "$label: memory was measured twice");
	my $growth = ($after // 0) - ($before // 0);
	diag("$label: caller's memory $before -> $after bytes over $window s: growth $growth bytes");
	cmp_ok($growth, '<', $allowed, "$label: the caller grew by less than $allowed bytes (20 kB/s)");
}

# --- D. a worker that ignores its cancel ---------------------------------------
{
	my $label = 'cancel ignored';
	$ctl->query("CREATE SEQUENCE stubborn_calls");
	# The function's parallel query launches, then it swallows every cancel
	# for 60 s.  Only its first call is stubborn (a sequence is not rolled
	# back), so the retry ends at once.
	$ctl->query(q{CREATE FUNCTION stubborn() RETURNS bigint LANGUAGE plpgsql PARALLEL RESTRICTED AS $$
DECLARE n bigint := 0; ran boolean := false; t0 timestamptz := clock_timestamp();
BEGIN
  IF nextval('stubborn_calls') > 1 THEN RETURN 0; END IF;
  -- Everything that can take the cancel is inside the block that swallows it.
  WHILE clock_timestamp() < t0 + interval '60 s' LOOP
    BEGIN
      IF NOT ran THEN
        ran := true;
        -- PERFORM runs its query to completion, in parallel mode (SELECT
        -- INTO does not: its Gather launches nothing, by design)
        PERFORM count(*) FROM big;
      END IF;
      PERFORM pg_sleep(0.2);
    EXCEPTION WHEN query_canceled THEN NULL;
    END;
  END LOOP;
  RETURN n;
END $$});
	$caller->query('SET max_parallel_workers = 1');
	my $off = log_offset($node);
	my $t0 = time;
	my $r = $caller->run("SELECT attempts FROM parallel_guard.run("
		  . "'CREATE TABLE stubborn_t AS SELECT stubborn() AS n', "
		  . "target => 2, min => 0, retries => 2, delay => '0')", 90);
	my $elapsed = time - $t0;
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	my @att = parse_attempts(log_since($node, $off));
	my @first = grep { $_->{number} == 1 } @att;
	is($first[-1]{verdict}, 'short', "$label: attempt 1 (the function's own launch got 1 of 2) is short");
	cmp_ok($elapsed, '<', 30, "$label: the call ends well before the 60 s the worker would take");
	like(log_since($node, $off), qr/terminating background worker "parallel_guard" due to administrator command/,
		"$label: the worker that ignored its cancel was terminated");
	is($r->{out}, '2', "$label: attempt 2 was accepted");
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$label: no worker is left");
	$caller->query('RESET max_parallel_workers');
}

# --- E. the statement runs no query ----------------------------------------------
{
	my $label = 'no query ran';
	# The caller's check finds no table; then the worker waits for the lock
	# on big while another session creates the table and commits.
	my $locker = GuardTap::Session->new($node, 'locker');
	$locker->query('BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE');
	my $n = $caller->start("SELECT achieved_workers, planned_workers, row_count FROM parallel_guard.run("
		  . "'CREATE TABLE IF NOT EXISTS late AS SELECT k FROM big', target => 2, min => 2)");
	ok( $ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard' "
			  . "AND wait_event_type = 'Lock'",
			'1', 20),
		"$label: the worker waits for the lock on big");
	$locker->query('CREATE TABLE late (k int); COMMIT');
	my $r = $caller->result($n, 30);
	ok(!$r->{timeout}, "$label: the call ends");
	is($r->{sqlstate}, '00000', "$label: the call succeeds, as the plain statement would")
	  or diag($r->{err});
	like($r->{err}, qr/relation "late" already exists, skipping/, "$label: the statement's own NOTICE is relayed");
	like($r->{err}, qr/ran no query and built no index/, "$label: the guard says there was nothing to guard");
	is($r->{out}, '0|0|0', "$label: no workers, no rows");
	is($ctl->query('SELECT count(*) FROM late'), '0', "$label: the other session's table is untouched");
	$locker->quit;
}

# --- F. a library the caller loaded runs in the worker --------------------------
{
	my $label = 'loaded library';
	$caller->query("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
		  . "SET auto_explain.log_level = notice");
	my $r = $caller->run("SELECT achieved_workers FROM parallel_guard.run("
		  . "'CREATE TABLE explained AS SELECT count(*) FROM big', target => 2, min => 2)");
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	like($r->{err}, qr/Query Text: CREATE TABLE explained AS SELECT count\(\*\) FROM big/,
		"$label: auto_explain, loaded by the caller, explained the statement in the worker");
	$caller->query('RESET auto_explain.log_min_duration; RESET auto_explain.log_level');
}

$caller->quit;
$ctl->quit;
$node->stop;
done_testing();
