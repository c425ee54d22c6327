
# 090_queue.pl: with parallel_guard in shared_preload_libraries, guarded runs
# wait in one cluster-wide first-come, first-served queue for their parallel
# workers (pool: max_parallel_workers = 8, max_worker_processes = 16).
#
#  - stale process slots (regression): after an ordinary query that launched
#    8 parallel workers has ended, a run of target 7 (queue_timeout 30 s)
#    launches at once: the exited workers' PGPROCs, which PostgreSQL 15
#    leaves with pid and isBackgroundWorker set, are not counted;
#  - idle pool: after a run that used 8 workers has ended, the next runs of
#    target 8 and 4 find room at once (they do not wait out queue_timeout);
#  - FIFO: while a guarded run holds the 8 workers, runs A, B, C (target 4)
#    arriving in that order show in parallel_guard.queue as 'waiting' with
#    queue_position 1, 2, 3; they leave 'waiting' in that order (checked on
#    every look at the view), their attempts start in that order (server
#    log), each launches 4 workers on its first attempt (no short attempt)
#    after a wait the NOTICE and the LOG line report (queued_ms);
#  - no starvation: a run of target 8 waits behind two runs of target 4; a
#    stream of later runs of target 2 keeps arriving, also after half of the
#    pool is free; none of them launches before the target-8 run;
#  - a waiter cancelled (pg_cancel_backend) or terminated
#    (pg_terminate_backend) has left the view by the time its error or its
#    connection's end reaches the client; the waiters behind it move up, and
#    the remaining one launches when the pool frees;
#  - one queue for all databases: waiters in two databases (one of them
#    under SET ROLE) interleave their positions, and launch in arrival order;
#  - parallel_guard.queue_timeout = '200ms': a run that cannot get room
#    launches anyway after its wait ran out, its short attempts are retried
#    and the call ends while the pool is still full; = 0: no waiting at all;
#  - a waiter's backend killed with SIGKILL: after the crash restart the view
#    is empty and a new run gets its 4 workers at once;
#  - auxiliary processes (regression, a second node with max_worker_processes
#    = 4): on the idle server a run of target 2 launches at once, twice;
#  - without shared_preload_libraries (a third node): run() works, nothing
#    queues (a second run launches while the first holds the pool), the view
#    raises 55000 (the library must be preloaded), and the server log says
#    why once.
#
# Statements sleep (pg_sleep is PARALLEL SAFE) instead of burning CPU, so
# their durations hold on a busy 2-core machine.  No assertion is on time,
# only on order; every wait is bounded.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);
use Time::Local qw(timegm);

# Long enough for every legitimate wait below (at most ~15 s), short enough
# that a run wrongly kept waiting does not stall the suite.
my $QUEUE_TIMEOUT_S = 30;
my $ROWS = 2000;

my $node = guard_node(
	'queue',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		'max_parallel_workers = 8',
		'max_worker_processes = 16',
		'max_connections = 40',
		# the SIGKILL case needs the crash restart (the TAP default is off)
		'restart_after_crash = on',
		"parallel_guard.queue_timeout = '${QUEUE_TIMEOUT_S}s'",
	]);

# slow: $ROWS rows on ~140 pages, so that 9 processes share the scan evenly.
sub make_slow
{
	my ($n, $db) = @_;
	$n->safe_psql($db,
		"CREATE TABLE slow AS SELECT g AS k, repeat('x', 400) AS pad FROM generate_series(1, $ROWS) g");
	$n->safe_psql($db, 'ALTER TABLE slow SET (parallel_workers = 8)');
	$n->safe_psql($db, 'VACUUM ANALYZE slow');
	return;
}
make_slow($node, 'postgres');

my $ctl = GuardTap::Session->new($node, 'control');
is($ctl->query("SHOW shared_preload_libraries"), 'parallel_guard', 'the library is preloaded');
is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', 'the queue starts empty');

# --- helpers ---------------------------------------------------------------------

# A CREATE TABLE AS that takes about $seconds with $workers parallel workers
# and the leader.
sub ctas
{
	my ($table, $seconds, $workers) = @_;
	my $sleep = sprintf('%.5f', $seconds * ($workers + 1) / $ROWS);
	return "CREATE TABLE $table AS SELECT k FROM slow WHERE pg_sleep($sleep) IS NOT NULL";
}

# SELECT of run() returning achieved|attempts|target_met.
sub guarded
{
	my ($table, $seconds, $target, $args) = @_;
	$args //= "min => 2, retries => 5, delay => '200ms'";
	return "SELECT achieved_workers, attempts, target_met FROM parallel_guard.run('"
	  . ctas($table, $seconds, $target)
	  . "', target => $target, $args)";
}

my @sessions;

sub caller_session
{
	my ($name, $db) = @_;
	my $s = GuardTap::Session->new($node, $name);
	if ($db && $db ne 'postgres')
	{
		# GuardTap::Session connects to postgres; move to $db.
		$s->query("\\connect $db\nSELECT 1");
		$s->{pid} = $s->query('SELECT pg_backend_pid()');
	}
	$s->query($GUARD_SETTINGS);
	push @sessions, $s;
	return $s;
}

# The view: { pid => { database, usename, position, target, held, attempt, state } }
# The last time (before the query that saw it) each pid was seen
# 'waiting' in the queue view, by any look: start_order_ok compares the
# attempts' start times in the server log against it.
my %last_seen_waiting;

sub queue_view
{
	my ($s) = @_;
	my %v;
	my $before = time;
	for my $line (split /\n/,
		($s // $ctl)->query(
			"SELECT pid, database, usename, coalesce(queue_position::text, '-'), target, "
			  . "workers_held, attempt, state FROM parallel_guard.queue"))
	{
		my @f = split /\|/, $line;
		$v{ $f[0] } = {
			database => $f[1],
			usename => $f[2],
			position => $f[3],
			target => $f[4],
			held => $f[5],
			attempt => $f[6],
			state => $f[7],
		};
		$last_seen_waiting{ $f[0] } = $before if $f[7] eq 'waiting';
	}
	return \%v;
}

# "pid:state:position" of $pids in the view, for diagnostics.
sub describe_view
{
	my ($v) = @_;
	return join(', ',
		map { "$_:$v->{$_}{state}:$v->{$_}{position}:$v->{$_}{held}" } sort keys %$v)
	  || 'empty';
}

# Polls the view until $cond->($view) holds; returns whether it did.
sub poll_view
{
	my ($cond, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	for (;;)
	{
		my $v = queue_view();
		return 1 if $cond->($v);
		return 0 if time > $deadline;
		usleep(20_000);
	}
}

sub poll_state
{
	my ($pid, $state, $timeout) = @_;
	return poll_view(sub { ($_[0]{$pid}{state} // '') eq $state }, $timeout);
}

# A guarded run holding the pool: started, and running with all its workers.
sub start_holder
{
	my ($label, $table, $seconds, $target) = @_;
	my $s = caller_session("holder $table");
	my $n = $s->start(guarded($table, $seconds, $target));
	ok( poll_view(
			sub {
				my $e = $_[0]{ $s->pid };
				$e && $e->{state} eq 'running' && $e->{held} == $target;
			},
			60),
		"$label: $table runs with $target workers (view: running, workers_held $target)")
	  or diag('view: ' . describe_view(queue_view()));
	return ($s, $n);
}

# Starts a waiting run and waits until the view shows it waiting.
sub start_waiter
{
	my ($label, $name, $table, $seconds, $target, $db) = @_;
	my $s = caller_session($name, $db);
	my $n = $s->start(guarded($table, $seconds, $target));
	ok(poll_state($s->pid, 'waiting', 30), "$label: $name is waiting in the queue")
	  or diag('view: ' . describe_view(queue_view()));
	return ($s, $n);
}

# Order invariant on one look at the view: no run of @$order (arrival order)
# has left 'waiting' while an earlier one is still waiting.  A run missing
# from the view after it was seen (%$seen) has ended ('gone'); one never
# seen has not joined yet.
sub overtakers
{
	my ($v, $order, $seen) = @_;
	my @bad;
	$seen->{$_} = 1 for grep { $v->{$_} } @$order;
	my %st = map { $_ => ($v->{$_} ? $v->{$_}{state} : $seen->{$_} ? 'gone' : 'new') } @$order;
	for my $i (0 .. $#$order)
	{
		next unless $st{ $order->[$i] } eq 'waiting';
		for my $j ($i + 1 .. $#$order)
		{
			my $sj = $st{ $order->[$j] };
			push @bad, "$order->[$j] ($sj) before $order->[$i] (waiting)"
			  if $sj ne 'waiting' && $sj ne 'new';
		}
	}
	return @bad;
}

# Watches the view until every session of @$runs has its result; returns
# the results (in order) and the list of order violations seen.  $more is
# called on each look (to start later arrivals).
sub watch_until_done
{
	my ($label, $runs, $order, $timeout, $more) = @_;
	my $deadline = time + $timeout;
	my (%violations, @results, %seen);
	for (;;)
	{
		my $v = queue_view();
		$violations{$_}++ for overtakers($v, $order, \%seen);
		$more->($v) if $more;
		my $pending = grep { !$_->[0]->finished($_->[1]) } @$runs;
		last if !$pending || time > $deadline;
		usleep(10_000);
	}
	push @results, $_->[0]->result($_->[1], 5) for @$runs;
	return (\@results, [ sort keys %violations ]);
}

# The attempt LOG lines after $offset, per caller pid: [ { time (epoch s),
# start (epoch s: log time - elapsed_ms), number, launched, verdict,
# queued_ms } ].  $on: the node (default: the main one).
sub attempts_by_pid
{
	my ($offset, $on) = @_;
	my %by;
	my $log = log_since($on // $node, $offset);
	while ($log =~
		m/^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+(?:\.\d+)?) \S+ \[(\d+)\] LOG:  parallel_guard: attempt=(\d+)\/\d+ worker_pid=\d+ planned=-?\d+ launched=(-?\d+) target=\d+ min=\d+ verdict=(\w+) counted=\w+ verdict_ms=[\d.]+ elapsed_ms=([\d.]+) queued_ms=([\d.]+)/mg
	  )
	{
		my $t = timegm(0, $5, $4, $3, $2 - 1, $1) + $6;
		push @{ $by{$7} },
		  {
			time => $t,
			start => $t - $11 / 1000,
			number => $8,
			launched => $9,
			verdict => $10,
			queued_ms => $12,
		  };
	}
	return \%by;
}

# The checks every run that got room must pass: one attempt, $target
# workers, a wait the NOTICE reports, and never "the queue wait ran out".
sub served_once
{
	my ($label, $name, $r, $att, $target) = @_;
	is("$r->{sqlstate}|$r->{out}", "00000|$target|1|t",
		"$label: $name got $target workers on its first attempt")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	my @a = @{ $att // [] };
	is(join(',', map { "$_->{number}:$_->{verdict}:$_->{launched}" } @a),
		"1:met:$target", "$label: $name had exactly one attempt, met (LOG), no short attempt");
	unlike($r->{err}, qr/the queue wait ran out/,
		"$label: $name launched because the pool had room, not because its queue wait ran out");
	return;
}

sub start_order_ok
{
	my ($label, $att, $names, $pids) = @_;
	my @starts = map { $att->{$_} && @{ $att->{$_} } ? $att->{$_}[0]{start} : undef } @$pids;
	if (grep { !defined } @starts)
	{
		fail("$label: attempts of every run in the server log");
		return;
	}
	# Runs admitted at the same moment start their attempts in whatever
	# order the OS wakes them, so start times alone cannot tell the order.
	# What FIFO forbids is an attempt that starts while an earlier arrival
	# still waits: compare each start with the last time an earlier run was
	# seen waiting.  Log times are truncated to the millisecond, so an
	# attempt's true start lies within 1 ms after the one computed here.
	my @bad;
	for my $i (1 .. $#starts)
	{
		for my $j (0 .. $i - 1)
		{
			my $w = $last_seen_waiting{ $pids->[$j] };
			push @bad, "$names->[$i] started while $names->[$j] was still waiting"
			  if defined $w && $starts[$i] + 0.001 < $w;
		}
	}
	is(join('; ', @bad), '', "$label: no attempt started while an earlier arrival waited (" . join(', ', @$names) . ')')
	  or diag(join(', ', map { sprintf('%s start %.3f, last seen waiting %s', $names->[$_], $starts[$_],
		defined $last_seen_waiting{ $pids->[$_] } ? sprintf('%.3f', $last_seen_waiting{ $pids->[$_] }) : '-') } 0 .. $#starts));
	return;
}

# A guarded run on an idle pool must find room at once: returns nothing,
# checks that $s's call of target $target (queue_timeout 30 s) got its
# workers on attempt 1 with queued_ms (LOG line) and the call's own time well
# under 5 s.
sub no_wait_ok
{
	my ($label, $on, $s, $table, $target) = @_;
	my $off = log_offset($on);
	my $t0 = time;
	my $r = $s->run(guarded($table, 0.3, $target, "min => 0, retries => 1"), 120);
	my $took = time - $t0;
	is("$r->{sqlstate}|$r->{out}", "00000|$target|1|t", "$label: the run of target $target got its workers")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	my $a = attempts_by_pid($off, $on)->{ $s->pid } // [];
	my $q = @$a ? $a->[0]{queued_ms} : undef;
	ok(defined $q && $q < 5000,
		"$label: it launched at once (queued_ms=" . ($q // '?') . ' in the LOG line, under 5000)')
	  or diag(join("\n", grep { /DETAIL/ } split /\n/, $r->{err}));
	unlike($r->{err} // '', qr/the queue wait ran out/, "$label: its queue wait did not run out");
	cmp_ok($took, '<', 5, "$label: the call took " . sprintf('%.1f', $took) . ' s (under 5 s)');
	return;
}

# --- stale process slots are not counted ----------------------------------------
# Regression: PostgreSQL 15 leaves pid and isBackgroundWorker set on the
# PGPROC of a process that has exited.  On this fresh node an ordinary query
# launches 8 parallel workers and ends; the 8 PGPROCs they leave behind (plus
# the logical replication launcher's) made the queue see at most 16 - 9 = 7
# free worker slots, fewer than the 7 + 1 a run of target 7 needs, so that run
# waited out its whole queue_timeout (30 s here) on an idle server.
{
	my $label = 'stale slots';
	my $s = caller_session('stale');
	$s->query("SET parallel_guard.queue_timeout = '${QUEUE_TIMEOUT_S}s'");
	my $plain = $s->query('SET max_parallel_workers_per_gather = 8; '
		  . 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) '
		  . 'SELECT count(*) FROM slow WHERE pg_sleep(0.004) IS NOT NULL');
	$s->query('RESET max_parallel_workers_per_gather');
	like($plain, qr/Workers Launched: 8\b/, "$label: an ordinary query launched 8 parallel workers")
	  or diag($plain);
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$label: ... and they have all exited");
	no_wait_ok($label, $node, $s, 'stale_7', 7);
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty afterwards");
}

# --- an idle pool has room --------------------------------------------------------
# After a run of 8 workers has ended, the pool is free again: the next runs
# must launch at once rather than wait out queue_timeout (10 s here).
{
	my $label = 'idle pool';
	my $s = caller_session('idle');
	$s->query("SET parallel_guard.queue_timeout = '10s'");
	my $off = log_offset($node);
	my $i = 0;
	for my $target (8, 8, 4)
	{
		$i++;
		my $t0 = time;
		my $r = $s->run(guarded("idle_$i", 0.3, $target), 120);
		my $took = time - $t0;
		is("$r->{sqlstate}|$r->{out}", "00000|$target|1|t",
			"$label: run $i of target $target got its workers at once")
		  or diag($r->{timeout} ? 'timeout' : $r->{err});
		unlike($r->{err} // '', qr/the queue wait ran out/,
			"$label: run $i of target $target found room on the idle pool (call took "
			  . sprintf('%.1f s', $took) . ')')
		  or diag(join("\n", grep { /DETAIL/ } split /\n/, $r->{err}));
	}
	my $att = attempts_by_pid($off)->{ $s->pid } // [];
	is(scalar(grep { $_->{queued_ms} >= 10_000 - 1 } @$att),
		0, "$label: no attempt waited out queue_timeout (queued_ms: "
		  . join(', ', map { sprintf('%.0f', $_->{queued_ms}) } @$att) . ')');
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty afterwards");
}

# --- FIFO ----------------------------------------------------------------------------
{
	my $label = 'FIFO';
	my $off = log_offset($node);
	my ($h, $hn) = start_holder($label, 'fifo_hold', 6, 8);
	my @names = qw(A B C);
	my (%s, %n);
	for my $x (@names)
	{
		($s{$x}, $n{$x}) = start_waiter($label, $x, "fifo_$x", 2.5, 4);
	}
	my @pids = map { $s{$_}->pid } @names;
	my $v = queue_view();
	is( join(',', map { $v->{$_}{position} } @pids),
		'1,2,3', "$label: the view shows A, B, C at positions 1, 2, 3")
	  or diag('view: ' . describe_view($v));
	is( join(',', map { "$v->{$_}{state}/$v->{$_}{target}/$v->{$_}{held}/$v->{$_}{attempt}" } @pids),
		'waiting/4/0/1,waiting/4/0/1,waiting/4/0/1',
		"$label: each waits for attempt 1, target 4, holding no worker");
	is( "$v->{$h->pid}{state}/$v->{$h->pid}{position}/$v->{$h->pid}{held}",
		'running/-/8', "$label: the holder runs with 8 workers and no queue position");
	is( $ctl->query(
			"SELECT string_agg(database || '/' || usename, ',' ORDER BY waiting_since) "
			  . 'FROM parallel_guard.queue WHERE pid IN (' . join(',', @pids) . ')'),
		'postgres/postgres,postgres/postgres,postgres/postgres',
		"$label: database and usename of the waiters");
	is( $ctl->query(
			'SELECT string_agg(pid::text, \',\' ORDER BY waiting_since) FROM parallel_guard.queue '
			  . 'WHERE pid IN (' . join(',', @pids) . ')'),
		join(',', @pids),
		"$label: waiting_since follows arrival order");

	my ($res, $viol) =
	  watch_until_done($label, [ [ $h, $hn ], map { [ $s{$_}, $n{$_} ] } @names ],
		[ $h->pid, @pids ], 120);
	is("$res->[0]{sqlstate}|$res->[0]{out}", '00000|8|1|t', "$label: the holder got its 8 workers");
	is(join('; ', @$viol), '', "$label: no run left 'waiting' before an earlier one (every look at the view)");
	my $att = attempts_by_pid($off);
	served_once($label, $names[$_], $res->[ $_ + 1 ], $att->{ $pids[$_] }, 4) for 0 .. 2;
	start_order_ok($label, $att, \@names, \@pids);
	for my $i (0 .. 2)
	{
		my $a = $att->{ $pids[$i] } // [];
		ok(@$a && $a->[0]{queued_ms} > 0,
			"$label: $names[$i]'s LOG line reports its wait (queued_ms="
			  . (@$a ? $a->[0]{queued_ms} : '?') . ')');
		like($res->[ $i + 1 ]{err}, qr/^DETAIL:  .*Waited [\d.]+ ms in the queue before launching/m,
			"$label: $names[$i]'s NOTICE DETAIL reports the wait");
	}
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty afterwards");
	$_->quit for $h, values %s;
}

# --- no starvation -------------------------------------------------------------
{
	my $label = 'no starvation';
	my $off = log_offset($node);
	my ($h1, $h1n) = start_holder($label, 'st_h1', 3, 4);
	my ($h2, $h2n) = start_holder($label, 'st_h2', 9, 4);
	my ($w, $wn) = start_waiter($label, 'W (target 8)', 'st_w', 2, 8);
	my @stream;    # [session, n, name]
	my $h1_gone_at;
	my $last_start = 0;
	my $more = sub {
		my ($v) = @_;
		$h1_gone_at //= time if !$v->{ $h1->pid };
		# a new target-2 run every ~0.7 s while W waits: at least 3 before
		# and 3 after half the pool (H1's 4 workers) is free again
		my $after = grep { $_->[3] } @stream;
		return if @stream >= 10 || ($after >= 3 && @stream >= 6);
		return unless ($v->{ $w->pid }{state} // '') eq 'waiting';
		return if time - $last_start < 0.7;
		my $i = @stream + 1;
		my $s = caller_session("S$i");
		push @stream, [ $s, $s->start(guarded("st_s$i", 1, 2)), "S$i", defined $h1_gone_at ];
		$last_start = time;
	};
	my @runs = ([ $h1, $h1n ], [ $h2, $h2n ], [ $w, $wn ]);
	# the stream joins the watched runs as it arrives
	my ($res, $viol);
	{
		my $deadline = time + 120;
		my (%violations, %seen);
		for (;;)
		{
			my $v = queue_view();
			$more->($v);
			$violations{$_}++
			  for overtakers($v, [ $w->pid, map { $_->[0]->pid } @stream ], \%seen);
			my $pending = grep { !$_->[0]->finished($_->[1]) } @runs, @stream;
			last if !$pending || time > $deadline;
			usleep(10_000);
		}
		$res = [ map { $_->[0]->result($_->[1], 5) } @runs, @stream ];
		$viol = [ sort keys %violations ];
	}
	my $after = grep { $_->[3] } @stream;
	cmp_ok(scalar(@stream), '>=', 6, "$label: $after of " . scalar(@stream)
		  . ' later runs of target 2 arrived after half the pool was free');
	cmp_ok($after, '>=', 1, "$label: some arrived while 4 workers were free");
	is("$res->[0]{sqlstate}|$res->[0]{out}|$res->[1]{sqlstate}|$res->[1]{out}",
		'00000|4|1|t|00000|4|1|t', "$label: both holders got their workers");
	is(join('; ', @$viol), '', "$label: no later run left 'waiting' while W waited (every look at the view)");
	my $att = attempts_by_pid($off);
	served_once($label, 'W', $res->[2], $att->{ $w->pid }, 8);
	my $wstart = $att->{ $w->pid } && $att->{ $w->pid }[0] ? $att->{ $w->pid }[0]{start} : undef;
	my @early = grep {
		my $a = $att->{ $_->[0]->pid };
		!defined $wstart || !$a || !@$a || $a->[0]{start} < $wstart - 0.002
	} @stream;
	is(join(',', map { $_->[2] } @early), '', "$label: no later run launched before W (server log)");
	my $i = 3;
	for my $x (@stream)
	{
		is("$res->[$i]{sqlstate}|$res->[$i]{out}", '00000|2|1|t', "$label: $x->[2] got its 2 workers at its first attempt")
		  or diag($res->[$i]{timeout} ? 'timeout' : $res->[$i]{err});
		$i++;
	}
	start_order_ok($label, $att, [ map { $_->[2] } @stream ], [ map { $_->[0]->pid } @stream ]);
	$_->[0]->quit for @runs, @stream;
}

# --- cancelled and terminated waiters ---------------------------------------------
{
	my $label = 'cancel/terminate';
	my $off = log_offset($node);
	my ($h, $hn) = start_holder($label, 'ct_hold', 12, 8);
	my (%s, %n);
	for my $x (qw(W1 W2 W3 W4 W5))
	{
		if ($x eq 'W5')
		{
			# W5 runs into its statement_timeout while it waits
			$s{$x} = caller_session($x);
			$s{$x}->query("SET statement_timeout = '1500ms'");
			$n{$x} = $s{$x}->start(guarded('ct_w5', 1, 4));
			next;
		}
		($s{$x}, $n{$x}) = start_waiter($label, $x, 'ct_' . lc($x), 1, 4);
	}
	my %pid = map { $_ => $s{$_}->pid } keys %s;
	my $pos = sub {
		my ($v, @names) = @_;
		return join(',', map { $v->{ $pid{$_} } ? $v->{ $pid{$_} }{position} : 'gone' } @names);
	};
	is($pos->(queue_view(), qw(W1 W2 W3 W4)), '1,2,3,4', "$label: W1..W4 wait at positions 1..4");

	# statement_timeout covers the wait in the queue
	my $r = $s{W5}->result($n{W5}, 30);
	is($r->{sqlstate}, '57014', "$label: W5 hits its statement_timeout (1.5 s) while waiting")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	like($r->{err}, qr/statement timeout/, "$label: ... the error names the statement timeout");
	ok(!$h->finished($hn), "$label: ... while the holder still runs");
	is($pos->(queue_view(), qw(W1 W2 W3 W4 W5)), '1,2,3,4,gone',
		"$label: when W5's error has arrived, W5 has left the view");

	# cancel W2 (in the middle)
	$ctl->query("SELECT pg_cancel_backend($pid{W2})");
	$r = $s{W2}->result($n{W2}, 30);
	is($r->{sqlstate}, '57014', "$label: the cancelled waiter W2 gets 57014") or diag($r->{err});
	my $v = queue_view();
	is($pos->($v, qw(W1 W2 W3 W4)), '1,gone,2,3',
		"$label: when W2's error has arrived, W2 has left the view and W3, W4 moved up");
	is($ctl->query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard'"),
		'1', "$label: W2 never started a worker (only the holder's parallel_guard backend runs)");
	my $one = $s{W2}->run('SELECT 1');
	is("$one->{sqlstate}|$one->{out}", '00000|1', "$label: W2's session still works");

	# terminate W1 (the head)
	$ctl->query("SELECT pg_terminate_backend($pid{W1})");
	ok(defined $s{W1}->wait_exit(30), "$label: the terminated waiter W1's connection ends");
	$v = queue_view();
	is($pos->($v, qw(W1 W3 W4)), 'gone,1,2',
		"$label: when W1's connection has ended, W1 has left the view and W3, W4 moved up");
	ok(poll_until($node, "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid{W1}", '0', 10),
		"$label: W1's backend has exited");

	# cancel W4 too, terminate nothing else: W3 launches when the holder ends
	$ctl->query("SELECT pg_cancel_backend($pid{W4})");
	$r = $s{W4}->result($n{W4}, 30);
	is($r->{sqlstate}, '57014', "$label: the cancelled waiter W4 gets 57014") or diag($r->{err});
	is($pos->(queue_view(), qw(W3 W4)), '1,gone', "$label: W4 has left the view, W3 is first");

	my ($res, $viol) = watch_until_done($label, [ [ $h, $hn ], [ $s{W3}, $n{W3} ] ], [ $h->pid, $pid{W3} ], 120);
	is("$res->[0]{sqlstate}|$res->[0]{out}", '00000|8|1|t', "$label: the holder got its 8 workers");
	my $att = attempts_by_pid($off);
	served_once($label, 'W3', $res->[1], $att->{ $pid{W3} }, 4);
	is(join(',', map { $att->{ $pid{$_} } ? $_ : () } qw(W1 W2 W4 W5)), '',
		"$label: the cancelled, timed-out and terminated waiters made no attempt");
	is($ctl->query("SELECT count(*) FROM pg_class WHERE relname IN ('ct_w1', 'ct_w2', 'ct_w4', 'ct_w5')"),
		'0', "$label: their tables do not exist");
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue is empty afterwards");
	$_->quit for $h, values %s;
}

# --- a short attempt waits out its delay out of line -----------------------------
# R caps its session at 2 parallel workers: it waits for 2 free workers (not
# its target 4), launches, is short and waits out its delay out of line
# ('delaying', no position): Q, arriving during R's delay, is not held up
# behind it and launches during the delay.  (That R keeps its place when
# it comes back: 100_reservations.pl, 'place kept'.)
{
	my $label = 'short attempt';
	my $off = log_offset($node);
	my $rs = caller_session('R');
	$rs->query('SET max_parallel_workers = 2');
	my $rn = $rs->start(guarded('sa_r', 1, 4, "min => 2, retries => 3, delay => '3s'"));
	my $rpid = $rs->pid;
	my ($v1) = wait_log($node, $off,
		qr/\[$rpid\] LOG:  parallel_guard: attempt=1\/3 .*?verdict=(\w+)/, 60);
	is($v1, 'short', "$label: R's attempt 1 is short (2 of 4 workers)");
	my $v = queue_view();
	is( $v->{$rpid} ? "$v->{$rpid}{state}:$v->{$rpid}{position}" : 'gone',
		'delaying:-', "$label: R waits out its delay out of line, with no position")
	  or diag('view: ' . describe_view($v));
	my $q = caller_session('Q');
	my $qr = $q->run(guarded('sa_q', 1, 4), 60);
	ok(!$rs->finished($rn), "$label: Q, arriving during R's delay, is served before R is done");
	my $ra = $rs->result($rn, 60);
	is("$ra->{sqlstate}|$ra->{out}", '00000|2|3|f', "$label: R accepts 2 workers on its last attempt")
	  or diag($ra->{err});
	my $att = attempts_by_pid($off);
	is(join(',', map { "$_->{number}:$_->{verdict}" } @{ $att->{$rpid} // [] }),
		'1:short,2:short,3:accepted_short', "$label: R's attempts (LOG)");
	served_once($label, 'Q', $qr, $att->{ $q->pid }, 4);
	$_->quit for $rs, $q;
}

# --- several databases, one queue ---------------------------------------------------
{
	my $label = 'two databases';
	$node->safe_psql('postgres', 'CREATE DATABASE db2');
	$node->safe_psql('db2', 'CREATE EXTENSION parallel_guard');
	make_slow($node, 'db2');
	$node->safe_psql('db2',
		'CREATE ROLE batch; GRANT CREATE ON SCHEMA public TO batch; GRANT SELECT ON slow TO batch; '
		  . 'GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO batch');
	my $ctl2 = caller_session('control db2', 'db2');
	my $off = log_offset($node);
	my ($h, $hn) = start_holder($label, 'db_hold', 6, 8);
	my @spec = ([ X1 => 'postgres' ], [ Y1 => 'db2' ], [ X2 => 'postgres' ], [ Y2 => 'db2' ]);
	my (%s, %n);
	for my $sp (@spec)
	{
		my ($x, $db) = @$sp;
		$s{$x} = caller_session($x, $db);
		$s{$x}->query('SET ROLE batch') if $x eq 'Y2';
		$n{$x} = $s{$x}->start(guarded('db_' . lc($x), 1.5, 4));
		ok(poll_state($s{$x}->pid, 'waiting', 30), "$label: $x ($db) is waiting");
	}
	my @names = map { $_->[0] } @spec;
	my @pids = map { $s{$_}->pid } @names;
	for my $seen ([ 'postgres', $ctl ], [ 'db2', $ctl2 ])
	{
		my $v = queue_view($seen->[1]);
		is( join(',', map { "$v->{$_}{database}/$v->{$_}{usename}/$v->{$_}{position}" } @pids),
			'postgres/postgres/1,db2/postgres/2,postgres/postgres/3,db2/batch/4',
			"$label: seen from $seen->[0], positions interleave across databases in arrival order")
		  or diag('view: ' . describe_view($v));
	}
	my ($res, $viol) =
	  watch_until_done($label, [ [ $h, $hn ], map { [ $s{$_}, $n{$_} ] } @names ], [ $h->pid, @pids ], 120);
	is("$res->[0]{sqlstate}|$res->[0]{out}", '00000|8|1|t', "$label: the holder got its 8 workers");
	is(join('; ', @$viol), '', "$label: no run left 'waiting' before an earlier one, across databases");
	my $att = attempts_by_pid($off);
	served_once($label, $names[$_], $res->[ $_ + 1 ], $att->{ $pids[$_] }, 4) for 0 .. 3;
	start_order_ok($label, $att, \@names, \@pids);
	if ($res->[4]{sqlstate} eq '00000')
	{
		is($ctl2->query("SELECT tableowner FROM pg_tables WHERE tablename = 'db_y2'"),
			'batch', "$label: Y2's table belongs to batch (SET ROLE batch)");
	}
	$_->quit for $h, values %s;
}

# --- queue_timeout ---------------------------------------------------------------
{
	my $label = 'queue_timeout';
	my $off = log_offset($node);
	my ($h, $hn) = start_holder($label, 'qt_hold', 12, 8);
	my $t = caller_session('short wait');
	$t->query("SET parallel_guard.queue_timeout = '200ms'");
	my $r = $t->run(guarded('qt_t', 0, 4, "min => 0, retries => 3, delay => '100ms'"), 60);
	is("$r->{sqlstate}|$r->{out}", '00000|0|3|f',
		"$label 200ms: the call ends; 3 attempts launched anyway, the last accepted with 0 workers")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	ok(!$h->finished($hn), "$label 200ms: ... while the holder still runs (it did not wait for room)");
	like($r->{err}, qr/^DETAIL:  .*Waited [\d.]+ ms in the queue before launching \(the queue wait ran out\)\./m,
		"$label 200ms: the NOTICE DETAIL says the queue wait ran out");
	my $a = attempts_by_pid($off)->{ $t->pid } // [];
	is(join(',', map { "$_->{number}:$_->{verdict}" } @$a), '1:short,2:short,3:accepted_short',
		"$label 200ms: short attempts were retried (LOG)");
	ok(@$a && $a->[0]{queued_ms} >= 199,
		"$label 200ms: attempt 1 waited its 200 ms first (queued_ms=" . (@$a ? $a->[0]{queued_ms} : '?') . ')');

	my $z = caller_session('no wait');
	$z->query('SET parallel_guard.queue_timeout = 0');
	$r = $z->run(guarded('qt_z', 0, 4, 'min => 0, retries => 1'), 60);
	is("$r->{sqlstate}|$r->{out}", '00000|0|1|f', "$label 0: the call launches without waiting and gets 0 workers")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	ok(!$h->finished($hn), "$label 0: ... while the holder still runs");
	my $hr = $h->result($hn, 60);
	is("$hr->{sqlstate}|$hr->{out}", '00000|8|1|t', "$label: the holder got its 8 workers");
	$_->quit for $h, $t, $z;
}

# --- SIGKILL of a waiter: crash restart ----------------------------------------------
{
	my $label = 'SIGKILL';
	my ($h, $hn) = start_holder($label, 'kill_hold', 10, 8);
	my ($w, $wn) = start_waiter($label, 'victim', 'kill_w', 1, 4);
	my $off = log_offset($node);
	ok(kill('KILL', $w->pid), "$label: the waiter's backend is killed");
	ok(wait_log($node, $off, qr/all server processes terminated; reinitializing/, 60),
		"$label: the postmaster restarts every backend");
	$w->wait_exit(30);
	$h->wait_exit(30);
	$_->quit for $ctl, @sessions;
	@sessions = ();
	ok(poll_until($node, 'SELECT 1', '1', 60), "$label: the server accepts connections again");
	$ctl = GuardTap::Session->new($node, 'control after restart');
	is($ctl->query('SELECT count(*) FROM parallel_guard.queue'), '0', "$label: the queue view is empty after the restart");
	my $s = caller_session('after restart');
	my $r = $s->run(guarded('kill_after', 0.5, 4), 60);
	is("$r->{sqlstate}|$r->{out}", '00000|4|1|t', "$label: a new run gets its 4 workers at once")
	  or diag($r->{timeout} ? 'timeout' : $r->{err});
	unlike($r->{err}, qr/Waited|ran out/, "$label: ... without waiting in the queue");
	is($ctl->query("SELECT count(*) FROM pg_class WHERE relname IN ('kill_hold', 'kill_w')"),
		'0', "$label: neither the holder's nor the victim's table exists");
	$_->quit for $ctl, @sessions;
}
$node->stop;

# --- auxiliary processes are not worker slots ------------------------------------
# Regression: PostgreSQL 15 sets isBackgroundWorker on auxiliary processes
# (checkpointer, background writer, walwriter, ...) too.  Counted as worker
# slots, they made an idle server with max_worker_processes = 4 (the logical
# replication launcher takes 1: 3 free, exactly what a run of target 2 needs)
# look full, and the run waited out its whole queue_timeout.
{
	my $label = 'max_worker_processes = 4';
	my $small = guard_node(
		'small',
		conf => [
			"shared_preload_libraries = 'parallel_guard'",
			'max_worker_processes = 4',
			"parallel_guard.queue_timeout = '${QUEUE_TIMEOUT_S}s'",
		]);
	make_slow($small, 'postgres');
	my $s = GuardTap::Session->new($small, 'small');
	$s->query($GUARD_SETTINGS);
	is($s->query('SHOW max_worker_processes'), '4', "$label: the node has 4 worker slots");
	no_wait_ok("$label, idle server", $small, $s, 'small_2', 2);
	# and again, now that a guard worker and 2 parallel workers have exited
	ok(poll_until($small, $LEFTOVER_SQL, '0'), "$label: the first run's workers have exited");
	no_wait_ok("$label, second run", $small, $s, 'small_2b', 2);
	$s->quit;
	$small->stop;
}

# --- without shared_preload_libraries ---------------------------------------------
{
	my $label = 'no preload';
	my $plain = guard_node('noqueue', conf => ['max_connections = 20']);
	make_slow($plain, 'postgres');
	my $pctl = GuardTap::Session->new($plain, 'control');
	is($pctl->query('SHOW shared_preload_libraries'), '', "$label: the library is not preloaded");
	my $off = log_offset($plain);
	my $h = GuardTap::Session->new($plain, 'holder');
	$h->query($GUARD_SETTINGS);
	my $hn = $h->start(guarded('np_hold', 6, 8));
	ok( $pctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'", '8', 60),
		"$label: a guarded run holds the 8 parallel workers");
	my $qv = $pctl->run('SELECT count(*) FROM parallel_guard.queue');
	is($qv->{sqlstate}, '55000', "$label: the queue view says the library must be preloaded (55000)")
	  or diag($qv->{err});
	my $s = GuardTap::Session->new($plain, 'second');
	$s->query($GUARD_SETTINGS);
	my $r = $s->run(guarded('np_second', 0, 8, 'min => 0, retries => 1'), 60);
	is($r->{sqlstate}, '00000', "$label: a second run works") or diag($r->{err});
	ok(!$h->finished($hn), "$label: ... and ends while the first still holds the pool (it did not queue)");
	like($r->{out}, qr/^[0-7]\|1\|f$/, "$label: ... with fewer than 8 workers ($r->{out}): the runs collided");
	unlike($r->{err}, qr/Waited/, "$label: its NOTICE reports no wait in the queue");
	my $hr = $h->result($hn, 60);
	is("$hr->{sqlstate}|$hr->{out}", '00000|8|1|t', "$label: the first run got its 8 workers");
	is($pctl->run('SELECT count(*) FROM parallel_guard.queue')->{sqlstate},
		'55000', "$label: the queue view still says so");
	my $log = log_since($plain, $off);
	my $said = () = $log =~ /parallel_guard: guarded runs do not queue for parallel workers/g;
	cmp_ok($said, '>=', 1, "$label: the server log says that guarded runs do not queue");
	$_->quit for $pctl, $h, $s;
	$plain->stop;
}

done_testing();
