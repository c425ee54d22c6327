
# 030_terminate.pl: pg_terminate_backend during a guarded call.
#
#  - of the caller, while the guarded statement runs (after the verdict) and
#    while the caller waits out the delay between attempts: the caller's
#    connection ends, its worker and the worker's parallel workers go away,
#    the table does not exist, and the tables that existed before are
#    untouched;
#  - of the guard's own worker (backend_type 'parallel_guard') while its
#    statement runs, and before its verdict while it waits for a lock: the
#    caller gets an ERROR at once (no hang, its session survives), and
#    nothing is left;
#  - of the guard's worker and, 5 ms later, of its caller (the order of a
#    fast shutdown): the caller ends with FATAL 57P01 alone, as a plain
#    statement's session does, and nothing is left.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node('terminate', tables => [ [ slow => 2000 ], [ big => 100_000 ] ]);
$node->safe_psql('postgres',
	"CREATE TABLE keep AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 1000) g");

# About 8 s with 4 workers and the leader.
my $SLOW = 'SELECT k FROM slow WHERE pg_sleep(0.02) IS NOT NULL';

my $ctl = GuardTap::Session->new($node, 'control');

# What the pre-existing tables hold.
my $SIGNATURE_SQL =
    "SELECT (SELECT count(*) || ':' || sum(k) FROM big) || '/' || "
  . "(SELECT count(*) || ':' || md5(string_agg(k || '=' || v, ',' ORDER BY k)) FROM keep)";
my $signature = $ctl->query($SIGNATURE_SQL);
like($signature, qr/^100000:5000050000\/1000:[0-9a-f]{32}$/, 'pre-existing tables big and keep');

sub nothing_left
{
	my ($label, $table, $wpid) = @_;
	ok(poll_until($node, $LEFTOVER_SQL, '0'),
		"$label: no parallel_guard or parallel worker backend remains");
	is($ctl->query("SELECT count(*) FROM pg_stat_activity WHERE pid = $wpid"),
		'0', "$label: the attempt's worker (PID $wpid) is gone");
	is($ctl->query("SELECT to_regclass('$table') IS NULL"),
		't', "$label: table $table does not exist");
	is($ctl->query($SIGNATURE_SQL), $signature, "$label: big and keep are untouched");
	is( $ctl->query(
			'SELECT count(*) FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()'),
		'0',
		"$label: no other backend holds a lock");
	return;
}

# Starts the guarded CTAS in a new caller session and waits for the verdict
# of attempt 1; returns the session, the call, the worker's PID and the
# attempt's "launched|verdict".
sub start_call
{
	my ($table, $select, $args, $retries, @setup) = @_;
	my $caller = GuardTap::Session->new($node, 'caller');
	$caller->query($GUARD_SETTINGS);
	$caller->query($_) for @setup;
	my $off = log_offset($node);
	my $n = $caller->start("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $table AS $select', $args)");
	my ($wpid, $launched, $verdict) = wait_log($node, $off,
		qr/parallel_guard: attempt=1\/$retries worker_pid=(\d+) planned=\d+ launched=(-?\d+) .*?verdict=(\w+)/
	);
	return ($caller, $n, $wpid // 0, ($launched // '') . '|' . ($verdict // ''));
}

# --- terminate the caller while the statement runs -------------------------
{
	my $label = 'caller terminated while running';
	my ($caller, $n, $wpid, $lv) = start_call('t_run', $SLOW, '4, 2, 1', 1);
	is($lv, '4|met', "$label: target met, the statement runs");
	ok( $ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE leader_pid = $wpid "
			  . "AND backend_type = 'parallel worker'",
			'4', 10),
		"$label: the worker's 4 parallel workers are running");
	is($ctl->query('SELECT pg_terminate_backend(' . $caller->pid . ')'),
		't', "$label: terminate sent");
	my $end = $caller->wait_exit;
	ok(defined $end, "$label: the caller's connection ends");
	like($end ? $end->{err} : '', qr/terminating connection due to administrator command/,
		"$label: the caller was told why");
	nothing_left($label, 't_run', $wpid);
}

# --- terminate the caller in the delay between attempts ----------------------
{
	my $label = 'caller terminated in the delay';
	my ($caller, $n, $wpid, $lv) = start_call('t_delay', 'SELECT k FROM big',
		"4, 2, 3, '10 min'", 3, 'SET max_parallel_workers = 2');
	is($lv, '2|short', "$label: attempt 1 short, rolled back");
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$label: attempt 1's worker has exited");
	is($ctl->query('SELECT pg_terminate_backend(' . $caller->pid . ')'),
		't', "$label: terminate sent");
	my $end = $caller->wait_exit;
	ok(defined $end, "$label: the caller's connection ends");
	nothing_left($label, 't_delay', $wpid);
}

# --- terminate the guard's own worker while the statement runs --------------
{
	my $label = 'worker terminated while running';
	my ($caller, $n, $wpid, $lv) = start_call('t_worker', $SLOW, '4, 2, 1', 1);
	is($lv, '4|met', "$label: target met, the statement runs");
	is( $ctl->query(
			"SELECT backend_type FROM pg_stat_activity WHERE pid = $wpid"),
		'parallel_guard',
		"$label: PID $wpid is the guard's worker");
	is($ctl->query("SELECT pg_terminate_backend($wpid)"), 't', "$label: terminate sent");
	my $r = $caller->result($n, 60);
	ok(!$r->{timeout} && !$r->{lost}, "$label: the call returns, the caller's connection survives")
	  or diag($r->{timeout} ? 'the call did not return' : $r->{err});
	is($r->{sqlstate}, '57014', "$label: the call fails with 57014, as the README says");
	like($r->{err}, qr/^(?:psql:\S+ )?ERROR:\s+57014: parallel_guard background worker was terminated$/m,
		"$label: the caller gets an ERROR (not FATAL) saying the guard's worker was terminated");
	like($r->{err}, qr/^DETAIL:\s+The parallel_guard background worker \(PID $wpid\) was terminated: .*administrator command/m,
		"$label: its DETAIL names the worker's PID and why");
	note("$label: caller got SQLSTATE $r->{sqlstate}: "
		  . join(' | ', grep { /ERROR|DETAIL|CONTEXT/ } split /\n/, $r->{err}));
	my $one = $caller->run('SELECT 1');
	is("$one->{sqlstate}|$one->{out}", '00000|1', "$label: the caller's session still runs SELECT 1");
	nothing_left($label, 't_worker', $wpid);
	$caller->quit;
}

# --- terminate the guard's own worker before its verdict (waiting for a lock)
{
	my $label = 'worker terminated before the verdict';
	my $locker = GuardTap::Session->new($node, 'locker');
	$locker->query('BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE;');
	my $caller = GuardTap::Session->new($node, 'caller');
	$caller->query($GUARD_SETTINGS);
	my $off = log_offset($node);
	my $n = $caller->start("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE t_wlock AS SELECT k FROM big', 4, 2, 1)");
	ok( $ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard' "
			  . "AND wait_event_type = 'Lock'",
			'1', 30),
		"$label: the worker waits for the lock on big");
	my $wpid = $ctl->query(
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'parallel_guard'");
	is($ctl->query("SELECT pg_terminate_backend($wpid)"), 't', "$label: terminate sent");
	my $r = $caller->result($n, 60);
	ok(!$r->{timeout} && !$r->{lost}, "$label: the call returns, the caller's connection survives")
	  or diag($r->{timeout} ? 'the call did not return' : $r->{err});
	is($r->{sqlstate}, '57014', "$label: the call fails with 57014, as the README says");
	like($r->{err}, qr/^(?:psql:\S+ )?ERROR:\s+57014: parallel_guard background worker was terminated$/m,
		"$label: the caller gets an ERROR (not FATAL) saying the guard's worker was terminated");
	like($r->{err}, qr/^DETAIL:\s+The parallel_guard background worker \(PID $wpid\) was terminated: .*administrator command/m,
		"$label: its DETAIL names the worker's PID and why");
	note("$label: caller got SQLSTATE $r->{sqlstate}: "
		  . join(' | ', grep { /ERROR|DETAIL|CONTEXT/ } split /\n/, $r->{err}));
	unlike(log_since($node, $off), qr/parallel_guard: attempt=/,
		"$label: no attempt got a verdict");
	$locker->query('COMMIT');
	$locker->quit;
	my $one = $caller->run('SELECT 1');
	is("$one->{sqlstate}|$one->{out}", '00000|1', "$label: the caller's session still runs SELECT 1");
	nothing_left($label, 't_wlock', $wpid);
	$caller->quit;
}

# --- the worker terminated, then its caller 5 ms later -----------------------
# A server shutdown (pg_ctl stop/restart -m fast) signals every backend, the
# guard's worker first or its caller first, a moment apart.  The caller must
# end as a plain statement's session ends (FATAL 57P01, "terminating
# connection due to administrator command"), not with an ERROR of
# parallel_guard's first: the worker's death reaches the caller sooner than
# 5 ms on an idle machine, so before the fix the client got that ERROR.
for my $i (1 .. 3)
{
	my $label = "worker, then caller 5 ms later ($i)";
	my ($caller, $n, $wpid, $lv) = start_call("t_order_$i", $SLOW, '4, 2, 1', 1);
	is($lv, '4|met', "$label: target met, the statement runs");
	my $cpid = $caller->pid;
	$ctl->query("DO \$\$BEGIN PERFORM pg_terminate_backend($wpid); PERFORM pg_sleep(0.005); "
		  . "PERFORM pg_terminate_backend($cpid); END\$\$");
	my $end = $caller->wait_exit;
	ok(defined $end, "$label: the caller's connection ends");
	my $err = $end ? $end->{err} : '';
	like($err, qr/FATAL:\s+(?:57P01: )?terminating connection due to administrator command/,
		"$label: the caller ends with FATAL 57P01, as a plain statement's session does");
	unlike($err, qr/^(?:psql:\S+ )?ERROR:/m, "$label: no ERROR of parallel_guard reached the client first")
	  or diag($err);
	nothing_left($label, "t_order_$i", $wpid);
}

$ctl->quit;
$node->stop;
done_testing();
