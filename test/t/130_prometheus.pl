
# 130_prometheus.pl: contrib/postgres_exporter/parallel_guard.yaml with
# Debian's prometheus-postgres-exporter (README "Monitoring with
# Prometheus").
#
# The test starts the exporter itself, with the query file, against the
# throwaway cluster (as a role with pg_monitor only, as the README says),
# listening on a private loopback port, and stops it at the end, even on
# failure.  Guarded jobs run in two databases under two roles; /metrics is
# scraped over loopback and checked:
#  - while one run holds the pool and another waits: the queue metrics
#    (runs, target_workers, workers_held, reserved_workers by database, role
#    and state; longest_wait_seconds) match parallel_guard.queue;
#  - after runs that met their target, fell below min, had a plan too
#    small for min and were cancelled: every history series (runs,
#    attempts, achieved_workers, rows_written, seconds, last_end_time_seconds
#    by database, role and verdict) matches parallel_guard.history, summed
#    here from its rows, and the counts the test expects from the runs it
#    made; no series without a run;
#  - the counters of parallel_guard.stats (runs by verdict, attempts, short
#    attempts, queue time, ordinary launches held back, workers withheld, by
#    database and role) match the view, and their runs and attempts match
#    the history, which holds every run here;
#  - the metrics are typed (gauge, counter) and described; the scrape had
#    no error.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use HTTP::Tiny;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $EXPORTER = '/usr/bin/prometheus-postgres-exporter';
my $QUERIES = "$FindBin::RealBin/../../contrib/postgres_exporter/parallel_guard.yaml";
BAIL_OUT("$EXPORTER is missing (test/check.sh installs it)") unless -x $EXPORTER;
BAIL_OUT("$QUERIES is missing") unless -f $QUERIES;

my $help = '';
IPC::Run::run([ $EXPORTER, '--help' ], '>&', \$help);
like($help, qr/--extend\.query-path/, "this exporter version takes --extend.query-path")
  or BAIL_OUT("no --extend.query-path in:\n$help");

my $node = guard_node(
	'prometheus',
	conf => ["shared_preload_libraries = 'parallel_guard'"],
	tables => [ [ big => 100_000 ] ]);
# The holder below plans 8 workers on slow, one row per page: each of the 9
# participants has pages of its own to sleep on, so that all 8 workers stay
# alive (from 17 a sequential scan reads ahead: on a table of 9 pages of 222
# rows, the first participants took every page and 6 of the 8 workers
# exited at once, and the view rightly showed fewer workers held).
$node->safe_psql(
	'postgres', q{
	CREATE TABLE slow (k int, pad text) WITH (fillfactor = 10, parallel_workers = 8);
	INSERT INTO slow SELECT g, repeat('x', 600) FROM generate_series(1, 400) g;
	VACUUM ANALYZE slow;});
$node->safe_psql('postgres', 'CREATE DATABASE sales');
$node->safe_psql(
	'sales', q{
	CREATE EXTENSION parallel_guard;
	CREATE TABLE orders AS SELECT g AS k FROM generate_series(1, 100000) g;
	ALTER TABLE orders SET (parallel_workers = 4);
	VACUUM ANALYZE orders;});
# Batch roles: pgx_batch in postgres, pgx_etl in sales.
batch_role($node, 'pgx_batch', 'postgres', 'big', 'slow');
batch_role($node, 'pgx_etl', 'sales', 'orders');
# The exporter's role: pg_monitor, nothing else.
$node->safe_psql('postgres', 'CREATE ROLE pgx_exporter LOGIN; GRANT pg_monitor TO pgx_exporter');

# --- the exporter --------------------------------------------------------------
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $exporter_log = '';
my $exporter;
{
	local $ENV{DATA_SOURCE_NAME} =
		'host=' . $node->host . ' port=' . $node->port . ' user=pgx_exporter dbname=postgres sslmode=disable';
	$exporter = IPC::Run::start(
		[ $EXPORTER, "--extend.query-path=$QUERIES", "--web.listen-address=127.0.0.1:$port" ],
		'<', \undef, '>&', \$exporter_log);
}

# Stop the exporter this test started, whatever happened.
END { stop_process($exporter) }

my $http = HTTP::Tiny->new(timeout => 30);

# One scrape: { 'name' => [ { labels => {..}, value => v }, ... ] }, and the
# TYPE and HELP of each metric.
sub scrape
{
	my $res = $http->get("http://127.0.0.1:$port/metrics");
	die "scrape failed: $res->{status} $res->{reason}\n$exporter_log" unless $res->{success};
	note(join("\n", grep { /^(# \w+ )?parallel_guard_/ } split /\n/, $res->{content}));
	my (%m, %type, %help);
	for my $line (split /\n/, $res->{content})
	{
		if ($line =~ /^# TYPE (\S+) (\S+)/) { $type{$1} = $2; next; }
		if ($line =~ /^# HELP (\S+) (.*)/) { $help{$1} = $2; next; }
		next unless $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %l;
		$l{$1} = $2 while $labels =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		push @{ $m{$name} }, { labels => \%l, value => $value };
	}
	return { metrics => \%m, type => \%type, help => \%help };
}

my $deadline = time + 30;
my $first;
until ($first)
{
	$first = eval { scrape() };
	last if $first || time > $deadline;
	usleep(100_000);
}
ok($first, "the exporter answers on 127.0.0.1:$port") or BAIL_OUT("exporter: $exporter_log");

# The value of metric $name for the labels in %want ('' when there is none,
# 'dup' when several series match).
sub value
{
	my ($s, $name, %want) = @_;
	my @hits = grep {
		my $l = $_->{labels};
		!grep { ($l->{$_} // '') ne $want{$_} } keys %want
	} @{ $s->{metrics}{$name} // [] };
	return @hits == 1 ? $hits[0]{value} : @hits ? 'dup' : '';
}

# The label sets of metric $name, as sorted "database|role|x" strings.
sub series
{
	my ($s, $name, $x) = @_;
	return join(',', sort map { join('|', @{ $_->{labels} }{ 'database', 'role', $x }) }
		  @{ $s->{metrics}{$name} // [] });
}

sub no_scrape_error
{
	my ($s, $label) = @_;
	is(value($s, 'pg_exporter_last_scrape_error'), '0', "$label: the scrape had no error")
	  or diag($exporter_log);
	is(value($s, 'pg_up'), '1', "$label: the exporter is connected");
	return;
}

my $ctl = GuardTap::Session->new($node, 'control');

sub session
{
	my ($role, $db) = @_;
	return GuardTap::Session->new($node, "$role\@$db",
		$node->connstr($db) . " user=$role");
}

# --- the queue -----------------------------------------------------------------
# A run of target 8 holds the whole pool (max_parallel_workers = 8) for
# about 11 s; a run of target 4 in sales waits behind it.
my $holder = session('pgx_batch', 'postgres');
# pgx_etl's runs have priority 5 (a superuser's ALTER ROLE): the queue
# metrics show it.
$node->safe_psql('postgres', 'ALTER ROLE pgx_etl SET parallel_guard.priority = 5');
my $waiter = session('pgx_etl', 'sales');
my $n_hold = $holder->start("SELECT * FROM parallel_guard.run('CREATE TABLE held AS "
	  . "SELECT k FROM slow WHERE pg_sleep(0.25) IS NOT NULL', target => 8, min => 8, retries => 1)");
ok( poll_until(
		$node, "SELECT state || ':' || workers_held FROM parallel_guard.queue WHERE pid = " . $holder->pid,
		'running:8'),
	'queue: the first run holds the 8 workers');
my $n_wait = $waiter->start(
	"SELECT * FROM parallel_guard.run('CREATE TABLE waited AS SELECT k FROM orders', target => 4, min => 4, retries => 1)");
ok( poll_until(
		$node, "SELECT state FROM parallel_guard.queue WHERE pid = " . $waiter->pid, 'waiting'),
	'queue: the second run waits');

my $queue_sql = "SELECT database || '|' || usename || '|' || state || '|' || count(*) || '|' "
  . "|| sum(target) || '|' || sum(workers_held) || '|' || sum(reserved_workers) "
  . "FROM parallel_guard.queue GROUP BY database, usename, state ORDER BY 1";
my $before = $ctl->query($queue_sql);
my $s = scrape();
my $after = $ctl->query($queue_sql);
my ($wait_after, $queued_after) = split /\|/, $ctl->query("SELECT extract(epoch FROM now() - waiting_since), "
	  . "extract(epoch FROM waited) FROM parallel_guard.queue WHERE pid = " . $waiter->pid);
is($after, $before, 'queue: unchanged around the scrape');
my @scraped;
for my $g (sort map { join('|', @{ $_->{labels} }{qw(database role state)}) }
	@{ $s->{metrics}{parallel_guard_queue_runs} // [] })
{
	my ($db, $role, $state) = split /\|/, $g;
	my %l = (database => $db, role => $role, state => $state);
	push @scraped, join('|', $g,
		map { value($s, "parallel_guard_queue_$_", %l) }
		  qw(runs target_workers workers_held reserved_workers));
}
is(join("\n", @scraped), $after,
	'queue metrics: runs, target_workers, workers_held, reserved_workers by database, role and state '
	  . 'match parallel_guard.queue');
is(join("\n", map { s/\|[^|]*$//r } @scraped), "postgres|pgx_batch|running|1|8|8\nsales|pgx_etl|waiting|1|4|0",
	'queue metrics: the running run holds 8 workers, the waiting one is in sales under pgx_etl');
my $longest = value($s, 'parallel_guard_queue_longest_wait_seconds',
	database => 'sales', role => 'pgx_etl', state => 'waiting');
ok($longest =~ /^[\d.e+-]+$/ && $longest > 0 && $longest <= $wait_after,
	"queue metrics: longest_wait_seconds of the waiting run ($longest) is its time in the queue so far ($wait_after)");
my $queued = value($s, 'parallel_guard_queue_longest_queued_seconds',
	database => 'sales', role => 'pgx_etl', state => 'waiting');
ok($queued =~ /^[\d.e+-]+$/ && $queued > 0 && $queued <= $queued_after,
	"queue metrics: longest_queued_seconds of the waiting run ($queued) is its column waited so far ($queued_after)");
is(join(',', map { value($s, 'parallel_guard_queue_highest_priority', %$_) }
		{ database => 'postgres', role => 'pgx_batch', state => 'running' },
		{ database => 'sales', role => 'pgx_etl', state => 'waiting' }),
	'0,5', 'queue metrics: highest_priority is 0 for the running run, 5 for the waiting run of pgx_etl');
for my $m (map { "parallel_guard_queue_$_" }
	qw(runs target_workers workers_held reserved_workers longest_wait_seconds longest_queued_seconds
	highest_priority))
{
	is($s->{type}{$m}, 'gauge', "$m is typed gauge");
	ok(($s->{help}{$m} // '') =~ /\w/, "$m has a description");
}
no_scrape_error($s, 'queue');

is($ctl->query('SELECT pg_cancel_backend(' . $waiter->pid . '), pg_cancel_backend(' . $holder->pid . ')'),
	"t|t", 'both runs cancelled');
is($waiter->result($n_wait)->{sqlstate}, '57014', 'the waiting run ends with 57014');
is($holder->result($n_hold)->{sqlstate}, '57014', 'the running run ends with 57014');
ok(poll_until($node, $LEFTOVER_SQL, '0'), 'no guard or parallel worker is left');
$s = scrape();
is(scalar @{ $s->{metrics}{parallel_guard_queue_runs} // [] }, 0,
	'queue metrics: no series once the queue is empty');

# --- the history ---------------------------------------------------------------
my $r;
for my $t (qw(met_1 met_2))
{
	$r = $holder->run("SELECT * FROM parallel_guard.run('CREATE TABLE $t AS SELECT k FROM big', 4, 2, 3)");
	like($r->{out}, qr/^4\|1\|t\|4\|100000\|met\|\d+$/, "history: $t met its target");
}
$r = $holder->run("SET max_parallel_workers = 1; SELECT * FROM parallel_guard.run("
	  . "'CREATE TABLE short AS SELECT k FROM big', target => 2, min => 2, retries => 2, delay => '0')");
is($r->{sqlstate}, '53000', 'history: short fell below min (53000)');
$holder->query('RESET max_parallel_workers');
$r = $waiter->run("SELECT * FROM parallel_guard.run('CREATE TABLE etl_met AS SELECT k FROM orders', 4, 4, 3)");
like($r->{out}, qr/^4\|1\|t\|4\|100000\|met\|\d+$/, 'history: etl_met met its target');
$r = $waiter->run("SELECT * FROM parallel_guard.run('CREATE TABLE etl_small AS SELECT k FROM orders', 8, 6, 3)");
is($r->{sqlstate}, '55000', 'history: etl_small had a plan too small for min (55000)');

# parallel_guard.history, summed here from its rows.
my %hist;
for my $row (split /\n/,
	$ctl->query("SELECT database, usename, verdict, attempts, coalesce(achieved_workers, 0), "
		  . "coalesce(row_count, 0), extract(epoch FROM ended - started), extract(epoch FROM ended) "
		  . "FROM parallel_guard.history"))
{
	my ($db, $role, $verdict, $attempts, $workers, $rows, $secs, $end) = split /\|/, $row;
	my $h = $hist{"$db|$role|$verdict"} //= { runs => 0, attempts => 0, achieved_workers => 0,
		rows_written => 0, seconds => 0, last_end_time_seconds => 0 };
	$h->{runs}++;
	$h->{attempts} += $attempts;
	$h->{achieved_workers} += $workers;
	$h->{rows_written} += $rows;
	$h->{seconds} += $secs;
	$h->{last_end_time_seconds} = $end if $end > $h->{last_end_time_seconds};
}
is( join(',', map { "$_=$hist{$_}{runs}" } sort keys %hist),
	'postgres|pgx_batch|below_min=1,postgres|pgx_batch|cancelled=1,postgres|pgx_batch|met=2,'
	  . 'sales|pgx_etl|cancelled=1,sales|pgx_etl|met=1,sales|pgx_etl|plan_too_small=1',
	'history: the runs the test made, by database, role and verdict');

$s = scrape();
is(series($s, 'parallel_guard_history_runs', 'verdict'), join(',', sort keys %hist),
	'history metrics: one series per database, role and verdict of the history, no other');
for my $g (sort keys %hist)
{
	my ($db, $role, $verdict) = split /\|/, $g;
	for my $m (qw(runs attempts achieved_workers rows_written seconds last_end_time_seconds))
	{
		my $got = value($s, "parallel_guard_history_$m", database => $db, role => $role, verdict => $verdict);
		my $want = $hist{$g}{$m};
		ok($got ne '' && $got ne 'dup' && abs($got - $want) <= 1e-3 * (1 + abs($want)),
			"history metrics: parallel_guard_history_$m\{$g\} = $want (got $got)");
	}
}
is(value($s, 'parallel_guard_history_attempts', database => 'postgres', role => 'pgx_batch',
		verdict => 'below_min'), '2', 'history metrics: the below-min run made 2 attempts');
is(value($s, 'parallel_guard_history_rows_written', database => 'postgres', role => 'pgx_batch',
		verdict => 'met'), '200000', 'history metrics: the two met runs wrote 200000 rows');
for my $m (map { "parallel_guard_history_$_" }
	qw(runs attempts achieved_workers rows_written seconds last_end_time_seconds))
{
	is($s->{type}{$m}, 'gauge', "$m is typed gauge");
	ok(($s->{help}{$m} // '') =~ /\w/, "$m has a description");
}
no_scrape_error($s, 'history');

# --- the cumulative stats --------------------------------------------------------
# parallel_guard.stats and parallel_guard.history count the same runs here
# (all of them fit in the history): each metric matches the view, and the
# runs and attempts match the history.
my %verdicts = map { (split /\|/)[2] => 1 } keys %hist;
$verdicts{$_} = 1 for qw(met plan_limited accepted_short below_min plan_too_small not_run not_guarded error cancelled);
my @stats_cols = qw(attempts short_attempts queued_ms ordinary_launches_held_back ordinary_workers_withheld);
my $stats = $ctl->query("SELECT database, usename, "
	  . join(', ', map { "runs_$_" } sort keys %verdicts) . ', '
	  . join(', ', @stats_cols) . ", extract(epoch FROM stats_reset) FROM parallel_guard.stats");
my %stat_rows;
for my $row (split /\n/, $stats)
{
	my ($db, $role, @v) = split /\|/, $row;
	my %r;
	@r{ (map { "runs_$_" } sort keys %verdicts), @stats_cols, 'reset' } = @v;
	$stat_rows{"$db|$role"} = \%r;
}
is(join(',', sort keys %stat_rows), 'postgres|pgx_batch,sales|pgx_etl',
	'stats: one row per database and role that ran guarded jobs');
for my $dr (sort keys %stat_rows)
{
	my ($db, $role) = split /\|/, $dr;
	my $r = $stat_rows{$dr};
	my %l = (database => $db, role => $role);
	for my $verdict (sort keys %verdicts)
	{
		my $got = value($s, 'parallel_guard_stats_runs_total', %l, verdict => $verdict);
		is($got, $r->{"runs_$verdict"},
			"stats metrics: parallel_guard_stats_runs_total{$dr|$verdict} = runs_$verdict of parallel_guard.stats");
		is($got, $hist{"$dr|$verdict"}{runs} // 0,
			"stats metrics: parallel_guard_stats_runs_total{$dr|$verdict} = the runs of parallel_guard.history");
	}
	my $hist_attempts = 0;
	$hist_attempts += $hist{$_}{attempts} for grep { /^\Q$dr\E\|/ } keys %hist;
	is(value($s, 'parallel_guard_stats_attempts_total', %l), $hist_attempts,
		"stats metrics: attempts_total{$dr} = the attempts of parallel_guard.history");
	for my $c (@stats_cols)
	{
		my $name = $c eq 'queued_ms' ? 'queued_seconds_total' : "${c}_total";
		my $want = $c eq 'queued_ms' ? $r->{$c} / 1000 : $r->{$c};
		my $got = value($s, "parallel_guard_stats_$name", %l);
		ok($got ne '' && abs($got - $want) <= 1e-6 * (1 + abs($want)),
			"stats metrics: parallel_guard_stats_$name\{$dr\} = $want (got $got)");
	}
	my $got = value($s, 'parallel_guard_stats_reset_time_seconds', %l);
	ok($got ne '' && abs($got - $r->{reset}) < 1e-3,
		"stats metrics: reset_time_seconds{$dr} is stats_reset ($r->{reset}, got $got)");
}
is(value($s, 'parallel_guard_stats_short_attempts_total', database => 'postgres', role => 'pgx_batch'),
	'2', 'stats metrics: short_attempts_total counts both attempts of the below-min run, each '
	  . 'launched fewer than its goal (the first retried, the last below min)');
for my $m (map { "parallel_guard_stats_$_" }
	qw(runs_total attempts_total short_attempts_total queued_seconds_total
	ordinary_launches_held_back_total ordinary_workers_withheld_total))
{
	is($s->{type}{$m}, 'counter', "$m is typed counter");
}

$holder->quit;
$waiter->quit;
$ctl->quit;
$node->stop;
done_testing();
