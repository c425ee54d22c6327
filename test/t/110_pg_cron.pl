
# 110_pg_cron.pl: guarded runs scheduled with Debian's pg_cron
# (postgresql-NN-cron), in both of its modes, on two clusters at once:
# cron.use_background_workers = on (each job runs in a background worker
# of its own) and off (each job connects through libpq, here to the
# cluster's Unix socket: cron.host).
#
# On each cluster four jobs are scheduled ('* * * * *'; pg_cron of Debian 12
# has minute resolution, so the test waits for the next minute) and
# unscheduled as soon as their first run has ended:
#  - met: REFRESH MATERIALIZED VIEW (a job that can run every night) meets
#    its target; cron.job_run_details says succeeded ("SELECT 1" or "1
#    row"), the view is filled, and its run is in parallel_guard.history
#    with the job's pid, role and verdict met; the attempt's LOG line is in
#    the server log, and its NOTICE too where pg_cron repeats it (before
#    1.6.6; README "Scheduling with pg_cron");
#  - short: a role whose max_parallel_workers is 1 asks for min 2; the run is
#    recorded failed with the 53000 message ("only 1 parallel workers
#    launched, at least 2 required"; pg_cron keeps the text, not the code:
#    the code is in parallel_guard.history), no table;
#  - cancel: a long statement, cancelled with pg_cancel_backend() of the pid
#    that cron.job_run_details shows while the guard's parallel workers run;
#    the run is recorded failed ("canceling statement due to user
#    request"), and nothing is left: no table, no guard or parallel worker,
#    no lock, the job's process gone;
#  - never (background-worker mode only): target = max_worker_processes - 1,
#    which an ordinary session could still ask for, can never be reached by
#    a job that is itself a background worker: its own slot, the guard's and
#    the parallel workers.  The run fails at once with "can never be reached"
#    and a DETAIL that names the job's slot (before src/run.cpp counted the
#    caller's slot, this job queued for workers and succeeded short);
#  - aw_met: a plain CREATE TABLE AS (no run()) of a role with ALTER ROLE
#    ... SET parallel_guard.target = 4 is guarded as written in the job's
#    own process: succeeded with the tag "SELECT 100000", the table, and a
#    history row with the job's pid, verdict met, 4 workers, guarded_by
#    parallel_guard.target (attempts 1 to 5: the other jobs of the minute
#    may take workers meanwhile);
#  - aw_short: the same as a role that also has max_parallel_workers = 1
#    and parallel_guard.retries = 2, delay 0: both attempts are short, the
#    job fails with the 53000 message, history below_min after 2 attempts,
#    no table.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $MAX_WORKER_PROCESSES = 16;

# The server's major version, from the pg_config that PGXS put first in PATH.
my ($MAJOR) = `pg_config --version` =~ /(\d+)/ or die "no version from pg_config";

# pg_cron is Debian's postgresql-NN-cron, which Debian builds for a major
# version once it is released (experimental has PostgreSQL 19 but no
# postgresql-19-cron yet; test/lib.sh installs it where the archive has it).
{
	my $pkglibdir = `pg_config --pkglibdir`;
	chomp $pkglibdir;
	plan skip_all => "pg_cron is not installed for PostgreSQL $MAJOR "
	  . "(Debian's postgresql-$MAJOR-cron, which test/lib.sh installs where the archive has it)"
	  unless -e "$pkglibdir/pg_cron.so";
}

# Debian's package version of pg_cron, for what it writes to the log.
my $CRON_VERSION = `dpkg-query -W -f='\${Version}' postgresql-$MAJOR-cron`;
die "cannot tell the version of postgresql-$MAJOR-cron" unless $? == 0 && $CRON_VERSION =~ /^\d/;
my $CRON_REPEATS_NOTICES = system('dpkg', '--compare-versions', $CRON_VERSION, 'lt', '1.6.6') == 0;

# A cluster with pg_cron in the given mode, the batch roles and the tables.
sub cron_node
{
	my ($name, $bgw) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', join("\n",
			"max_worker_processes = $MAX_WORKER_PROCESSES",
			"max_parallel_workers = 8",
			"autovacuum = off",
			"jit = off",
			"log_line_prefix = '%m [%p] '",
			"shared_preload_libraries = 'pg_cron,parallel_guard'",
			"cron.database_name = 'postgres'",
			"cron.use_background_workers = $bgw",
			# libpq mode: the launcher connects to this cluster's socket
			"cron.host = '" . $node->host . "'")
		  . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION parallel_guard');
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
	make_table($node, big => 100_000);
	make_table($node, slow => 2000);
	# The batch roles of README "Scheduling with pg_cron"; cron_starved can
	# never get more than 1 worker.
	batch_role($node, $_, 'postgres', 'big', 'slow') for qw(cron_batch cron_starved cron_aw cron_aw_starved);
	$node->safe_psql('postgres', 'ALTER ROLE cron_starved SET max_parallel_workers = 1');
	# Guarded as written by the roles' settings alone.
	$node->safe_psql('postgres',
		"ALTER ROLE $_ SET parallel_guard.target = 4") for qw(cron_aw cron_aw_starved);
	$node->safe_psql('postgres', join(';',
		'ALTER ROLE cron_aw_starved SET max_parallel_workers = 1',
		'ALTER ROLE cron_aw_starved SET parallel_guard.retries = 2',
		"ALTER ROLE cron_aw_starved SET parallel_guard.delay = 0"));
	# The nightly job of the README recipe refreshes a view its role owns.
	$node->safe_psql('postgres',
		'SET ROLE cron_batch; CREATE MATERIALIZED VIEW cron_met AS SELECT k FROM big WITH NO DATA');
	return $node;
}

my %mode = (
	bgw => { node => cron_node('cron_bgw', 'on'), what => 'background-worker mode' },
	libpq => { node => cron_node('cron_libpq', 'off'), what => 'libpq mode' },
);

my %jobs = (
	met => [
		'cron_batch',
		"SELECT * FROM parallel_guard.run('REFRESH MATERIALIZED VIEW cron_met', "
		  . "target => 2, min => 2, retries => 1)"
	],
	short => [
		'cron_starved',
		"SELECT * FROM parallel_guard.run('CREATE TABLE cron_short AS SELECT k FROM big', "
		  . "target => 2, min => 2, retries => 2, delay => '0')"
	],
	# about 33 s with 2 workers and the leader: cancelled long before
	cancel => [
		'cron_batch',
		"SELECT * FROM parallel_guard.run('CREATE TABLE cron_cancel AS "
		  . "SELECT k FROM slow WHERE pg_sleep(0.05) IS NOT NULL', target => 2, min => 2, retries => 1)"
	],
	# plain statements, guarded as written by the roles' settings
	aw_met => [ 'cron_aw', 'CREATE TABLE cron_aw_met AS SELECT k FROM big' ],
	aw_short => [ 'cron_aw_starved', 'CREATE TABLE cron_aw_short AS SELECT k FROM big' ],
	never => [
		'cron_batch',
		"SELECT * FROM parallel_guard.run('CREATE TABLE cron_never AS SELECT k FROM big', "
		  . "target => " . ($MAX_WORKER_PROCESSES - 1) . ", min => 0, retries => 1)"
	],
);

sub q1
{
	my ($node, $sql) = @_;
	return scalar $node->safe_psql('postgres', $sql);
}

# Schedule the jobs on both clusters; remember the jobids.
for my $m (sort keys %mode)
{
	my $node = $mode{$m}{node};
	$mode{$m}{log} = log_offset($node);
	for my $job (sort keys %jobs)
	{
		next if $job eq 'never' && $m ne 'bgw';
		my ($role, $cmd) = @{ $jobs{$job} };
		(my $lit = $cmd) =~ s/'/''/g;
		$mode{$m}{jobid}{$job} = q1($node,
			"SELECT cron.schedule_in_database('pg_$job', '* * * * *', '$lit', 'postgres', '$role')");
	}
}

# The run of job $job on $m: status|job_pid|return_message of its first run,
# once its status is one of @want (undef after $timeout seconds).
sub wait_run
{
	my ($m, $job, $timeout, @want) = @_;
	my $node = $mode{$m}{node};
	my $id = $mode{$m}{jobid}{$job};
	my $in = join(', ', map { "'$_'" } @want);
	my $deadline = time + $timeout;
	for (;;)
	{
		my $r = q1($node,
			"SELECT status || '|' || coalesce(job_pid, 0) || '|' || coalesce(return_message, '') "
			  . "FROM cron.job_run_details WHERE jobid = $id AND status IN ($in) ORDER BY runid LIMIT 1");
		return $r if $r ne '';
		return undef if time > $deadline;
		usleep(100_000);
	}
}

# The cancel job of each mode: wait until its guard's parallel workers run,
# then cancel it through the pid in cron.job_run_details.  The first run
# comes at the next minute (up to 60 s, 120 s if the schedule was read just
# after a minute began).
for my $m (sort keys %mode)
{
	my $node = $mode{$m}{node};
	my $label = "$mode{$m}{what}, cancel";
	my $run = wait_run($m, 'cancel', 150, 'running');
	ok(defined $run, "$label: the job runs") or next;
	my (undef, $pid) = split /\|/, $run, 3;
	ok( poll_until(
			$node,
			"SELECT count(*) FROM pg_stat_activity a JOIN parallel_guard.queue q "
			  . "ON q.pid = $pid AND q.state = 'running' "
			  . "WHERE a.backend_type = 'parallel worker' AND a.leader_pid IN "
			  . "(SELECT pid FROM pg_stat_activity WHERE backend_type = 'parallel_guard' "
			  . "AND query LIKE '%cron_cancel%')",
			'2', 30),
		"$label: the guard's worker of job pid $pid runs with 2 parallel workers");
	is(q1($node, "SELECT pg_cancel_backend($pid)"), 't', "$label: pg_cancel_backend($pid) sent");
	$mode{$m}{cancel_pid} = $pid;
}

# Every job's first run ends; then the jobs are unscheduled before their
# next minute.
for my $m (sort keys %mode)
{
	my $node = $mode{$m}{node};
	for my $job (sort keys %{ $mode{$m}{jobid} })
	{
		my $run = wait_run($m, $job, 150, 'succeeded', 'failed');
		$mode{$m}{run}{$job} = $run // 'timeout||';
	}
	q1($node, "SELECT cron.unschedule(jobid) FROM cron.job");
	diag("$m: $_ => $mode{$m}{run}{$_}") for sort keys %{ $mode{$m}{run} };
}

for my $m (sort keys %mode)
{
	my $node = $mode{$m}{node};
	my $what = $mode{$m}{what};
	my %run;
	for my $job (keys %{ $mode{$m}{run} })
	{
		my ($status, $pid, $msg) = split /\|/, $mode{$m}{run}{$job}, 3;
		$run{$job} = { status => $status, pid => $pid, msg => $msg };
	}
	my $hist = sub {
		my ($pid) = @_;
		return q1($node,
			"SELECT usename || '|' || verdict || '|' || coalesce(sqlstate, '') || '|' "
			  . "|| coalesce(achieved_workers::text, '') || '|' || attempts "
			  . "FROM parallel_guard.history WHERE pid = $pid");
	};

	# met
	is($run{met}{status}, 'succeeded', "$what, met: cron.job_run_details says succeeded");
	is($run{met}{msg}, $m eq 'bgw' ? 'SELECT 1' : '1 row',
		"$what, met: return_message is pg_cron's summary of the result, not the row");
	is(q1($node, 'SELECT count(*) FROM cron_met'), '100000',
		"$what, met: the materialized view cron_met was refreshed");
	is($hist->($run{met}{pid}), 'cron_batch|met||2|1',
		"$what, met: parallel_guard.history has the job's run (its pid, role, verdict met, 2 workers)");
	my $log = log_since($node, $mode{$m}{log});
	like($log,
		qr/\[$run{met}{pid}\] LOG: +parallel_guard: attempt=1\/1 worker_pid=\d+ planned=2 launched=2 target=2 min=2 verdict=met /,
		"$what, met: the attempt's LOG line, from the job's process, is in the server log");
	# pg_cron before 1.6.6 repeats what a job's process sends it in the
	# launcher's log; from 1.6.6 it no longer repeats notices.
	my $notice = qr/NOTICE: +parallel_guard: attempt 1 of 1: planned 2, launched 2 parallel workers: target 2 met/;
	if ($CRON_REPEATS_NOTICES)
	{
		like($log, $notice, "$what, met: pg_cron $CRON_VERSION repeats the attempt's NOTICE in the server log");
	}
	else
	{
		unlike($log, $notice, "$what, met: pg_cron $CRON_VERSION does not repeat the attempt's NOTICE");
	}

	# short
	is($run{short}{status}, 'failed', "$what, short: cron.job_run_details says failed");
	# 1 of 2 when the pool has room; 0 when the jobs guarded as written,
	# which run in the same minute, hold the rest of the pool (seen on 18).
	like($run{short}{msg}, qr/only (?:0 parallel workers|1 parallel worker) launched, at least 2 required/,
		"$what, short: return_message has the 53000 message");
	is($hist->($run{short}{pid}), 'cron_starved|below_min|53000||2',
		"$what, short: parallel_guard.history has it as below_min, SQLSTATE 53000, 2 attempts");
	is(q1($node, "SELECT to_regclass('cron_short') IS NULL"), 't', "$what, short: no table cron_short");

	# cancel
	is($run{cancel}{status}, 'failed', "$what, cancel: cron.job_run_details says failed");
	is($run{cancel}{pid}, $mode{$m}{cancel_pid} // -1, "$what, cancel: the run is the one cancelled");
	like($run{cancel}{msg}, qr/canceling statement due to user request/,
		"$what, cancel: return_message has the cancel's message");
	is($hist->($run{cancel}{pid}), 'cron_batch|cancelled|57014||1',
		"$what, cancel: parallel_guard.history has it as cancelled, SQLSTATE 57014");
	is(q1($node, "SELECT to_regclass('cron_cancel') IS NULL"), 't', "$what, cancel: no table cron_cancel");
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$what, cancel: no guard or parallel worker is left");
	ok( poll_until(
			$node,
			"SELECT count(*) FROM pg_stat_activity WHERE pid = $run{cancel}{pid}", '0'),
		"$what, cancel: the job's process has ended");
	is( q1(
			$node,
			"SELECT count(*) FROM pg_locks l WHERE l.pid <> pg_backend_pid() AND l.pid NOT IN "
			  . "(SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher')"),
		'0',
		"$what, cancel: no lock is held");

	# aw_met, aw_short: guarded as written
	my $aw_hist = sub {
		my ($pid) = @_;
		return q1($node,
			"SELECT usename || '|' || verdict || '|' || coalesce(sqlstate, '') || '|' "
			  . "|| coalesce(achieved_workers::text, '') || '|' || attempts || '|' || guarded_by "
			  . "FROM parallel_guard.history WHERE pid = $pid AND statement LIKE '%cron_aw_%'");
	};
	is($run{aw_met}{status}, 'succeeded', "$what, aw_met: the plain CREATE TABLE AS job succeeded");
	is($run{aw_met}{msg}, 'SELECT 100000', "$what, aw_met: return_message is the plain tag SELECT 100000");
	is(q1($node, 'SELECT count(*) FROM cron_aw_met'), '100000', "$what, aw_met: table cron_aw_met");
	like($aw_hist->($run{aw_met}{pid}), qr/^cron_aw\|met\|\|4\|[1-5]\|parallel_guard\.target$/,
		"$what, aw_met: history has the job's run (its pid, role, met, 4 workers, guarded by parallel_guard.target)");
	is($run{aw_short}{status}, 'failed', "$what, aw_short: the job failed");
	like($run{aw_short}{msg}, qr/only 1 parallel worker launched, at least 2 required/,
		"$what, aw_short: return_message has the 53000 message");
	is($aw_hist->($run{aw_short}{pid}), 'cron_aw_starved|below_min|53000||2|parallel_guard.target',
		"$what, aw_short: history has it as below_min, 53000, after 2 attempts (retried)");
	is(q1($node, "SELECT to_regclass('cron_aw_short') IS NULL"), 't', "$what, aw_short: no table cron_aw_short");

	next unless $run{never};
	my $t = $MAX_WORKER_PROCESSES - 1;
	is($run{never}{status}, 'failed', "$what, never: cron.job_run_details says failed");
	like($run{never}{msg}, qr/target $t can never be reached on this server/,
		"$what, never: target $t can never be reached by a background-worker caller");
	like(
		$run{never}{msg},
		qr/this caller is itself a background worker \(pg_cron\) holding one slot.*at most @{[$t - 1]} for parallel workers/s,
		"$what, never: the DETAIL counts the job's own slot");
	is(q1($node, "SELECT to_regclass('cron_never') IS NULL"), 't', "$what, never: no table cron_never");
}

$_->{node}->stop for values %mode;
done_testing();
