
# 057_lock_cycles.pl: a guarded statement whose lock request waits, through
# other sessions' lock waits, for a lock its own caller holds fails at once
# with SQLSTATE 55000 and the PIDs of the chain, instead of waiting until
# statement_timeout (or forever).  PostgreSQL's deadlock detector cannot
# see such a cycle: the caller waits for its worker on a latch, not a lock.
#
#  - queued behind: A reads t1 in an open transaction; X's ALTER TABLE t1
#    waits for A; A's run() reading t1 queues behind X (a soft block, as
#    pg_blocking_pids() reports it), X waits for A, A for its worker;
#  - two sessions deep: Y holds t2 and queues on t1 behind X; A's run()
#    reading t2 waits for Y, Y for X, X for A.
# Each call runs under statement_timeout = 20s: a guard that did not see the
# cycle fails with 57014 after 20 s.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(usleep);

my $node = guard_node('lock_cycles', tables => [ [ t1 => 20000 ], [ t2 => 20000 ] ]);
my $a = GuardTap::Session->new($node, 'A');
my $x = GuardTap::Session->new($node, 'X');
my $y = GuardTap::Session->new($node, 'Y');
$a->query($GUARD_SETTINGS);

sub waits_for_lock
{
	my ($s) = @_;
	return $a->poll(
		"SELECT wait_event_type FROM pg_stat_activity WHERE pid = " . $s->pid, 'Lock', 30);
}

sub guarded_read
{
	my ($table, $into) = @_;
	return $a->run("SET statement_timeout = '20s'; SELECT * FROM parallel_guard.run("
		  . "'CREATE TABLE $into AS SELECT count(*) FROM $table', "
		  . "target => 1, min => 0, retries => 1, delay => '0')", 40);
}

# --- queued behind a request that waits for the caller ----------------------------
$a->query('BEGIN; SELECT count(*) FROM t1');
my $xn = $x->start('ALTER TABLE t1 ADD COLUMN z int');
ok(waits_for_lock($x), 'queued behind: X\'s ALTER TABLE waits for A');
my $r = guarded_read('t1', 'lc1');
is($r->{sqlstate}, '55000', 'queued behind: run() fails with 55000')
  or diag("$r->{sqlstate} after $r->{elapsed} s: $r->{err}");
cmp_ok($r->{elapsed}, '<', 10, 'queued behind: at once, not at statement_timeout');
like($r->{err}, qr/would wait for itself/, 'queued behind: the message says why');
like($r->{err}, qr/background worker PID \d+ waits for PID ${\ $x->pid }, which waits for a lock held by PID ${\ $a->pid }/,
	'queued behind: the detail names the chain: worker, X, caller');
$a->query('ROLLBACK');
is($x->result($xn)->{sqlstate}, '00000', 'queued behind: X\'s ALTER TABLE ran once A rolled back');
is($a->query("SELECT to_regclass('lc1') IS NULL"), 't', 'queued behind: nothing created');

# --- two sessions deep -----------------------------------------------------------
$a->query('BEGIN; SELECT count(*) FROM t1');
$xn = $x->start('ALTER TABLE t1 DROP COLUMN z');
ok(waits_for_lock($x), 'two deep: X waits for A');
$y->query('BEGIN; LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE');
my $yn = $y->start('LOCK TABLE t1 IN ACCESS SHARE MODE');
ok(waits_for_lock($y), 'two deep: Y, holding t2, queues on t1 behind X');
$r = guarded_read('t2', 'lc2');
is($r->{sqlstate}, '55000', 'two deep: run() fails with 55000')
  or diag("$r->{sqlstate} after $r->{elapsed} s: $r->{err}");
cmp_ok($r->{elapsed}, '<', 10, 'two deep: at once, not at statement_timeout');
like($r->{err},
	qr/background worker PID \d+ waits for PID ${\ $y->pid }, which waits for PID ${\ $x->pid }, which waits for a lock held by PID ${\ $a->pid }/,
	'two deep: the detail names the chain: worker, Y, X, caller');
$a->query('ROLLBACK');
is($x->result($xn)->{sqlstate}, '00000', 'two deep: X ran once A rolled back');
is($y->result($yn)->{sqlstate}, '00000', 'two deep: Y got its lock');
$y->query('COMMIT');

# --- no cycle: a wait for another session is no error ------------------------------
$y->query('BEGIN; LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE');
my $an = $a->start("SELECT achieved_workers, attempts FROM parallel_guard.run("
	  . "'CREATE TABLE lc3 AS SELECT count(*) FROM t2', target => 1, min => 0, retries => 1, delay => '0')");
ok($x->poll("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel_guard' AND wait_event_type = 'Lock'", '1', 30),
	'no cycle: the worker waits for Y\'s lock');
usleep(300_000);    # three rounds of the watcher's lock check
ok(!$a->finished($an), 'no cycle: the call keeps waiting while Y holds its lock (no false alarm)');
$y->query('COMMIT');
$r = $a->result($an);
is($r->{sqlstate}, '00000', 'no cycle: the call completes once Y commits') or diag($r->{err});
like($r->{out}, qr/^\d+\|1$/, 'no cycle: in one attempt');

$_->quit for $a, $x, $y;
done_testing();
