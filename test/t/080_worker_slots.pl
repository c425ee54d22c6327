
# 080_worker_slots.pl: the guard's own background worker cannot start
# because every max_worker_processes slot is taken.
#
# A node with max_worker_processes = 4, one slot of which the logical
# replication launcher takes.  The other three are taken by:
#  (A) an ordinary parallel query that launched 3 parallel workers;
#  (B) a guarded call whose worker launched 2 parallel workers;
#  (C) an ordinary parallel query that takes them in the delay between two
#      attempts of the guarded call;
#  (D) as (A), on a node with parallel_guard in shared_preload_libraries
#      (where runs may queue for parallel workers); there, first, five calls
#      in a row on the idle server must each get their slots at once, and a
#      call meeting full slots waits its turn in the queue, bounded by
#      parallel_guard.queue_timeout (1 s here), then is refused.
# Each time run() raises SQLSTATE 53000 (bounded at 10 s; never after a
# delay between attempts, never an unbounded wait), naming max_worker_processes,
# and leaves nothing behind: no 'parallel_guard' backend, no table, no lock
# of the caller, the caller's session works, and once the slots are free a
# guarded call gets its worker and 2 parallel workers (so no failed call
# kept a slot, even after 20 failures in a row).
#  (E) on the preloaded node, a statement guarded as written (target 2)
#      while a parallel query holds 1 of the 3 free slots: admitted at
#      once, since it runs in its caller and needs no guard worker's slot.
# And the setting check made before any attempt: a target above
# max_worker_processes - 1 fails with 22023 whose DETAIL names
# max_worker_processes; target = max_worker_processes - 1 passes that check.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time);

my $PROMPT = 10;    # seconds within which a refusal must come
my $node = guard_node('slots',
	conf => ['max_worker_processes = 4'],
	tables => [ [ big => 100_000 ] ]);
# The holder's table: one row per page (fillfactor 10, rows of 800 bytes),
# 2000 pages, so that each of its 3 parallel workers keeps finding pages to
# sleep on until it is cancelled.  From PostgreSQL 17 a sequential scan
# reads ahead: on the 9 pages of a table of 2000 small rows the first
# participants claimed every page and a worker exited at once, freeing its
# slot while the test counted on it being held (seen in (D), whose call
# waits 1 s in the queue before it tries to start its worker).
$node->safe_psql('postgres', q{
	CREATE TABLE slow (k int, pad text) WITH (fillfactor = 10, parallel_workers = 3);
	INSERT INTO slow SELECT g, repeat('x', 800) FROM generate_series(1, 2000) g;
	ANALYZE slow;
});

my $ctl = GuardTap::Session->new($node, 'control');
is($ctl->query('SHOW max_worker_processes'), '4', 'max_worker_processes is 4');
is( $ctl->query(
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'"),
	'1',
	'the logical replication launcher takes one slot');

my $GUARD_SQL = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard'};
my $PW_SQL = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'};
# About 25 s with the leader and 3 workers; pg_sleep answers a cancel at once.
my $SLOW = 'SELECT count(*) FROM slow WHERE pg_sleep(0.05) IS NOT NULL';

sub caller_session
{
	my ($name) = @_;
	my $s = GuardTap::Session->new($node, $name);
	# (seq_page_cost 0: on slow, 2000 pages of one row each, the pages'
	# cost is not shared by parallel workers and would keep the plan serial)
	$s->query("$GUARD_SETTINGS SET seq_page_cost = 0;");
	return $s;
}

# A session running an ordinary parallel query that holds all 3 free slots
# ($holder: a session made beforehand, or a new one).
sub hold_slots_with_query
{
	my ($label, $holder) = @_;
	$holder //= caller_session('holder');
	$holder->query('SET max_parallel_workers_per_gather = 4');
	my $n = $holder->start($SLOW);
	ok($ctl->poll($PW_SQL, '3', 30), "$label: a parallel query holds the 3 free slots");
	return ($holder, $n);
}

sub release
{
	my ($label, $holder, $n, $want) = @_;
	$ctl->query('SELECT pg_cancel_backend(' . $holder->pid . ')');
	my $r = $holder->result($n, 60);
	is($r->{sqlstate}, $want, "$label: the holder ends when cancelled ($want)")
	  or diag($r->{err});
	$holder->quit;
	ok(poll_until($node, $LEFTOVER_SQL, '0', 30), "$label: every slot is free again");
	return;
}

# A guarded call that must be refused at once for want of a slot.
sub refused
{
	my ($label, $caller, $table, $args, $guards) = @_;
	my $t0 = time;
	my $n = $caller->start(
		"SELECT * FROM parallel_guard.run('CREATE TABLE $table AS SELECT k FROM big', $args)");
	my $r = $caller->result($n, 2 * $PROMPT);
	my $took = time - $t0;
	if ($r->{timeout})
	{
		# Still waiting: say so, then cancel it to go on.
		diag("$label: no answer after ${\(2 * $PROMPT)} s; cancelling the call");
		$ctl->query('SELECT pg_cancel_backend(' . $caller->pid . ')');
		$r = $caller->result($n, 60);
		$r->{sqlstate} = "still waiting after ${\(2 * $PROMPT)} s, then $r->{sqlstate}";
	}
	is($r->{sqlstate}, '53000', "$label: SQLSTATE 53000") or diag($r->{err});
	cmp_ok($took, '<', $PROMPT, "$label: refused within $PROMPT s, not after a wait");
	like($r->{err}, qr/^(?:psql:\S+ )?ERROR:  53000: could not start a background worker/m,
		"$label: the ERROR says the guard's worker could not start");
	like($r->{err}, qr/^DETAIL:  .*max_worker_processes/m,
		"$label: the DETAIL names max_worker_processes");
	nothing_left($label, $caller, $table, $guards);
	note(sprintf("%s: refused after %.0f ms: %s", $label, $took * 1000,
			join(' | ', grep { /ERROR|DETAIL|HINT/ } split /\n/, $r->{err})));
	return $r;
}

# $guards: the parallel_guard backends of other sessions (the holder's).
sub nothing_left
{
	my ($label, $caller, $table, $guards) = @_;
	$guards //= 0;
	ok($ctl->poll($GUARD_SQL, $guards, 10),
		"$label: no parallel_guard backend of the caller ($guards of others)");
	is($ctl->query("SELECT to_regclass('$table') IS NULL"), 't', "$label: no table $table");
	is($ctl->query('SELECT count(*) FROM pg_locks WHERE pid = ' . $caller->pid),
		'0', "$label: the caller holds no lock");
	my $one = $caller->run('SELECT 1');
	is("$one->{sqlstate}|$one->{out}", '00000|1', "$label: the caller's session still runs SELECT 1");
	return;
}

# Once the slots are free: the guard's worker and 2 parallel workers.
sub works_again
{
	my ($label, $caller, $table) = @_;
	my $r = $caller->run(
		"SELECT * FROM parallel_guard.run('CREATE TABLE $table AS SELECT k FROM big', 2, 2, 1)",
		60);
	like("$r->{sqlstate}|$r->{out}", qr/^00000\|2\|1\|t\|2\|100000\|met\|\d*$/,
		"$label: with the slots free, a guarded call gets 2 parallel workers")
	  or diag($r->{err});
	$ctl->query("DROP TABLE IF EXISTS $table");
	return;
}

my $caller = caller_session('caller');

# --- (A) an ordinary parallel query holds the slots ---------------------------
{
	my $label = 'slots held by a parallel query';
	my ($holder, $n) = hold_slots_with_query($label);
	refused("$label, one attempt", $caller, 'ws_a1', '2, 0, 1');
	# With attempts left and a long delay: refused at once all the same.
	refused("$label, 3 attempts 30 s apart", $caller, 'ws_a2', "2, 0, 3, '30 s'");
	my $t0 = time;
	my %states;
	for my $i (1 .. 20)
	{
		my $r = $caller->run("SELECT * FROM parallel_guard.run("
			  . "'CREATE TABLE ws_a3 AS SELECT k FROM big', 1, 0, 1)", 60);
		$states{ $r->{sqlstate} }++;
	}
	is(join(',', map { "$_=$states{$_}" } sort keys %states), '53000=20',
		"$label: 20 calls in a row, each refused with 53000");
	cmp_ok(time - $t0, '<', 2 * $PROMPT, "$label: the 20 refusals took less than ${\(2 * $PROMPT)} s");
	nothing_left("$label, after 20 refusals", $caller, 'ws_a3');
	is($ctl->query($PW_SQL), '3', "$label: the holder's parallel workers still run");
	release($label, $holder, $n, '57014');
	works_again($label, $caller, 'ws_a_ok');
}

# --- (B) a guarded call holds the slots ---------------------------------------
{
	my $label = 'slots held by a guarded call';
	my $holder = caller_session('guarded holder');
	my $n = $holder->start("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE ws_hold AS $SLOW', 2, 2, 1)");
	ok( $ctl->poll(
			"SELECT ($GUARD_SQL) || '/' || ($PW_SQL)", '1/2', 30),
		"$label: its worker and 2 parallel workers hold the 3 free slots");
	refused($label, $caller, 'ws_b', '1, 0, 1', 1);
	release($label, $holder, $n, '57014');
	is($ctl->query("SELECT to_regclass('ws_hold') IS NULL"), 't', "$label: the holder's table does not exist");
	works_again($label, $caller, 'ws_b_ok');
}

# --- (C) the slots are taken in the delay between two attempts ----------------
{
	my $label = 'slots taken between attempts';
	my $c = caller_session('capped caller');
	$c->query('SET max_parallel_workers = 1');
	# Connected beforehand: in the delay, the holder only starts its query
	# (a few hundred ms at most; the delay is 3 s).
	my $holder_session = caller_session('holder');
	my $off = log_offset($node);
	my $t0 = time;
	my $n = $c->start("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE ws_c AS SELECT k FROM big', 2, 1, 3, '3 s')");
	my ($verdict) = wait_log($node, $off,
		qr/parallel_guard: attempt=1\/3 worker_pid=\d+ planned=\d+ launched=\d+ .*?verdict=(\w+)/, 30);
	is($verdict, 'short', "$label: attempt 1 is short (1 of 2 workers)");
	ok($ctl->poll("SELECT ($GUARD_SQL) + ($PW_SQL)", '0', 5),
		"$label: attempt 1's worker has exited");
	my ($holder, $hn) = hold_slots_with_query($label, $holder_session);
	my $r = $c->result($n, 60);
	my $took = time - $t0;
	is($r->{sqlstate}, '53000', "$label: attempt 2 fails with SQLSTATE 53000") or diag($r->{err});
	like($r->{err}, qr/^DETAIL:  .*max_worker_processes/m, "$label: the DETAIL names max_worker_processes");
	cmp_ok($took, '<', 3 + $PROMPT, "$label: refused right after the delay");
	is(scalar(parse_attempts(log_since($node, $off))), 1, "$label: only attempt 1 got a verdict");
	nothing_left($label, $c, 'ws_c');
	release($label, $holder, $hn, '57014');
	$c->quit;
}

# --- target that max_worker_processes can never hold ----------------------------
{
	my $label = 'target above max_worker_processes - 1';
	my $r = $caller->run("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE ws_never AS SELECT k FROM big', 4, 0, 1)");
	is($r->{sqlstate}, '22023', "$label: SQLSTATE 22023") or diag($r->{err});
	like($r->{err}, qr/ERROR:  22023: target 4 can never be reached/, "$label: the message says so");
	like($r->{err}, qr/^DETAIL:  "max_worker_processes" is 4\b/m,
		"$label: the DETAIL names max_worker_processes and its value");
	unlike($r->{err}, qr/parallel_guard: attempt/, "$label: no attempt was made");
	nothing_left($label, $caller, 'ws_never');

	$label = 'target = max_worker_processes - 1';
	$r = $caller->run("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE ws_edge AS SELECT k FROM big', 3, 2, 1)");
	# The launcher holds a slot: 2 parallel workers at most, accepted with min 2.
	like("$r->{sqlstate}|$r->{out}", qr/^00000\|2\|1\|f\|3\|100000\|accepted_short\|\d*$/,
		"$label: passes the check; the last attempt is accepted with the 2 workers there is room for")
	  or diag($r->{err});
	$ctl->query('DROP TABLE IF EXISTS ws_edge');
}

ok(poll_until($node, $LEFTOVER_SQL, '0', 30), 'no parallel_guard or parallel worker backend remains');
$caller->quit;
$ctl->quit;
$node->stop;

# --- (D) the same with parallel_guard preloaded (its queue, if it has one) ----
# README: when no slot is free for the guard's own worker, the call fails
# with 53000 instead of waiting on; preloaded, only after its bounded turn in
# the queue (parallel_guard.queue_timeout).  Preloading must not make a call
# wait while slots are free.  statement_timeout (15 s) bounds any wait.
# The same cluster (its tables, max_worker_processes = 4), restarted with
# the library preloaded.
{
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'parallel_guard'\n");
	$node->start;
	$ctl = GuardTap::Session->new($node, 'control');
	my $label = 'preloaded';
	is($ctl->query('SHOW shared_preload_libraries'), 'parallel_guard', "$label: the library is preloaded");
	my $c = caller_session('caller');
	$c->query("SET statement_timeout = '15s'");

	# Idle server: one call after the other, each gets its slots at once.
	my (@got, $slowest);
	$slowest = 0;
	for my $i (1 .. 5)
	{
		my $t0 = time;
		my $r = $c->run("SELECT * FROM parallel_guard.run("
			  . "'CREATE TABLE ws_idle_$i AS SELECT k FROM big', 2, 2, 1)", 60);
		my $took = time - $t0;
		$slowest = $took if $took > $slowest;
		# (without the run_id, which differs from call to call)
		push @got, "$r->{sqlstate}|" . ($r->{out} =~ s/\|\d*$//r);
		note(sprintf('%s: idle call %d: %s after %.0f ms', $label, $i, $got[-1], $took * 1000));
		$ctl->query("DROP TABLE IF EXISTS ws_idle_$i");
	}
	is(join(' ', @got), join(' ', ('00000|2|1|t|2|100000|met') x 5),
		"$label, idle server: 5 calls in a row each get their worker and 2 parallel workers");
	cmp_ok($slowest, '<', $PROMPT, "$label, idle server: none of them waited ($PROMPT s bound)");

	# Preloaded, a run first waits its turn in the queue for a free slot
	# (README, Queuing), bounded by parallel_guard.queue_timeout; then it
	# tries to start its worker and is refused with 53000, never left waiting.
	$label = 'preloaded, slots held by a parallel query';
	my ($holder, $n) = hold_slots_with_query($label);
	# (a refusal without the wait comes within milliseconds)
	$c->query("SET parallel_guard.queue_timeout = '1s'");
	my $t0 = time;
	refused($label, $c, 'ws_d', '2, 0, 1');
	cmp_ok(time - $t0, '>=', 0.9, "$label: it waited in the queue (queue_timeout 1 s) before the refusal");
	$c->query('RESET parallel_guard.queue_timeout');
	release($label, $holder, $n, '57014');
	works_again($label, $c, 'ws_d_ok');

	# A statement guarded as written runs in its caller and needs no slot
	# for a guard worker: with 2 slots free (a parallel query holds the
	# third) it is admitted at once for target 2.  Counting a guard worker's
	# slot it would wait out its whole queue_timeout (5 s here), then launch.
	$label = 'preloaded, as written, 2 slots free';
	my $h1 = caller_session('holder1');
	$h1->query('SET max_parallel_workers_per_gather = 1');
	my $n1 = $h1->start($SLOW);
	ok($ctl->poll($PW_SQL, '1', 30), "$label: a parallel query holds 1 of the 3 free slots");
	my $off = log_offset($node);
	$c->query("SET parallel_guard.queue_timeout = '5s'; SET parallel_guard.target = 2; "
		  . "SET parallel_guard.min = 2; SET parallel_guard.retries = 1");
	my $r = $c->run('CREATE TABLE ws_aw AS SELECT k FROM big', 30);
	$c->query('RESET parallel_guard.target; RESET parallel_guard.min; RESET parallel_guard.retries; '
		  . 'RESET parallel_guard.queue_timeout');
	is($r->{sqlstate}, '00000', "$label: the statement succeeded") or diag($r->{err});
	my @att = parse_attempts(log_since($node, $off));
	is(join(',', map { "$_->{verdict}/$_->{launched}" } @att), 'met/2',
		"$label: its one attempt met target 2");
	cmp_ok($att[0]{queued_ms} // 99999, '<', 2500,
		"$label: it did not wait out its queue_timeout of 5 s for a guard worker's slot")
	  or diag("queued_ms $att[0]{queued_ms}");
	unlike($r->{err}, qr/queue wait ran out/, "$label: no NOTICE says the queue wait ran out");
	release($label, $h1, $n1, '57014');
	$c->quit;
	$ctl->quit;
	$node->stop;
}

done_testing();
