
# 010_retries_meaning.pl: what `retries` and `delay` of parallel_guard.run()
# mean, counted in the returned row, the NOTICEs and the server's LOG lines.
#
#  - retries counts attempts in all: 1 is one attempt and no retry; 3 is
#    exactly three attempts;
#  - when the last attempt launches fewer than min workers the call fails
#    with SQLSTATE 53000 after exactly `retries` attempts and nothing is
#    committed;
#  - delay is waited between attempts, neither before the first attempt nor
#    after the last one (nor after an attempt that met the target).
#
# A shortfall is forced with SET max_parallel_workers = 2 in the caller's
# session, which the registering worker honours (bgworker.c).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time);
use Time::Local qw(timegm);

my $ROWS = 200_000;
my $node = guard_node('retries', tables => [ [ big => $ROWS ] ]);
my $s = GuardTap::Session->new($node, 'caller');
$s->query($GUARD_SETTINGS);

# Runs one guarded CTAS of `big` into $table; returns the result of psql,
# the attempt LOG lines and run LOG lines written for this call.
sub guarded
{
	my ($table, $args) = @_;
	my $off = log_offset($node);
	my $r = $s->run("SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $table AS SELECT k FROM big', $args)");
	# The server writes its log lines straight to the file (no logging
	# collector) before the function returns.
	my $log = log_since($node, $off);
	return ($r, [ parse_attempts($log) ], [ parse_runs($log) ]);
}

# "2024-01-01 10:00:00.123" -> milliseconds, an integer (UTC; only
# differences are used)
sub log_ms
{
	my ($ts) = @_;
	my ($y, $mo, $d, $h, $mi, $sec, $ms) =
	  $ts =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d{3})$/
	  or die "bad log timestamp $ts";
	return timegm($sec, $mi, $h, $d, $mo - 1, $y) * 1000 + $ms;
}

sub table_rows
{
	my ($table) = @_;
	return 'absent'
	  if $s->query("SELECT to_regclass('$table') IS NULL") eq 't';
	return $s->query("SELECT count(*) FROM $table");
}

$s->query('SET max_parallel_workers = 2');

# --- retries => 1: one attempt, no retry, and no delay around it ----------
# The delay of 10 minutes would show up as a timeout of the call if it were
# waited before the first attempt or after the last.
{
	my ($r, $att, $runs) = guarded('t_one', "4, 2, 1, '10 min'");
	is($r->{sqlstate}, '00000', 'retries 1: the call succeeds')
	  or diag($r->{err});
	like($r->{out}, qr/^2\|1\|f\|4\|$ROWS\|accepted_short\|\d*$/,
		'retries 1: achieved 2, attempts 1, target not met, planned 4, all rows, accepted_short');
	is(scalar(@$att), 1, 'retries 1: exactly one attempt LOG line');
	is(join(',', map { "$_->{number}/$_->{of}:$_->{verdict}" } @$att),
		'1/1:accepted_short', 'retries 1: the LOG line is attempt=1/1, accepted');
	is_deeply([ notices($r->{err}) ], ['1 of 1'],
		'retries 1: exactly one NOTICE, "attempt 1 of 1"');
	is(scalar(@$runs), 1, 'retries 1: one run LOG line');
	is($runs->[0]{attempts}, 1, 'retries 1: the run LOG line says attempts=1');
	is(table_rows('t_one'), $ROWS, 'retries 1: the table holds every row');
}

# --- retries => 3: exactly three attempts, `delay` between them ------------
{
	my $t0 = time;
	my ($r, $att, $runs) = guarded('t_three', "4, 2, 3, '1 s'");
	my $wall = time - $t0;
	is($r->{sqlstate}, '00000', 'retries 3: the call succeeds')
	  or diag($r->{err});
	like($r->{out}, qr/^2\|3\|f\|4\|$ROWS\|accepted_short\|\d*$/,
		'retries 3: achieved 2, attempts 3, target not met, planned 4, all rows, accepted_short');
	is(scalar(@$att), 3, 'retries 3: exactly three attempt LOG lines');
	is( join(',', map { "$_->{number}/$_->{of}:$_->{verdict}" } @$att),
		'1/3:short,2/3:short,3/3:accepted_short',
		'retries 3: attempts 1 and 2 rolled back, attempt 3 accepted');
	is(join(',', map { $_->{launched} } @$att),
		'2,2,2', 'retries 3: every attempt launched 2 workers');
	my %pids = map { $_->{worker_pid} => 1 } @$att;
	is(scalar(keys %pids), 3, 'retries 3: each attempt ran in its own worker');
	is_deeply([ notices($r->{err}) ], [ '1 of 3', '2 of 3', '3 of 3' ],
		'retries 3: NOTICEs "attempt 1 of 3", "2 of 3", "3 of 3", in order');
	is($runs->[0]{attempts}, 3, 'retries 3: the run LOG line says attempts=3');
	is(table_rows('t_three'), $ROWS, 'retries 3: the table holds every row');

	# Lower bounds only: the machine may be slow, never fast beyond physics.
	cmp_ok($wall, '>=', 2.0,
		'retries 3, delay 1 s: the call takes at least two delays');
	if (@$att == 3)
	{
		for my $i (1, 2)
		{
			my $gap = log_ms($att->[$i]{time}) - log_ms($att->[ $i - 1 ]{time});
			cmp_ok($gap, '>=', 1000,
				"retries 3: attempt " . ($i + 1) . " began at least 1 s after the verdict of attempt $i");
		}
	}
}

# --- min 3, retries 2: SQLSTATE 53000 after exactly two attempts ----------
{
	my ($r, $att, $runs) = guarded('t_fail', "4, 3, 2, '100 ms'");
	is($r->{sqlstate}, '53000', 'min 3, retries 2: the call fails with SQLSTATE 53000')
	  or diag($r->{err});
	is(scalar(@$att), 2, 'min 3, retries 2: exactly two attempt LOG lines');
	is(join(',', map { "$_->{number}/$_->{of}:$_->{verdict}" } @$att),
		'1/2:short,2/2:below_min',
		'min 3, retries 2: attempt 1 short, attempt 2 below min');
	is_deeply([ notices($r->{err}) ], [ '1 of 2', '2 of 2' ],
		'min 3, retries 2: NOTICEs "attempt 1 of 2" and "attempt 2 of 2"');
	like($r->{err}, qr/DETAIL:.*Attempt 1 of 2\b.*Attempt 2 of 2\b/,
		'min 3, retries 2: the DETAIL lists both attempts');
	unlike($r->{err}, qr/Attempt 3\b/, 'min 3, retries 2: the DETAIL lists no third attempt');
	is($runs->[0]{verdict}, 'below_min', 'min 3, retries 2: the run LOG line says below_min');
	is(table_rows('t_fail'), 'absent', 'min 3, retries 2: the table does not exist');
}

# --- retries => 0 is refused before any attempt -------------------------
{
	my ($r, $att) = guarded('t_zero', "4, 2, 0, '0'");
	is($r->{sqlstate}, '22023', 'retries 0: invalid parameter value');
	is(scalar(@$att), 0, 'retries 0: no attempt was made');
	is(table_rows('t_zero'), 'absent', 'retries 0: the table does not exist');
}

# --- the target met on the first attempt: no delay after it ---------------
$s->query('RESET max_parallel_workers');
{
	my ($r, $att) = guarded('t_met', "4, 2, 3, '10 min'");
	is($r->{sqlstate}, '00000',
		'target met at once: returns without waiting the 10 min delay')
	  or diag($r->{timeout} ? 'the call did not return' : $r->{err});
	like($r->{out}, qr/^4\|1\|t\|4\|$ROWS\|met\|\d*$/,
		'target met at once: achieved 4, attempts 1, target met');
	is(join(',', map { "$_->{number}/$_->{of}:$_->{verdict}" } @$att),
		'1/3:met', 'target met at once: a single attempt LOG line, verdict met');
}

$s->quit;
$node->stop;
done_testing();
