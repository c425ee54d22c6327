
# 050_no_leftovers.pl: cancels at random moments never leave anything behind.
#
# Twenty guarded CTAS calls, each cancelled (pg_cancel_backend of the caller)
# at a random moment 0-300 ms after the call was sent: before the worker
# starts, while it plans, at the verdict, while the statement runs, while a
# short attempt is rolled back, in the delay, around the commit, or after the
# call has returned.  Even iterations have the whole pool (one attempt of
# about 150 ms); odd ones are capped at 2 workers (two short attempts 30 ms
# apart, then the accepted third).  After each call:
#  - it either succeeded or failed with 57014, nothing else;
#  - no 'parallel_guard' or 'parallel worker' backend remains (polled up to
#    10 s), and no other backend holds a lock;
#  - the target table is absent or complete: a committed table holds every
#    row, never part of them; a successful call's table is always there;
#  - the source table 'big' is unchanged, and the caller's session works.
# Set PG_GUARD_SEED to replay a sequence of cancel moments.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $ROWS = 300_000;
my $ITERATIONS = 20;
my $node = guard_node('leftovers', tables => [ [ big => $ROWS ] ]);

my $seed = $ENV{PG_GUARD_SEED} // int(time * 1000) % 1_000_000;
srand($seed);
note("cancel moments seeded with PG_GUARD_SEED=$seed");

my $ctl = GuardTap::Session->new($node, 'control');
my $caller = GuardTap::Session->new($node, 'caller');
$caller->query($GUARD_SETTINGS);
my $cpid = $caller->pid;
my $big = $ctl->query('SELECT count(*) || \':\' || sum(k) FROM big');
is($big, "$ROWS:" . ($ROWS * ($ROWS + 1) / 2), 'big holds its rows');

my %n = (
	cancels => 0,            # cancels that interrupted a call (57014)
	late => 0,               # cancels that came after the call had returned
	leftovers => 0,          # backends still there 10 s after the call
	locks => 0,              # locks of other backends after the call
	incomplete => 0,         # a table with some but not all rows
	missing => 0,            # a successful call without its table
	committed_cancelled => 0,    # 57014, yet the table was committed
	unexpected => 0,         # any other outcome of the call
	big_changed => 0,
	unusable => 0,           # the caller's session did not answer
	lingering => 0,          # backends still there when the call returned
);

for my $i (1 .. $ITERATIONS)
{
	my $table = "r$i";
	my $capped = $i % 2;
	$caller->query($capped ? 'SET max_parallel_workers = 2' : 'RESET max_parallel_workers');
	my $args = $capped ? "4, 2, 3, '30 ms'" : '4, 2, 1';
	my $wait = rand(0.3);

	my $t0 = time;
	my $call = $caller->start("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $table AS SELECT k FROM big', $args)");
	my $left = $t0 + $wait - time;
	usleep(int($left * 1e6)) if $left > 0;
	my $sent = $ctl->query("SELECT pg_cancel_backend($cpid)");
	my $r = $caller->result($call);
	my $took = time - $t0;
	# README: the worker is waited for before the error returns.
	my $at_return = $ctl->query($LEFTOVER_SQL);
	$n{lingering}++ if $at_return ne '0';

	my $outcome = $r->{sqlstate};
	if ($outcome eq '57014')
	{
		$n{cancels}++;
	}
	elsif ($outcome eq '00000')
	{
		$n{late}++;
	}
	else
	{
		$n{unexpected}++;
		diag("iteration $i: unexpected outcome "
			  . ($r->{timeout} ? 'timeout' : $r->{lost} ? 'connection lost' : $outcome)
			  . ": $r->{err}");
	}

	if (!$ctl->poll($LEFTOVER_SQL, '0', 10))
	{
		$n{leftovers}++;
		diag("iteration $i: leftover backends: "
			  . $ctl->query(
				"SELECT string_agg(pid || ' ' || backend_type || ' ' || coalesce(wait_event, ''), ', ') "
				  . "FROM pg_stat_activity WHERE backend_type IN ('parallel_guard', 'parallel worker')"));
	}
	my $locks = $ctl->query(
		'SELECT count(*) FROM pg_locks WHERE pid IS DISTINCT FROM pg_backend_pid()');
	if ($locks ne '0')
	{
		$n{locks}++;
		diag("iteration $i: $locks locks of other backends");
	}

	my $present = $ctl->query("SELECT to_regclass('$table') IS NOT NULL") eq 't';
	my $count = $present ? $ctl->query("SELECT count(*) FROM $table") : 'absent';
	if ($present && $count ne $ROWS)
	{
		$n{incomplete}++;
		diag("iteration $i: table $table has $count rows, not $ROWS");
	}
	if ($outcome eq '00000')
	{
		my $rows = (split /\|/, $r->{out})[4] // '';
		if (!$present || $rows ne $ROWS)
		{
			$n{missing}++;
			diag("iteration $i: the call returned '$r->{out}' but the table has $count rows");
		}
	}
	if ($outcome eq '57014' && $present)
	{
		$n{committed_cancelled}++;
		diag("iteration $i: cancelled after "
			  . sprintf('%.0f ms', $wait * 1000)
			  . ", yet table $table was committed with $count rows");
	}

	if ($ctl->query('SELECT count(*) || \':\' || sum(k) FROM big') ne $big)
	{
		$n{big_changed}++;
		diag("iteration $i: big changed");
	}
	my $one = $caller->run('SELECT 1');
	if ($one->{sqlstate} ne '00000' || $one->{out} ne '1')
	{
		$n{unusable}++;
		diag("iteration $i: the caller's session answered ($one->{sqlstate}) $one->{err}");
	}
	note(sprintf("iteration %d: %s, cancel at %3.0f ms (%s), outcome %s after %.0f ms, "
		  . "%s backends at return, table %s",
		$i, $capped ? 'capped' : 'free', $wait * 1000, $sent eq 't' ? 'sent' : 'not sent',
		$outcome, $took * 1000, $at_return, $count));
	$ctl->query("DROP TABLE IF EXISTS $table");
}

diag("injected cancels: $ITERATIONS sent, $n{cancels} interrupted a call, "
	  . "$n{late} came after it had returned; leftovers found: $n{leftovers}");

cmp_ok($n{cancels}, '>', 0, 'some cancels interrupted a running call');
is($n{unexpected}, 0, 'every call succeeded or failed with 57014');
is($n{leftovers}, 0, 'no parallel_guard or parallel worker backend was left behind');
is($n{locks}, 0, 'no lock of another backend was left behind');
is($n{incomplete}, 0, 'no table was committed with only part of its rows');
is($n{missing}, 0, 'every successful call left its complete table');
is($n{big_changed}, 0, 'big never changed');
is($n{unusable}, 0, "the caller's session always answered afterwards");
# README: a cancel that arrives while the worker commits comes too late and
# the call succeeds; the worker is waited for before the call returns.
is($n{committed_cancelled}, 0, 'no call failed with 57014 although its table was committed');
is($n{lingering}, 0, 'no call returned before its guard and parallel workers had exited');

$caller->quit;
$ctl->quit;
$node->stop;
done_testing();
