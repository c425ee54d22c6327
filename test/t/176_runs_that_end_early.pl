# 176_runs_that_end_early.pl: runs that end before their verdict are in the
# history and the stats as what they are.
#
#  A. a run cancelled (statement_timeout) while it waits in the queue: the
#     wait counts in the stats' queued_ms (it counted nothing before 1.4),
#     the run as cancelled;
#  B. a caller terminated (pg_terminate_backend: FATAL 57P01) while its run
#     waits in the queue, and while it waits out the delay between two
#     attempts: the run is in the history (it was missing before 1.4), with
#     verdict error and SQLSTATE 57P01, and counted in the stats' runs_error.
#
# The pool is 4 parallel workers; a holder query keeps all 4 busy, so that a
# run with target 4 waits in the queue for as long as the test wants.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node('ends_early',
	conf => [
		"shared_preload_libraries = 'parallel_guard'", 'max_parallel_workers = 4',
		'max_parallel_workers_per_gather = 4'
	],
	tables => [ [ big => 100_000 ] ]);
holder_fixture($node);
my $ctl = GuardTap::Session->new($node, 'control');
my $holder_session = GuardTap::Session->new($node, 'holder');
$holder_session->query($GUARD_SETTINGS);
my $holder = GuardTap::start_holder($ctl, $holder_session, 'h1', 'pool held');

my $STATS = "SELECT runs_cancelled || '|' || runs_error || '|' || attempts || '|' || "
  . "round(queued_ms) FROM parallel_guard.stats WHERE usename = current_user";
my $CTAS = "SELECT * FROM parallel_guard.run('CREATE TABLE t_%s AS SELECT k FROM big', "
  . "target => 4, min => 4, retries => %d, delay => '1 hour')";

sub stats
{
	my $s = $ctl->query($STATS);
	return $s eq '' ? (0, 0, 0, 0) : split /\|/, $s;
}

# Waits until the run of session $s waits in the queue.
sub wait_queued
{
	my ($s, $label) = @_;
	ok( $ctl->poll(
			"SELECT count(*) FROM parallel_guard.queue WHERE pid = "
			  . $s->pid . " AND state = 'waiting'",
			'1', 30),
		"$label: the run waits in the queue");
	return;
}

# --- A. cancelled in the queue ------------------------------------------------
my @before = stats();
my $a = GuardTap::Session->new($node, 'caller A');
$a->query("$GUARD_SETTINGS SET statement_timeout = '1500ms'");
my $r = $a->run(sprintf($CTAS, 'a', 1));
is($r->{sqlstate}, '57014', 'A: the call ends with the statement timeout');
my @after = stats();
is($after[0] - $before[0], 1, 'A: runs_cancelled counts the run');
is($after[2] - $before[2], 1, 'A: its one attempt is counted');
cmp_ok($after[3] - $before[3], '>=', 1000,
	'A: queued_ms counts the wait in the queue before the timeout (about 1500 ms)');
is( $ctl->query(
		"SELECT verdict || '|' || sqlstate FROM parallel_guard.history WHERE pid = " . $a->pid),
	'cancelled|57014', 'A: the history has the run as cancelled');

# --- B. the caller terminated -------------------------------------------------
for my $case ([ 'queue', 1 ], [ 'delay', 2 ])
{
	my ($where, $retries) = @$case;
	@before = stats();
	my $b = GuardTap::Session->new($node, "caller B ($where)");
	$b->query($GUARD_SETTINGS);
	my $pid = $b->pid;
	my $n;
	if ($where eq 'queue')
	{
		$n = $b->start(sprintf($CTAS, 'b1', $retries));
		wait_queued($b, "B ($where)");
	}
	else
	{
		# Let the holder go: the first attempt launches, short of target 4
		# (this session may use 2), and its caller waits out the delay.
		ok(GuardTap::release_holder($ctl, $holder), 'B (delay): the holder ends');
		$b->query('SET max_parallel_workers = 2');
		$n = $b->start(sprintf($CTAS, 'b2', $retries));
		ok( $ctl->poll(
				"SELECT count(*) FROM parallel_guard.queue WHERE pid = $pid AND state = 'delaying'",
				'1', 30),
			"B ($where): the run waits out its delay");
	}
	ok($ctl->query("SELECT pg_terminate_backend($pid)") eq 't', "B ($where): caller terminated");
	$r = $b->result($n);
	ok($r->{lost} || $r->{sqlstate} eq '57P01', "B ($where): the caller's session ended");
	ok( $ctl->poll(
			"SELECT verdict || '|' || sqlstate FROM parallel_guard.history WHERE pid = $pid",
			'error|57P01', 30),
		"B ($where): the history has the run, verdict error, SQLSTATE 57P01");
	@after = stats();
	is($after[1] - $before[1], 1, "B ($where): runs_error counts it");
	is($after[2] - $before[2], 1, "B ($where): its attempt is counted");
	# (The holder's workers run on in the queue case.)
	ok( poll_until(
			$node,
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard' "
			  . "OR leader_pid = $pid",
			'0'),
		"B ($where): nothing of the run is left running");
}

$node->stop;
done_testing();
