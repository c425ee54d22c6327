
# 102_launch_in_flight.pl: the head of the queue waits for exactly the
# ordinary launches that may not have seen its reservation.
#
# An ordinary Gather reads the reservations just before its launch, then
# sets the launch up (ExecInitParallelPlan(): the plan is serialized into
# shared memory) and only then registers its workers.  A reservation made
# in between is not seen by that launch, which takes its workers all the
# same.  The head of the queue once looked at the pool 5 ms after it
# reserved, taking any launch as registered by then; a Gather whose plan
# holds a large constant (here an array of 300,000 numbers, a few MB
# serialized) takes much longer to set up, registered its workers after
# the guarded run was admitted, and the run's launch came up short.  Now
# every ordinary launch marks itself in flight from before it reads the
# reservations until its workers are registered (its child's first call),
# and the head waits for the launches that began before its reservation.
#
# Two sessions launch such Gathers (4 workers each) in a loop on a pool of
# 8 while guarded runs of target 4, min 4, one attempt, run one after
# another: every run must meet its target at its one attempt, and the
# competitors must have launched all along (and got their 4 workers while
# nothing was reserved).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(usleep);

my $node = guard_node(
	'in_flight',
	conf => [ @RESERVATION_POOL, "parallel_guard.queue_timeout = '60s'" ],
	tables => [ [ 'big', 100000 ] ]);
$node->safe_psql('postgres', 'CREATE TABLE stop (tag text)');

# The competitor's query: a parallel count whose qual holds a constant array
# of 300,000 numbers that no row ever evaluates (every k is positive).
my $arr = "'{" . join(',', 1 .. 300000) . "}'::int[]";
my $COMPETE = "SELECT count(*) FROM big WHERE CASE WHEN k > 0 THEN true ELSE k = ANY($arr) END";

my @sessions;
my $round = 0;

sub competitor
{
	my $tag = 'c' . ++$round;
	my $s = GuardTap::Session->new($node, "competitor $tag");
	push @sessions, $s;
	$s->query($GUARD_SETTINGS . ' SET max_parallel_workers_per_gather = 4;');
	# Parsed and planned once: each execution sets up and launches anew.
	$s->query("PREPARE compete AS $COMPETE");
	return start_competitor($s, $tag, 'EXECUTE compete');
}

my @c = (competitor(), competitor());
usleep(500_000);
my $g = GuardTap::Session->new($node, 'guarded');
push @sessions, $g;
$g->query($GUARD_SETTINGS);
my @bad;
my $RUNS = 45;
for my $i (1 .. $RUNS)
{
	my $r = $g->run("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE run_$i AS SELECT count(*) FROM big', target => 4, min => 4, retries => 1)",
		60);
	push @bad, "run $i: $r->{sqlstate} $r->{out} " . join(' ', grep { /ERROR|DETAIL/ } split /\n/, $r->{err})
	  if "$r->{sqlstate}|$r->{out}" ne '00000|4|1';
}
my @l = map { stop_competitor($node, $_) } @c;
is(scalar(@bad), 0,
	"$RUNS of $RUNS guarded runs (target 4, min 4, one attempt) got their 4 workers "
	  . 'while two sessions launched slow-to-set-up Gathers in a loop')
  or diag(join("\n", @bad));
cmp_ok(scalar(@l), '>', 10, 'the competitors launched all along (' . scalar(@l) . ' launches)');
ok((grep { $_ == 4 } @l), '... and got their 4 workers when nothing was reserved');
is($node->safe_psql('postgres', 'SELECT count(*) FROM parallel_guard.queue'),
	'0', 'the queue is empty');

$_->quit for @sessions;
$node->stop;
done_testing();
