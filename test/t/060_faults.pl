
# 060_faults.pl: faults injected at random moments of a guarded call never
# leave anything behind.
#
# One guarded CTAS of about 1-2 s with 4 parallel workers (a filtered scan of
# a 2-million-row table that computes md5() of every row and keeps 1000 of
# them).  Half of the calls run with the whole pool (attempt 1 meets target
# 4); the other half are capped with SET max_parallel_workers = 2 (two short
# attempts 300 ms apart, then the third accepted with 2 workers), so that the
# faults also fall before a launch and in the delay between attempts.  Each
# fault comes at a random moment 0-1.5 s after the call was sent (one in
# seven in its first 20 ms, when the worker starts and plans):
#   (a) pg_cancel_backend(caller)
#   (b) pg_terminate_backend(caller)
#   (c) pg_terminate_backend of the guard's worker (backend_type 'parallel_guard')
#   (d) pg_terminate_backend of one parallel worker (backend_type 'parallel worker')
#   (e) a fast restart of the server ($node->restart, pg_ctl restart -m fast)
#   (f) an immediate stop and a start with crash recovery
# For (c) and (d), when no such backend exists at the chosen moment (between
# attempts), the first one that appears is terminated; a call that returned
# before any appeared is a miss and is not counted as a fault.
#
# After each fault:
#  - no 'parallel_guard' or 'parallel worker' backend remains (polled, 20 s),
#    parallel_guard.queue is empty (polled, 10 s; the library is preloaded),
#    and no backend but the checking one holds a lock (polled, 10 s);
#  - the target table is absent or complete (all 1000 rows with their sum),
#    never partly built; a call that returned its row left its complete
#    table (also across a restart or crash); a call that failed with an ERROR
#    committed nothing (README: "If run() fails (shortfall, cancel, the
#    statement's error), nothing was committed");
#  - the pre-existing tables big and keep are unchanged (row counts and
#    checksums);
#  - the outcome fits the fault: (a) 57014 or a row; (b), (e), (f) the
#    caller's connection is gone; (c) 57014 (README: not 57P01), (d) an
#    ERROR (not FATAL, no hang), or, when the fault came after the commit,
#    a row; the caller's session still
#    answers SELECT 1 after (a), (c) and (d);
#  - the server log of (a)-(e) shows no crashed process;
#  - (f) went through crash recovery.
# Then two faults aimed at a precise moment: a cancel, and a terminate, of
# the caller while its worker commits (held in its commit by synchronous
# replication to a standby that never comes): the call must end (its row or
# 57014 with nothing committed; a terminated caller's connection ends) and
# not wait for the standby.
#
# The summary line "faults injected: N, leftovers: M" (M counts leftover
# backends, runs left in parallel_guard.queue, locks, partly built tables
# and changed pre-existing tables) is printed with diag().  Set PG_GUARD_SEED
# (or FAULTS_SEED) to replay a sequence of moments, FAULTS_N for the number
# of faults (default 84).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $ROWS = 2_000_000;
my $EVERY = 2000;
my $EXPECT_ROWS = $ROWS / $EVERY;
my $EXPECT_SUM = $EVERY * $EXPECT_ROWS * ($EXPECT_ROWS + 1) / 2;
my $COMPLETE = "$EXPECT_ROWS:$EXPECT_SUM";
# md5() of every row (so that the scan costs time), 1000 rows kept.
my $SELECT = "SELECT k, md5(k::text) AS h FROM big "
  . "WHERE (k % $EVERY = 0) = (length(md5(k::text)) = 32)";
my $ARGS = "4, 2, 3, '300 ms'";
my $CRASH_RE = qr/was terminated by (?:signal|exception)|\bPANIC:|TRAP:|terminating any other active server processes|server process .* was terminated/;

my %KIND_LABEL = (
	cancel_caller => '(a) pg_cancel_backend(caller)',
	terminate_caller => '(b) pg_terminate_backend(caller)',
	terminate_guard_worker => "(c) pg_terminate_backend(guard's worker)",
	terminate_parallel_worker => '(d) pg_terminate_backend(one parallel worker)',
	restart_fast => '(e) fast restart',
	crash_immediate => '(f) immediate stop + crash recovery',
);
my @KIND_ORDER = qw(cancel_caller terminate_caller terminate_guard_worker
  terminate_parallel_worker restart_fast crash_immediate);
# FAULTS_N faults in all (default 48, about 70 s; CI runs every version and
# must stay under an hour): one in twelve a
# fast restart, one in twelve an immediate stop, the rest split evenly among
# (a)-(d).
my $FAULTS_N = $ENV{FAULTS_N} // 48;
my $N_RESTART = int($FAULTS_N / 12) || 1;
my $N_SIGNAL = int(($FAULTS_N - 2 * $N_RESTART) / 4) || 1;
my %COUNT = (
	cancel_caller => $N_SIGNAL,
	terminate_caller => $N_SIGNAL,
	terminate_guard_worker => $N_SIGNAL,
	terminate_parallel_worker => $N_SIGNAL,
	restart_fast => $N_RESTART,
	crash_immediate => $N_RESTART,
);
my $PLANNED = 0;
$PLANNED += $_ for values %COUNT;
# The floor of faults injected: 40, or all of them when fewer are asked for.
my $FLOOR = $PLANNED < 40 ? $PLANNED : 40;

my $seed = $ENV{PG_GUARD_SEED} // $ENV{FAULTS_SEED} // int(time * 1000) % 1_000_000;
srand($seed);
diag("fault moments seeded with PG_GUARD_SEED=$seed; $PLANNED faults planned (FAULTS_N)");

my $t_start = time;
# The library is preloaded, so that the queue (its tickets in shared memory)
# goes through every fault too; a short queue_timeout keeps a ticket left
# behind from stalling the next calls for long (the check below finds it).
my $node = guard_node(
	'faults',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		"parallel_guard.queue_timeout = '2s'",
	],
	tables => [ [ big => $ROWS ] ]);
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'parallel_guard', 'the library is preloaded');
$node->safe_psql('postgres',
	"CREATE TABLE keep AS SELECT g AS k, md5(g::text) AS v FROM generate_series(1, 1000) g");

# inject_fault(kind, caller pid, table, wait): sleeps wait seconds, then
# cancels or terminates its target: the caller, or the first guard's worker
# or parallel worker that exists (a miss when the call has returned before
# any appeared; 'observe' kills nothing).  Returns
# "hit|miss <ms since the call> <guard workers> <parallel workers>
#  <the call: not yet|running|done> <the moment, as the log writes it>".
$node->safe_psql('postgres', <<'EOSQL');
CREATE FUNCTION inject_fault(kind text, caller int, tbl text, wait float8) RETURNS text
LANGUAGE plpgsql AS $f$
DECLARE
  g bigint; p bigint; target int; cstate text; hit boolean; t0 timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_sleep(wait);
  LOOP
    PERFORM pg_stat_clear_snapshot();
    SELECT count(*) FILTER (WHERE backend_type = 'parallel_guard'),
           count(*) FILTER (WHERE backend_type = 'parallel worker')
      INTO g, p FROM pg_stat_activity;
    SELECT CASE WHEN a.query NOT LIKE '%CREATE TABLE ' || tbl || ' AS%' THEN 'not yet'
                WHEN a.state = 'active' THEN 'running' ELSE 'done' END
      INTO cstate FROM pg_stat_activity a WHERE a.pid = caller;
    target := NULL;
    IF kind IN ('cancel_caller', 'terminate_caller', 'observe') THEN
      target := caller;
    ELSE
      SELECT pid INTO target FROM pg_stat_activity
       WHERE backend_type = CASE kind WHEN 'terminate_guard_worker' THEN 'parallel_guard'
                                      ELSE 'parallel worker' END
       ORDER BY random() LIMIT 1;
    END IF;
    hit := CASE WHEN target IS NULL THEN false
                WHEN kind = 'observe' THEN true
                WHEN kind = 'cancel_caller' THEN pg_cancel_backend(target)
                ELSE pg_terminate_backend(target) END;
    IF hit THEN
      RETURN format('hit %s %s %s %s %s',
        round(extract(epoch FROM clock_timestamp() - t0) * 1000), g, p,
        replace(cstate, ' ', '_'),
        to_char(clock_timestamp() AT TIME ZONE current_setting('log_timezone'),
                'YYYY-MM-DD HH24:MI:SS.MS'));
    END IF;
    IF cstate = 'done' OR clock_timestamp() - t0 > interval '20 s' THEN
      RETURN format('miss %s', round(extract(epoch FROM clock_timestamp() - t0) * 1000));
    END IF;
    PERFORM pg_sleep(0.002);
  END LOOP;
END
$f$;
EOSQL

my $SIGNATURE_SQL =
    "SELECT (SELECT count(*) || ':' || sum(k) FROM big) || '/' || "
  . "(SELECT count(*) || ':' || md5(string_agg(k || '=' || v, ',' ORDER BY k)) FROM keep)";
my $LOCKS_SQL = 'SELECT count(*) FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()';
my $LEFTOVER_LIST_SQL =
    "SELECT coalesce(string_agg(pid || ' ' || backend_type || ' ' || state || ' ' "
  . "|| coalesce(wait_event, '-'), ', '), '') FROM pg_stat_activity "
  . "WHERE backend_type IN ('parallel_guard', 'parallel worker')";

my $ctl = GuardTap::Session->new($node, 'control');
my $signature = $ctl->query($SIGNATURE_SQL);
my $big_sum = $ROWS * ($ROWS + 1) / 2;
like($signature, qr/^$ROWS:$big_sum\/1000:[0-9a-f]{32}$/, 'pre-existing tables big and keep');

sub new_caller
{
	my ($name, $capped) = @_;
	my $caller = GuardTap::Session->new($node, $name);
	$caller->query($GUARD_SETTINGS);
	$caller->query('SET max_parallel_workers = 2') if $capped;
	return $caller;
}

sub call_sql
{
	my ($table) = @_;
	return "SELECT * FROM parallel_guard.run('CREATE TABLE $table AS $SELECT', $ARGS)";
}

# 'absent', or "rows:sum" of the table.
sub table_state
{
	my ($table) = @_;
	return 'absent' if $ctl->query("SELECT to_regclass('$table') IS NULL") eq 't';
	return $ctl->query("SELECT count(*) || ':' || coalesce(sum(k), 0) FROM $table");
}

# --- the statement really runs with parallel workers --------------------------
{
	my $caller = new_caller('baseline', 0);
	my $t0 = time;
	my $r = $caller->run(call_sql('ft_base_free'), 120);
	my $took = time - $t0;
	like("$r->{sqlstate}|$r->{out}", qr/^00000\|4\|1\|t\|4\|$EXPECT_ROWS\|met\|\d+$/,
		'baseline, whole pool: 4 of 4 workers at attempt 1, 1000 rows')
	  or diag($r->{err});
	is(table_state('ft_base_free'), $COMPLETE, 'baseline, whole pool: the table is complete');
	$caller->quit;

	$caller = new_caller('baseline', 1);
	$t0 = time;
	$r = $caller->run(call_sql('ft_base_capped'), 120);
	my $took_capped = time - $t0;
	like("$r->{sqlstate}|$r->{out}", qr/^00000\|2\|3\|f\|4\|$EXPECT_ROWS\|accepted_short\|\d+$/,
		'baseline, capped at 2: two short attempts, the third accepted with 2 workers')
	  or diag($r->{err});
	is(table_state('ft_base_capped'), $COMPLETE, 'baseline, capped: the table is complete');
	$caller->quit;
	$ctl->query('DROP TABLE ft_base_free, ft_base_capped');
	diag(sprintf('one guarded call takes %.2f s with the whole pool, %.2f s capped at 2 workers',
			$took, $took_capped));
}

# --- the random faults -------------------------------------------------------
my @plan = map { ($_) x $COUNT{$_} } @KIND_ORDER;
for (my $i = $#plan; $i > 0; $i--)
{
	my $j = int(rand($i + 1));
	@plan[ $i, $j ] = @plan[ $j, $i ];
}

my %st;
for my $k (@KIND_ORDER)
{
	$st{$k} = {
		injected => 0,           # faults that reached a process
		missed => 0,             # (c)/(d): the call returned before any target appeared
		interrupted => 0,        # the call ended with an ERROR or lost its connection
		completed => 0,          # the call returned its row anyway
		unexpected => 0,         # an outcome that does not fit the fault
		backends => 0,           # parallel_guard / parallel worker backends left
		queue => 0,              # runs left in parallel_guard.queue
		locks => 0,              # locks of other backends left
		partial => 0,            # a table with some but not all rows
		changed => 0,            # big or keep changed
		failed_committed => 0,   # an ERROR, yet the table was committed
		ok_missing => 0,         # a returned row, yet no complete table
		unusable => 0,           # the caller's session did not behave as expected after
		crash_signs => 0,        # a crashed process in the server log
		no_recovery => 0,        # (f) without crash recovery in the log
		phases => {},
	};
}

# Where the call was when the fault hit: from what the fault's own query saw
# (backends, the caller's state) and the attempts logged before that moment.
sub phase_of
{
	my ($seen, $off) = @_;
	my ($g, $p, $call, $ts) = @$seen{qw(guards pws call ts)};
	return 'after return' if $call eq 'done';
	return 'before the call reached the server' if $call eq 'not_yet';
	my @att = grep { $_->{time} le $ts } parse_attempts(log_since($node, $off));
	if (!@att)
	{
		return 'at the launch, before the verdict' if $p > 0;
		return $g > 0 ? "worker starting or planning" : 'before the worker started';
	}
	return 'statement running after the verdict' if $att[-1]{verdict} ne 'short';
	return 'between attempts (delay)' if $g == 0;
	return 'short attempt rolling back / next attempt starting';
}

# What inject_fault() reported: (delivered, phase, ms after the call was
# sent); for (e) and (f) the node is restarted or crashed here, right after.
sub injected
{
	my ($kind, $res, $off) = @_;
	die "inject_fault failed: $res->{sqlstate} $res->{err}" if $res->{sqlstate} ne '00000';
	my ($hit, $ms, $g, $p, $call, $ts) = split / /, $res->{out}, 6;
	return (0, 'missed', $ms) if $hit eq 'miss';
	my $phase = phase_of({ guards => $g, pws => $p, call => $call, ts => $ts }, $off);
	return (1, $phase, $ms) if $kind !~ /^(?:restart_fast|crash_immediate)$/;
	$ctl->quit;
	if ($kind eq 'restart_fast')
	{
		$node->restart;    # pg_ctl restart, whose default mode is fast
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	$ctl = GuardTap::Session->new($node, 'control');
	return (1, $phase, $ms);
}

my $iteration = 0;
my $slot = 0;
while ($slot < @plan)
{
	my $kind = $plan[$slot];
	my $s = $st{$kind};
	$iteration++;
	my $table = "ft_$iteration";
	my $capped = rand() < 0.5 ? 1 : 0;
	# A restart or an immediate stop lands within the first 0.9 s, while a
	# free call (about 1.1 s) still runs: with only FAULTS_N / 12 of each,
	# a moment drawn up to 1.5 s found every call returned (seen on 17 with
	# 4 of 4 after the return).
	my $wait =
	    rand() < 1 / 7 ? rand(0.02)
	  : $kind =~ /^(?:restart_fast|crash_immediate)$/ ? rand(0.9)
	  : rand(1.5);
	my $caller = new_caller("caller$iteration", $capped);

	my $off = log_offset($node);
	my $t0 = time;
	# The fault's query first: it sleeps $wait s in the server while the
	# call is sent.
	my $fault_kind = $kind =~ /^(?:restart_fast|crash_immediate)$/ ? 'observe' : $kind;
	my $fq = $ctl->start(sprintf("SELECT inject_fault('%s', %d, '%s', %.3f)",
			$fault_kind, $caller->pid, $table, $wait));
	my $call = $caller->start(call_sql($table));
	my ($delivered, $phase, $at) = injected($kind, $ctl->result($fq, 60), $off);

	my $r = $caller->result($call, 90);
	my $took = time - $t0;
	my $outcome =
	    $r->{timeout} ? 'hang'
	  : $r->{lost} ? 'lost'
	  : $r->{sqlstate} eq '00000' ? 'ok'
	  : 'error';

	if (!$delivered)
	{
		# (c)/(d) found nothing to kill before the call returned: no fault.
		$s->{missed}++;
		note(sprintf('iteration %d: %s missed (call returned %s after %.0f ms)',
				$iteration, $KIND_LABEL{$kind}, $outcome, $took * 1000));
		$caller->quit;
		$ctl->query("DROP TABLE IF EXISTS $table");
		if ($s->{missed} > 3 * $COUNT{$kind})
		{
			fail("$KIND_LABEL{$kind}: too many misses");
			$slot++;
		}
		next;
	}
	$slot++;
	$s->{injected}++;
	$s->{phases}{$phase}++;

	my @problems;
	# The outcome must fit the fault.
	my $fits;
	if ($kind eq 'cancel_caller')
	{
		$fits = $outcome eq 'ok' || ($outcome eq 'error' && $r->{sqlstate} eq '57014');
	}
	elsif ($kind eq 'terminate_guard_worker')
	{
		# README: a terminated guard worker is reported as 57014 (not 57P01).
		$fits = $outcome eq 'ok'
		  || ($outcome eq 'error'
			&& $r->{sqlstate} eq '57014'
			&& $r->{err} =~ /^(?:psql:\S+ )?ERROR:/m
			&& $r->{err} !~ /^(?:psql:\S+ )?FATAL:/m);
	}
	elsif ($kind eq 'terminate_parallel_worker')
	{
		$fits = $outcome eq 'ok'
		  || ($outcome eq 'error'
			&& $r->{sqlstate} =~ /^[0-9A-Z]{5}$/
			&& $r->{err} =~ /^(?:psql:\S+ )?ERROR:/m
			&& $r->{err} !~ /^(?:psql:\S+ )?FATAL:/m);
	}
	else
	{
		$fits = $outcome eq 'ok' || $outcome eq 'lost';
	}
	if (!$fits)
	{
		$s->{unexpected}++;
		push @problems, "unexpected outcome $outcome ($r->{sqlstate}): $r->{err}";
	}
	if ($outcome eq 'ok')
	{
		$s->{completed}++;
		my $rows = (split /\|/, $r->{out})[4] // '';
		if ($rows ne $EXPECT_ROWS)
		{
			$s->{unexpected}++;
			push @problems, "the call returned '$r->{out}'";
		}
	}
	else
	{
		$s->{interrupted}++;
	}

	# The caller's session afterwards.
	if ($kind =~ /^(?:cancel_caller|terminate_guard_worker|terminate_parallel_worker)$/)
	{
		if ($outcome ne 'hang' && $outcome ne 'lost')
		{
			my $one = $caller->run('SELECT 1', 30);
			if ($one->{sqlstate} ne '00000' || $one->{out} ne '1')
			{
				$s->{unusable}++;
				push @problems, "the caller's session did not answer SELECT 1: $one->{err}";
			}
		}
		else
		{
			$s->{unusable}++;
			push @problems, "the caller's session is $outcome";
		}
	}
	else
	{
		# Its connection is gone: an idle psql learns it at its next query,
		# either as a lost connection at once or as the FATAL the server
		# left in the socket (57P01 or the like), and ends at the one after.
		my ($answered, @seen) = (0);
		for my $try (1 .. 2)
		{
			last if $outcome eq 'lost';
			my $one = $caller->run('SELECT 1', 30);
			push @seen, $one->{lost} ? 'lost' : "$one->{sqlstate} $one->{out} $one->{err}";
			last if $one->{lost};
			if ($one->{sqlstate} eq '00000')
			{
				$answered = 1;
				last;
			}
		}
		my $end = $caller->wait_exit(30);
		if ($answered || !defined $end)
		{
			$s->{unusable}++;
			push @problems, "the caller's connection survived the fault (SELECT 1: "
			  . join(' / ', @seen) . ($end ? '' : '; psql still running') . ')';
		}
	}
	$caller->quit;

	# Nothing left behind.
	if (!$ctl->poll($LEFTOVER_SQL, '0', 20))
	{
		$s->{backends}++;
		push @problems, 'backends left: ' . $ctl->query($LEFTOVER_LIST_SQL);
	}
	if (!$ctl->poll('SELECT count(*) FROM parallel_guard.queue', '0', 10))
	{
		$s->{queue}++;
		push @problems, 'runs left in the queue: '
		  . $ctl->query("SELECT string_agg(pid || ' ' || state || ' ' || attempt, ', ') "
			  . 'FROM parallel_guard.queue');
	}
	if (!$ctl->poll($LOCKS_SQL, '0', 10))
	{
		$s->{locks}++;
		push @problems, 'locks left: '
		  . $ctl->query("SELECT string_agg(pid || ' ' || locktype || ' ' || mode, ', ') "
			  . 'FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()');
	}
	my $tstate = table_state($table);
	if ($tstate ne 'absent' && $tstate ne $COMPLETE)
	{
		$s->{partial}++;
		push @problems, "table $table is $tstate, neither absent nor $COMPLETE";
	}
	if ($outcome eq 'ok' && $tstate ne $COMPLETE)
	{
		$s->{ok_missing}++;
		push @problems, "the call returned its row but table $table is $tstate";
	}
	if ($outcome eq 'error' && $tstate ne 'absent')
	{
		$s->{failed_committed}++;
		push @problems, "the call failed ($r->{sqlstate}) but table $table was committed ($tstate)";
	}
	my $sig = $ctl->query($SIGNATURE_SQL);
	if ($sig ne $signature)
	{
		$s->{changed}++;
		push @problems, "big/keep changed: $sig";
	}

	# The server log.
	my $log = log_since($node, $off);
	if ($kind eq 'crash_immediate')
	{
		if ($log !~ /database system was not properly shut down; automatic recovery in progress/)
		{
			$s->{no_recovery}++;
			push @problems, 'no crash recovery in the log';
		}
	}
	elsif ($log =~ $CRASH_RE)
	{
		$s->{crash_signs}++;
		push @problems, "crash in the log: $&";
	}

	note(sprintf("iteration %d: %s, %s, fault at %4.0f ms (%s), outcome %s%s after %.0f ms, table %s",
			$iteration, $KIND_LABEL{$kind}, $capped ? 'capped' : 'free', $at, $phase,
			$outcome, $outcome eq 'error' ? " $r->{sqlstate}" : '', $took * 1000, $tstate));
	diag("iteration $iteration ($KIND_LABEL{$kind}, $phase): $_") for @problems;
	$ctl->query("DROP TABLE IF EXISTS $table");
}

# --- summary ------------------------------------------------------------------
my %total;
for my $k (@KIND_ORDER)
{
	my $s = $st{$k};
	$s->{leftovers} = $s->{backends} + $s->{queue} + $s->{locks} + $s->{partial} + $s->{changed};
	$total{$_} += $s->{$_} for grep { !ref $s->{$_} } keys %$s;
	diag(sprintf('  %-48s injected %2d (missed %d): interrupted %2d, completed %2d; leftovers %d',
			$KIND_LABEL{$k}, @$s{qw(injected missed interrupted completed leftovers)}));
	diag('      moments: '
		  . join(', ', map { "$_ $s->{phases}{$_}" } sort keys %{ $s->{phases} }));
}
diag("faults injected: $total{injected}, leftovers: $total{leftovers}");

cmp_ok($total{injected}, '>=', $FLOOR, "at least $FLOOR faults were injected");
for my $k (@KIND_ORDER)
{
	is($st{$k}{injected}, $COUNT{$k}, "$KIND_LABEL{$k}: every planned fault was injected");
	cmp_ok($st{$k}{interrupted}, '>', 0, "$KIND_LABEL{$k}: some faults interrupted a running call");
}
is($total{leftovers}, 0, 'no leftovers: backends, locks, partly built tables, changed tables');
is($total{backends}, 0, 'no parallel_guard or parallel worker backend was left behind');
is($total{queue}, 0, 'no run was left in parallel_guard.queue');
is($total{locks}, 0, 'no lock of another backend was left behind');
is($total{partial}, 0, 'no table was committed with only part of its rows');
is($total{changed}, 0, 'big and keep never changed');
is($total{unexpected}, 0, 'every outcome fits its fault (no hang, no FATAL to a surviving caller)');
is($total{unusable}, 0, "the caller's session survived (a, c, d) or was gone (b, e, f) as expected");
is($total{ok_missing}, 0, 'every call that returned its row left its complete table');
is($total{failed_committed}, 0, 'no call that failed with an ERROR had committed its table');
is($total{crash_signs}, 0, 'no crashed process in the server log');
is($total{no_recovery}, 0, 'every immediate stop was followed by crash recovery');

# --- a cancel or a terminate while the worker commits --------------------------
# With synchronous replication to a standby that never comes, a commit waits
# after its commit record is flushed (SyncRepWaitForLSN) for as long as it
# takes: the worker's commit stays open.  Only the caller (and so its worker,
# which restores the caller's settings) commits with synchronous_commit = on;
# the control session commits locally.  The caller is then cancelled, or
# terminated.  A plain CREATE TABLE AS answers both in that wait at once
# (PostgreSQL ends the wait with a WARNING that the transaction committed
# locally).  README: a cancel during the commit is too late and the call
# returns its row, or the call fails with 57014 and committed nothing; a
# terminated caller's connection ends.  Either way the call must end: no
# session that neither a cancel nor pg_terminate_backend can stop.
{
	my $label = 'while the worker commits';
	# Synchronous replication needs WAL senders (the node has none).
	$node->append_conf('postgresql.conf', "wal_level = replica\nmax_wal_senders = 2\n");
	$ctl->quit;
	$node->restart;
	$ctl = GuardTap::Session->new($node, 'control');
	$ctl->query('SET synchronous_commit = local');

	my $sync_rep = sub {
		my ($on) = @_;
		$ctl->query($on
			? "ALTER SYSTEM SET synchronous_standby_names = 'standby_that_never_comes'"
			: 'ALTER SYSTEM RESET synchronous_standby_names');
		$ctl->query('SELECT pg_reload_conf()');
		return $ctl->poll('SHOW synchronous_standby_names',
			$on ? 'standby_that_never_comes' : '', 10);
	};

	for my $fault ('cancel', 'terminate')
	{
		my $l = "$fault $label";
		my $table = "ft_commit_$fault";
		ok($sync_rep->(1), "$l: synchronous replication to a standby that never comes");
		my $caller = new_caller("caller_commit_$fault", 0);
		my $call = $caller->start(call_sql($table));
		ok( $ctl->poll(
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard' "
				  . "AND wait_event = 'SyncRep'",
				'1', 30),
			"$l: the guard's worker waits in its commit");
		my $fn = $fault eq 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
		is($ctl->query("SELECT $fn(" . $caller->pid . ')'), 't', "$l: $fn(caller) sent");

		my ($r, $end);
		if ($fault eq 'cancel')
		{
			$r = $caller->result($call, 10);
			ok(!$r->{timeout}, "$l: the call ends within 10 s of the cancel")
			  or diag("$l: the cancelled call still runs 10 s later (worker in SyncRep wait)");
		}
		else
		{
			$end = $caller->wait_exit(10);
			ok(defined $end, "$l: the caller's connection ends within 10 s")
			  or diag("$l: the terminated caller still runs 10 s later (worker in SyncRep wait)");
		}
		# Let the commit finish, to see how the call ends and what it left.
		ok($sync_rep->(0), "$l: synchronous replication off again");
		if ($fault eq 'cancel')
		{
			$r = $caller->result($call, 60) if $r->{timeout};
			my $outcome = $r->{timeout} ? 'hang' : $r->{lost} ? 'lost' : $r->{sqlstate};
			like($outcome, qr/^(?:00000|57014)$/, "$l: the call returns its row or fails with 57014")
			  or diag($r->{err});
			my $tstate = table_state($table);
			is($outcome eq '57014' ? $tstate : 'absent', 'absent',
				"$l: a call that failed with 57014 committed nothing")
			  or diag("$l: run() raised 57014, yet its table was committed: $tstate");
			is($outcome eq '00000' ? $tstate : $COMPLETE, $COMPLETE,
				"$l: a call that returned its row left its complete table");
			note("$l: the call ended with $outcome, table $tstate");
		}
		else
		{
			$end //= $caller->wait_exit(60);
			ok(defined $end, "$l: the caller's connection ends once the commit is done");
			my $tstate = table_state($table);
			ok($tstate eq 'absent' || $tstate eq $COMPLETE, "$l: the table is absent or complete")
			  or diag("$l: table $table is $tstate");
		}
		$caller->quit;
		ok($ctl->poll($LEFTOVER_SQL, '0', 20), "$l: no backend left");
		$ctl->query("DROP TABLE IF EXISTS $table");
	}
}

$ctl->quit;
$node->stop;
diag(sprintf('060_faults: %.0f s in all', time - $t_start));
done_testing();
