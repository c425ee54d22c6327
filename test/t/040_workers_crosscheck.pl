
# 040_workers_crosscheck.pl: achieved_workers is what the accepted attempt
# really launched, as PostgreSQL itself reports it.
#
# auto_explain (log_analyze) logs the plan of every CREATE TABLE AS that
# completes in a guard worker, with "Workers Planned: N" and "Workers
# Launched: N" of its Gather, under the worker's PID (log_line_prefix
# '%m [%p] ').  The extension's LOG line of each attempt names that PID.
# For each call we compare:
#   achieved_workers / planned_workers of the result,
#   launched= / planned= of the attempt's LOG line,
#   Workers Launched / Workers Planned that auto_explain logged for the PID.
# Attempts that were rolled back are cancelled (SIGINT) right after their
# verdict, so auto_explain may not log them: they are compared only when it
# did.  The accepted attempt always completes, so it is always compared.
# Scenarios: the free pool (4 launched); the pool capped at 2 (two attempts,
# the last accepted); parallel_leader_participation off (the leader never runs
# the Gather's child) with a small table and with a long one, capped at 2 and
# 3 workers.  An attempt LOG line with counted=lock_group was counted in the
# worker's lock group at the verdict: it may only be lower than what was
# launched; counted=gather must be exact.  achieved_workers must always be
# exact.
#
# From PostgreSQL 18 on, the server counts parallel workers itself, at the
# end of each statement's executor (EState.es_parallel_workers_to_launch /
# es_parallel_workers_launched): pg_stat_statements (track = all, so the
# query inside the worker's CREATE TABLE AS is a row of its own) and
# pg_stat_database.  A rolled-back attempt counts there only if its
# statement had reached that end before the cancel, exactly when auto_explain
# (whose hook runs at the same point) logged it.  So for each call:
# pg_stat_statements' calls = 1 + such attempts, parallel_workers_launched =
# achieved_workers + their Workers Launched, parallel_workers_to_launch =
# planned_workers + their Workers Planned (one Gather each), and the
# database's counters grow by as much during the call.  Below 18 these
# checks are skipped.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $BIG = 1_000_000;
my $SMALL = 20_000;
# The server's major version, from the pg_config that PGXS put first in PATH.
my ($MAJOR) = `pg_config --version` =~ /PostgreSQL (\d+)/
  or die "cannot tell the PostgreSQL version from pg_config";
my $COUNTERS = $MAJOR >= 18;
my $node = guard_node(
	'crosscheck',
	conf => [
		"shared_preload_libraries = 'auto_explain"
		  . ($COUNTERS ? ", pg_stat_statements'" : "'"),
		"auto_explain.log_min_duration = 0",
		"auto_explain.log_analyze = on",
		"auto_explain.log_timing = off",
		($COUNTERS ? ("pg_stat_statements.track = all") : ()),
	],
	tables => [ [ big => $BIG ], [ small => $SMALL ] ]);
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements') if $COUNTERS;

my $s = GuardTap::Session->new($node, 'caller');
$s->query($GUARD_SETTINGS);

# The database's parallel worker counters (18+), read from a new session
# that plans no parallel query of its own.
sub database_counters
{
	my $out = $node->safe_psql('postgres',
		'SET max_parallel_workers_per_gather = 0; '
		  . 'SELECT parallel_workers_to_launch, parallel_workers_launched '
		  . 'FROM pg_stat_database WHERE datname = current_database()');
	return split /\|/, $out;
}

# PostgreSQL's own counts for the guarded statement (18+): its row in
# pg_stat_statements and what the database's counters grew by.
sub server_counts
{
	my ($source, $db_before) = @_;
	my %c;
	# Every guarded CREATE TABLE AS has the same query ID (the new table's
	# name is not part of it), so the entries were reset before the call.
	@c{qw(calls to_launch launched)} = split /\|/,
	  $node->safe_psql('postgres',
		'SET max_parallel_workers_per_gather = 0; '
		  . 'SELECT sum(calls), sum(parallel_workers_to_launch), '
		  . 'sum(parallel_workers_launched) FROM pg_stat_statements '
		  . "WHERE NOT toplevel AND query LIKE 'CREATE TABLE % AS SELECT k FROM $source'");
	my @after = database_counters();
	$c{db_to_launch} = $after[0] - $db_before->[0];
	$c{db_launched} = $after[1] - $db_before->[1];
	return \%c;
}

# auto_explain's entries for CREATE TABLE AS statements, by PID.
sub explained
{
	my ($log) = @_;
	my %by_pid;
	for my $entry (split /(?=^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+ \[\d+\] )/m, $log)
	{
		next
		  unless $entry =~
		  /\A\S+ \S+ \S+ \[(\d+)\] LOG:  duration: [\d.]+ ms  plan:\n\s*Query Text: CREATE TABLE/;
		push @{ $by_pid{$1} },
		  {
			planned => [ $entry =~ /Workers Planned: (\d+)/g ],
			launched => [ $entry =~ /Workers Launched: (\d+)/g ],
		  };
	}
	return \%by_pid;
}

# Runs a guarded call and cross-checks it; returns the attempts' LOG lines.
sub crosscheck
{
	my (%c) = @_;
	my $label = $c{label};
	$s->query($_) for @{ $c{setup} // [] };
	my @db_before;
	if ($COUNTERS)
	{
		# The caller's own earlier statements' counts reach the shared
		# statistics when it goes idle after this one, before the snapshot.
		$s->query('SELECT pg_stat_force_next_flush()');
		@db_before = database_counters();
		$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');
	}
	my $off = log_offset($node);
	my $r = $s->run("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $c{table} AS SELECT k FROM $c{source}', $c{args})");
	my $server = $COUNTERS ? server_counts($c{source}, \@db_before) : undef;
	$s->query($_) for @{ $c{teardown} // [] };
	is($r->{sqlstate}, '00000', "$label: the call succeeds") or diag($r->{err});
	my ($achieved, $attempts, $met, $planned, $rows) = split /\|/, $r->{out};
	$achieved //= -1;

	my $log = log_since($node, $off);
	my @att = parse_attempts($log);
	my $ex = explained($log);
	is(scalar(@att), $c{attempts}, "$label: $c{attempts} attempt LOG line(s)");
	is($attempts, $c{attempts}, "$label: attempts = $c{attempts}");
	is($achieved, $c{achieved}, "$label: achieved_workers = $c{achieved}");
	is($rows, $c{rows}, "$label: row_count = $c{rows}");

	my $compared = 0;
	my %early = (calls => 0, launched => 0, planned => 0); # rolled back, yet logged
	for my $a (@att)
	{
		my $what = "$label, attempt $a->{number} (PID $a->{worker_pid}, $a->{verdict})";
		my $entries = $ex->{ $a->{worker_pid} } // [];
		my $last = $a->{number} == scalar(@att);
		if ($last)
		{
			is(scalar(@$entries), 1, "$what: auto_explain logged its statement once");
		}
		else
		{
			cmp_ok(scalar(@$entries), '<=', 1,
				"$what: auto_explain logged its statement at most once");
		}
		next unless @$entries;
		my $e = $entries->[0];
		is(scalar(@{ $e->{launched} }), 1, "$what: one Gather in the plan");
		my ($ae_launched, $ae_planned) = ($e->{launched}[0] // -1, $e->{planned}[0] // -1);
		if ($a->{counted} eq 'gather')
		{
			is($a->{launched}, $ae_launched,
				"$what: LOG launched=$a->{launched} is auto_explain's Workers Launched");
		}
		else
		{
			# Counted in the lock group at the verdict: never more than launched.
			cmp_ok($a->{launched}, '<=', $ae_launched,
				"$what: LOG launched=$a->{launched} (lock group) does not exceed Workers Launched");
		}
		is($a->{planned}, $ae_planned,
			"$what: LOG planned=$a->{planned} is auto_explain's Workers Planned");
		if (!$last)
		{
			$early{calls}++;
			$early{launched} += $ae_launched;
			$early{planned} += $ae_planned;
		}
		if ($last)
		{
			is($achieved, $ae_launched,
				"$what: achieved_workers $achieved is auto_explain's Workers Launched");
			is($planned, $ae_planned,
				"$what: planned_workers $planned is auto_explain's Workers Planned");
		}
		$compared++;
	}
	note("$label: compared $compared of " . scalar(@att) . " attempts with auto_explain");

  SKIP:
	{
		skip "PostgreSQL $MAJOR counts no parallel workers in pg_stat_statements "
		  . "or pg_stat_database (they do from 18 on)", 5
		  unless $COUNTERS;
		my $extra = $early{calls}
		  ? " + $early{calls} rolled-back attempt(s) that auto_explain logged"
		  : '';
		is($server->{calls}, 1 + $early{calls},
			"$label: pg_stat_statements calls = the accepted attempt$extra");
		is($server->{launched}, $achieved + $early{launched},
			"$label: pg_stat_statements parallel_workers_launched = achieved_workers $achieved$extra");
		is($server->{to_launch}, $planned + $early{planned},
			"$label: pg_stat_statements parallel_workers_to_launch = planned_workers $planned$extra");
		is($server->{db_launched}, $achieved + $early{launched},
			"$label: pg_stat_database parallel_workers_launched grew by as much");
		is($server->{db_to_launch}, $planned + $early{planned},
			"$label: pg_stat_database parallel_workers_to_launch grew by as much");
	}
	is($s->query("SELECT count(*) FROM $c{table}"), $c{rows}, "$label: the table is complete");
	return @att;
}

# --- the pool is free: 4 launched -----------------------------------------
crosscheck(
	label => 'free pool',
	table => 'x_free',
	source => 'big',
	args => "4, 2, 1",
	attempts => 1,
	achieved => 4,
	rows => $BIG);

# --- the session caps the pool at 2: two short attempts, the last accepted --
crosscheck(
	label => 'pool capped at 2',
	table => 'x_capped',
	source => 'big',
	args => "4, 2, 2, '0'",
	setup => ['SET max_parallel_workers = 2'],
	teardown => ['RESET max_parallel_workers'],
	attempts => 2,
	achieved => 2,
	rows => $BIG);

# --- the leader does not participate and the statement is short; a long
# settle_time keeps the lock group from deciding before the exact count.
crosscheck(
	label => 'no leader participation, pool capped at 2',
	table => 'x_noleader',
	source => 'small',
	args => "4, 2, 2, '0'",
	setup => [
		'SET parallel_leader_participation = off',
		"SET parallel_guard.settle_time = '10s'",
		'SET max_parallel_workers = 2'
	],
	teardown => [
		'RESET parallel_leader_participation',
		'RESET parallel_guard.settle_time',
		'RESET max_parallel_workers'
	],
	attempts => 2,
	achieved => 2,
	rows => $SMALL);

# --- the leader does not participate and the statement is long, capped at 3.
# min 0: whatever count the verdict used is accepted; the count is what is
# checked.
crosscheck(
	label => 'no leader participation, pool capped at 3',
	table => 'x_noleader3',
	source => 'big',
	args => "4, 0, 1",
	setup => [ 'SET parallel_leader_participation = off', 'SET max_parallel_workers = 3' ],
	teardown => [ 'RESET parallel_leader_participation', 'RESET max_parallel_workers' ],
	attempts => 1,
	achieved => 3,
	rows => $BIG);

$s->quit;
$node->stop;
done_testing();
