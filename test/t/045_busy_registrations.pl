
# 045_busy_registrations.pl: a launch is counted from PostgreSQL's
# registrations only once they are all made, on a busy machine too.
#
# PostgreSQL registers a launch's parallel workers one by one
# (LaunchParallelWorkers()), and a machine whose CPUs are taken can pause the
# registering process between two registrations.  The caller counts from the
# registrations where it has no exact count of its own: an index build, and a
# Gather whose exact count is slow to come, after parallel_guard.settle_time.
# It once counted a launch as soon as its first registration was seen when
# settle_time had already passed since the launch began (the Gather's
# InitPlans ran meanwhile; the index build's setup took that long): a launch
# of 4 was counted as 1, the attempt judged short and retried.  The CI run of
# 2026-12-04 failed on PostgreSQL 15 that way, in sql/19_every_launch.
#
# Here, with two CPU-bound processes taking both CPUs and settle_time at its
# least (1 ms), every attempt must count what PostgreSQL launched: the main
# Gather of a statement whose InitPlan has a Gather of its own, 20 times,
# and an index build of 4 workers, 12 times.  Nothing else runs on the
# server, so every launch gets all its workers (4 of 4), and every call must
# end at its first attempt.  Before the fix about 1 call in 6 took two
# attempts here (the main Gather counted 1 of 4), and most index builds were
# counted 1 or 0 of 4 (a call failed below min 1).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node(
	'busy_registrations',
	conf => [ "shared_preload_libraries = 'parallel_guard'" ],
	tables => [ [ 'big', 200000 ], [ 'idx', 100000 ] ]);
$node->safe_psql('postgres', <<'SQL');
CREATE TABLE small_slow AS SELECT g AS k FROM generate_series(1, 40) AS g;
ALTER TABLE small_slow SET (parallel_workers = 2);
ANALYZE small_slow;
CREATE FUNCTION slow_k(int) RETURNS int LANGUAGE plpgsql STABLE PARALLEL SAFE
  AS $$BEGIN PERFORM pg_sleep(0.001); RETURN $1; END$$;
SQL

# Two processes that keep both CPUs busy until the test ends.
my @hogs;
for (1 .. 2)
{
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		1 while 1;
	}
	push @hogs, $pid;
}
END { kill 'KILL', @hogs if @hogs; }

# The calls come one after the other from one session (a psql started per
# call, and one more for the undo, cost about 0.4 s of each call's 0.6 s
# with both CPUs taken); each call's attempts run in workers of their own.
my $s = GuardTap::Session->new($node, 'caller');
$s->query("$GUARD_SETTINGS SET parallel_guard.settle_time = '1ms';");

# Returns the calls (of $n) that took more than one attempt, with what the
# history recorded of their launches.
sub busy_calls
{
	my ($n, $set, $sql, $undo) = @_;
	my @bad;
	$s->query($set) if $set;
	for my $i (1 .. $n)
	{
		my $r = $s->run("SELECT attempts FROM parallel_guard.run(\$q\$$sql\$q\$, "
			  . "target => 4, min => 1, retries => 2, delay => '0')");
		if ($r->{sqlstate} ne '00000')
		{
			push @bad, "call $i failed ($r->{sqlstate}): "
			  . (($r->{err} =~ /^((?:psql:\S+ )?ERROR:.*)$/m)[0] // $r->{err});
			next;
		}
		my $attempts = $r->{out};
		if ($attempts ne '1')
		{
			my $launches = $s->query(
				"SELECT string_agg(format('%s planned %s launched %s', node, planned, fewest_launched), '; ') "
				  . "FROM parallel_guard.history_launches WHERE run_id = "
				  . "(SELECT max(run_id) FROM parallel_guard.history)");
			push @bad, "call $i: $attempts attempts ($launches)";
		}
		$s->query($undo);
	}
	return @bad;
}

my @gather = busy_calls(20, '',
	'CREATE TABLE el3 AS SELECT k FROM big WHERE k > (SELECT max(slow_k(k)) FROM small_slow) + 199000',
	'DROP TABLE el3');
is(scalar(@gather), 0,
	'a Gather after its slow InitPlan: 20 of 20 calls counted 4 of 4 at their first attempt')
  or diag(join("\n", @gather));

my @build = busy_calls(12,
	"SET max_parallel_maintenance_workers = 4; SET maintenance_work_mem = '256MB';",
	'CREATE INDEX idx_k ON idx (k)',
	'DROP INDEX idx_k');
is(scalar(@build), 0,
	'an index build of 4 workers: 12 of 12 calls counted 4 of 4 at their first attempt')
  or diag(join("\n", @build));

# The index build did plan 4 workers (else the check above proves nothing).
is( $node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT planned::text, ',') FROM parallel_guard.history_launches "
		  . "WHERE node LIKE 'index build%'"),
	'4',
	'every index build planned 4 workers');

kill 'KILL', @hogs;
waitpid($_, 0) for @hogs;
@hogs = ();
$s->quit;
$node->stop;
done_testing();
