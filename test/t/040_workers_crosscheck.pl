
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

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $BIG = 1_000_000;
my $SMALL = 20_000;
my $node = guard_node(
	'crosscheck',
	conf => [
		"shared_preload_libraries = 'auto_explain'",
		"auto_explain.log_min_duration = 0",
		"auto_explain.log_analyze = on",
		"auto_explain.log_timing = off",
	],
	tables => [ [ big => $BIG ], [ small => $SMALL ] ]);

my $s = GuardTap::Session->new($node, 'caller');
$s->query($GUARD_SETTINGS);

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
	my $off = log_offset($node);
	my $r = $s->run("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $c{table} AS SELECT k FROM $c{source}', $c{args})");
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
	for my $a (@att)
	{
		my $what = "$label, attempt $a->{number} (PID $a->{pid}, $a->{verdict})";
		my $entries = $ex->{ $a->{pid} } // [];
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
