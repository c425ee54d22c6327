
# 160_as_written.pl: statements guarded as written (parallel_guard.target)
# leave nothing behind when they are interrupted, and many of them at once
# share the pool without a short attempt.
#
# The cluster preloads parallel_guard (queue, reservations, history) and has
# a pool of 8 parallel workers in 16 worker slots.
#
# 1. A CREATE TABLE AS guarded as written (target 4) is interrupted by
#    pg_cancel_backend, by statement_timeout and by pg_terminate_backend of
#    the session itself:
#    (a) during an attempt, while its 4 parallel workers run (seen in
#        pg_stat_activity with leader_pid = the session's pid);
#    (b) during the delay between attempts (attempt 1 short under SET
#        max_parallel_workers = 2, delay 30 s; seen in the server log, the
#        queue view ('delaying') and pg_stat_activity).
#    After each: the SQLSTATE the client sees (57014 with the interrupt's own
#    message for cancel and timeout; for terminate the connection ends with
#    FATAL 57P01); no parallel worker with that leader remains, pg_locks has
#    no lock of that pid, parallel_guard.queue is empty, the table does not
#    exist; for cancel and timeout the session goes on: in a BEGIN block the
#    transaction is aborted as by the plain statement's error (25P02 until
#    ROLLBACK, which works and rolls back what the block did before), and the
#    history records the run as cancelled (57014, guarded_by
#    parallel_guard.target); then a guarded run of target 8 (the whole pool)
#    from a new session gets its 8 workers at its first attempt without its
#    queue wait running out: no worker or reservation is held by the
#    interrupted run.
# 2. 40 sessions at once each run a CREATE TABLE AS guarded as written
#    (target 4, min 4, retries 1; about half a second each) on the pool of
#    8: every one succeeds, with its table, and the history has 40 runs, one
#    per session, each met at attempt 1 with 4 workers.
#
# Every wait is bounded; interrupts are sent after the state they are meant
# to hit has been seen, never after a fixed sleep.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $SESSIONS = 40;

my $node = guard_node(
	'as_written',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		# 40 guarded sessions, the control session and the checks
		'max_connections = 60',
		# A run held up by a leaked reservation would wait this long, then
		# launch anyway: its NOTICE would say that the queue wait ran out.
		"parallel_guard.queue_timeout = '20s'",
	],
	tables => [ [ slow => 2000 ] ]);

# quick: 400 rows on ~23 pages (so that all 5 participants get pages), a
# Gather of up to 8 workers (a guarded run of target 8 can take the pool).
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE quick AS SELECT g AS k, repeat('x', 400) AS pad FROM generate_series(1, 400) g;
ALTER TABLE quick SET (parallel_workers = 8);
VACUUM ANALYZE quick;
SQL

# slow has 9 pages of 226 rows, handed out one at a time: each of the 5
# participants (4 workers and the leader) sleeps 9 s on its first page, so
# all 4 workers are busy for the first 9 s (18 s in all).  pg_sleep is
# PARALLEL SAFE and answers interrupts at once.
my $SLOW = 'SELECT k FROM slow WHERE pg_sleep(0.04) IS NOT NULL';
# About 0.4 s with 4 workers and the leader.
my $QUICK = 'SELECT k FROM quick WHERE pg_sleep(0.005) IS NOT NULL';

my $ctl = GuardTap::Session->new($node, 'control');
is($ctl->query('SHOW shared_preload_libraries'), 'parallel_guard', 'the library is preloaded');
is($ctl->query('SHOW max_parallel_workers') . '|' . $ctl->query('SHOW max_worker_processes'),
	'8|16', 'a pool of 8 parallel workers in 16 worker slots');
is($ctl->query("SELECT proparallel FROM pg_proc WHERE oid = 'pg_sleep(float8)'::regprocedure"),
	's', 'pg_sleep is parallel safe: the slow statement sleeps in its parallel workers');

# A session whose CREATE TABLE AS statements are guarded as written.
sub aw_session
{
	my ($name, %set) = @_;
	my $s = GuardTap::Session->new($node, $name);
	$s->query($GUARD_SETTINGS);
	$s->query(join(' ', map { "SET parallel_guard.$_ = $set{$_};" } sort keys %set));
	return $s;
}

sub workers_of
{
	my ($pid) = @_;
	return "SELECT count(*) FROM pg_stat_activity WHERE leader_pid = $pid "
	  . "AND backend_type = 'parallel worker'";
}

sub locks_of
{
	my ($pid) = @_;
	return "SELECT count(*) FROM pg_locks WHERE pid = $pid";
}

my $QUEUE_SQL = 'SELECT count(*) FROM parallel_guard.queue';

# The history row of the run of $table: verdict|sqlstate|attempts|launched|guarded_by|pid
sub history_of
{
	my ($table) = @_;
	return $ctl->query(
		"SELECT string_agg(concat_ws('|', verdict, coalesce(sqlstate, '-'), attempts, "
		  . "launched::text, guarded_by, pid), ';') FROM parallel_guard.history "
		  . "WHERE statement LIKE 'CREATE TABLE $table AS%'");
}

# The pool is whole: a guarded run of target 8 from a new session gets the 8
# workers at its first attempt, and not because its queue wait ran out.
my $pool_checks = 0;

sub pool_whole
{
	my ($label) = @_;
	my $table = 'pool_check_' . ++$pool_checks;
	my $p = aw_session("$label: pool check", target => 8, min => 8, retries => 1);
	my $r = $p->run("CREATE TABLE $table AS $QUICK", 60);
	is($r->{sqlstate}, '00000', "$label: afterwards a guarded run of target 8 gets the whole pool")
	  or diag($r->{timeout} ? 'the statement did not return' : $r->{err});
	unlike($r->{err}, qr/queue wait ran out/,
		"$label: ... without waiting out its queue_timeout (no worker or reservation held)");
	like(history_of($table), qr/^met\|-\|1\|\{8\}\|/, "$label: ... met at attempt 1 with 8 workers");
	$p->quit;
	return;
}

# What the client of an interrupted statement sees: SQLSTATE 57014 and the
# interrupt's own message (cancel, timeout), or its connection ends with
# FATAL 57P01 (terminate).  Returns the pid's session if it goes on.
sub client_sees
{
	my ($label, $s, $n, $how) = @_;
	if ($how eq 'terminate')
	{
		my $e = $s->wait_exit(30);
		ok(defined $e, "$label: the client's connection ends");
		like($e ? $e->{err} : '',
			qr/FATAL:  57P01: terminating connection due to administrator command/,
			"$label: the client gets FATAL 57P01 (terminated)");
		return;
	}
	my $r = $s->result($n, 30);
	is($r->{sqlstate}, '57014', "$label: the client gets SQLSTATE 57014")
	  or diag($r->{timeout} ? 'the statement did not return' : $r->{err});
	like(
		$r->{err},
		$how eq 'cancel'
		? qr/ERROR:  57014: canceling statement due to user request/
		: qr/ERROR:  57014: canceling statement due to statement timeout/,
		"$label: with the interrupt's own message");
	return $r;
}

# What must hold after every interrupted statement.  $txn: the statement ran
# in a BEGIN block that had created table $txn first.
sub nothing_left
{
	my ($label, $s, $pid, $table, $how, $txn, $launched) = @_;
	if ($how eq 'terminate')
	{
		ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid", '0', 30),
			"$label: the session's backend has exited");
		ok(poll_until($node, workers_of($pid), '0', 30),
			"$label: no parallel worker of the session remains");
		ok(poll_until($node, locks_of($pid), '0', 30), "$label: pg_locks has no lock of the session");
		ok(poll_until($node, $QUEUE_SQL, '0', 30), "$label: parallel_guard.queue is empty");
	}
	else
	{
		# As for a plain statement: the error returns once the workers are
		# gone and the (sub)transactions are aborted.
		is($ctl->query(workers_of($pid)), '0',
			"$label: no parallel worker of the session remains when the error returns");
		is($ctl->query(locks_of($pid)), '0',
			"$label: pg_locks has no lock of the session when the error returns");
		is($ctl->query($QUEUE_SQL), '0', "$label: parallel_guard.queue is empty when the error returns");
	}
	ok(poll_until($node, $LEFTOVER_SQL, '0', 30), "$label: no parallel worker runs anywhere");
	is($ctl->query("SELECT to_regclass('$table') IS NULL"), 't', "$label: table $table does not exist");
	if ($how ne 'terminate')
	{
		if ($txn)
		{
			my $r = $s->run('SELECT 1');
			is($r->{sqlstate}, '25P02',
				"$label: the session's transaction is aborted, as by the plain statement's error");
			$r = $s->run('ROLLBACK');
			is($r->{sqlstate}, '00000', "$label: ROLLBACK works") or diag($r->{err});
		}
		my $r = $s->run('SELECT 1');
		is("$r->{sqlstate}|$r->{out}", '00000|1', "$label: the session goes on (SELECT 1)");
		is(history_of($table), "cancelled|57014|1|{$launched}|parallel_guard.target|$pid",
			"$label: the history has the run: cancelled (57014) in attempt 1, which launched $launched");
	}
	is($ctl->query("SELECT to_regclass('$txn') IS NULL"), 't',
		"$label: table $txn, created earlier in the block, is rolled back too")
	  if $txn;
	$s->quit unless $how eq 'terminate';
	pool_whole($label);
	return;
}

sub interrupt
{
	my ($label, $pid, $how) = @_;
	return if $how eq 'timeout';
	my $f = $how eq 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
	is($ctl->query("SELECT $f($pid)"), 't', "$label: $f sent");
	return;
}

# --- 1a. during an attempt, while its parallel workers run -----------------------
sub during_attempt
{
	my ($how, $txn) = @_;
	my $label = "$how during an attempt" . ($txn ? ' (BEGIN block)' : '');
	my $table = "run_$how";
	my $s = aw_session($label, target => 4, min => 4, retries => 1);
	my $pid = $s->pid;
	# The workers are busy for 9 s: the timeout comes while they run.
	$s->query("SET statement_timeout = '5s'") if $how eq 'timeout';
	$s->query("BEGIN; CREATE TABLE ${table}_before (i int)") if $txn;
	my $n = $s->start("CREATE TABLE $table AS $SLOW");
	ok($ctl->poll(workers_of($pid), '4', $how eq 'timeout' ? 5 : 30),
		"$label: the statement's 4 parallel workers run (leader_pid = the session's pid)");
	ok(!$s->finished($n), "$label: the statement is still running");
	interrupt($label, $pid, $how);
	client_sees($label, $s, $n, $how);
	# (No count of the workers' FATAL lines in the log: a worker whose leader
	# has detached from its tuple queue may end quietly instead.)
	nothing_left($label, $s, $pid, $table, $how, $txn ? "${table}_before" : undef, 4);
	return;
}

during_attempt('cancel', 1);
during_attempt('timeout', 0);
during_attempt('terminate', 0);

# --- 1b. during the delay between attempts ----------------------------------------
sub during_delay
{
	my ($how, $txn) = @_;
	my $label = "$how during the delay" . ($txn ? ' (BEGIN block)' : '');
	my $table = "delay_$how";
	my $s = aw_session($label, target => 4, min => 4, retries => 3, delay => "'30s'");
	my $pid = $s->pid;
	$s->query('SET max_parallel_workers = 2');
	# Attempt 1 ends at its launch: the timeout comes in the 30 s delay.
	$s->query("SET statement_timeout = '5s'") if $how eq 'timeout';
	$s->query("BEGIN; CREATE TABLE ${table}_before (i int)") if $txn;
	my $off = log_offset($node);
	my $t0 = time;
	my $n = $s->start("CREATE TABLE $table AS $SLOW");
	my ($launched, $verdict) = wait_log($node, $off,
		qr/\[$pid\] LOG:  parallel_guard: attempt=1\/3 .*?launched=(-?\d+) .*?verdict=(\w+)/,
		$how eq 'timeout' ? 5 : 30);
	is(($launched // '?') . '|' . ($verdict // '?'), '2|short',
		"$label: attempt 1 launched 2 of 4, short (server log)");
	ok( $ctl->poll(
			"SELECT state FROM parallel_guard.queue WHERE pid = $pid", 'delaying',
			$how eq 'timeout' ? 5 : 30),
		"$label: the queue view shows the session 'delaying'");
	ok( $ctl->poll(
			"SELECT wait_event FROM pg_stat_activity WHERE pid = $pid", wait_event_of($node, 'Delay'),
			$how eq 'timeout' ? 5 : 30),
		"$label: the session waits in the delay (wait_event " . wait_event_of($node, 'Delay') . ")");
	is($ctl->query(workers_of($pid)), '0', "$label: attempt 1's parallel workers are gone");
	interrupt($label, $pid, $how);
	my $r = client_sees($label, $s, $n, $how);
	cmp_ok(time - $t0, '<', 25, "$label: the interrupt ends the 30 s delay early");
	unlike(log_since($node, $off), qr/\[$pid\] LOG:  parallel_guard: attempt=2\//,
		"$label: no second attempt was made");
	like($r->{err}, qr/NOTICE:  .*attempt 1 of 3: planned 4, launched 2 parallel workers: short of target 4; rolled back, next attempt in 30 s/,
		"$label: the client got attempt 1's NOTICE")
	  if $r;
	nothing_left($label, $s, $pid, $table, $how, $txn ? "${table}_before" : undef, 2);
	return;
}

during_delay('cancel', 0);
during_delay('timeout', 1);
during_delay('terminate', 1);

# --- 2. 40 sessions at once ---------------------------------------------------------
{
	my $label = "$SESSIONS sessions";
	my @s = map { aw_session("s$_", target => 4, min => 4, retries => 1) } 1 .. $SESSIONS;
	my %pid = map { $s[$_]->pid => $_ + 1 } 0 .. $#s;
	my $t0 = time;
	my @n = map { $s[$_]->start('CREATE TABLE many_' . ($_ + 1) . " AS $QUICK") } 0 .. $#s;
	# Watch the queue meanwhile: the sessions must really have competed.
	my ($most_queued, $most_workers) = (0, 0);
	my $deadline = time + 120;
	while (grep { !$s[$_]->finished($n[$_]) } 0 .. $#s)
	{
		last if time > $deadline;
		my ($q, $w) = split /\|/,
		  $ctl->query("SELECT (SELECT count(*) FROM parallel_guard.queue), (SELECT count(*) "
			  . "FROM pg_stat_activity WHERE backend_type = 'parallel worker')");
		$most_queued = $q if $q > $most_queued;
		$most_workers = $w if $w > $most_workers;
		usleep(50_000);
	}
	my $elapsed = time - $t0;
	my @failed;
	for my $i (0 .. $#s)
	{
		my $r = $s[$i]->result($n[$i], 10);
		push @failed, 's' . ($i + 1) . ': ' . ($r->{timeout} ? 'no result' : "$r->{sqlstate} $r->{err}")
		  if $r->{sqlstate} ne '00000';
	}
	is(scalar(@failed), 0, "$label: every guarded CREATE TABLE AS succeeds")
	  or diag(join("\n", @failed[ 0 .. ($#failed < 4 ? $#failed : 4) ]));
	note(sprintf('%s: all done in %.1f s; at most %d in the queue, %d parallel workers at once',
			$label, $elapsed, $most_queued, $most_workers));
	cmp_ok($most_queued, '>', 8, "$label: they ran at once (up to $most_queued in the queue together)");
	is( $ctl->query(
			"SELECT count(*) FROM pg_class WHERE relname ~ '^many_[0-9]+\$' AND relkind = 'r'"),
		$SESSIONS, "$label: $SESSIONS tables exist");
	is( $ctl->query(
			'SELECT ' . join(' + ', map { "(SELECT count(*) FROM many_$_)" } 1 .. $SESSIONS)),
		400 * $SESSIONS, "$label: each has its 400 rows");
	my $pids = join(',', sort { $a <=> $b } keys %pid);
	is( $ctl->query(
			"SELECT count(*) || '|' || count(DISTINCT pid) || '|' || "
			  . "count(*) FILTER (WHERE attempts = 1 AND verdict = 'met' AND achieved_workers = 4 "
			  . "AND launched = '{4}' AND guarded_by = 'parallel_guard.target' "
			  . "AND pid IN ($pids)) FROM parallel_guard.history "
			  . "WHERE statement ~ '^CREATE TABLE many_[0-9]+ AS'"),
		"$SESSIONS|$SESSIONS|$SESSIONS",
		"$label: the history has $SESSIONS runs, one per session, each met at attempt 1 with 4 workers")
	  or diag($ctl->query(
			"SELECT string_agg(concat_ws(' ', pid, attempts, launched::text, verdict), '; ') "
			  . "FROM parallel_guard.history WHERE statement ~ '^CREATE TABLE many_'"));
	is($ctl->query($QUEUE_SQL), '0', "$label: parallel_guard.queue is empty afterwards");
	$_->quit for @s;
}

$ctl->quit;
$node->stop;
done_testing();
