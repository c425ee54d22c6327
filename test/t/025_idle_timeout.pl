# 025_idle_timeout.pl: the caller's idle_in_transaction_session_timeout
# behaves as users expect (README, Safety and semantics, "No hang").
#
#  - A guarded call that runs longer than the caller's
#    idle_in_transaction_session_timeout inside BEGIN ... is not idle: it
#    returns its row; the worker, which takes the caller's settings, is not
#    cut off by the timeout either (it is a background worker, never idle in
#    a client's sense).
#  - Once the call has returned, the caller idle in its transaction block is
#    terminated by the timeout (57P05) as for any statement; the worker had
#    committed on its own, so the table stays (README: transaction semantics),
#    and nothing else is left behind.
#  - The same with idle_session_timeout outside a transaction block: the call
#    itself is not cut off.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node('idle', tables => [ [ slow => 600 ], [ big => 100_000 ] ]);
my $ctl = GuardTap::Session->new($node, 'control');

# About 3 s with 4 workers and the leader (600 rows x 25 ms / 5).
my $SLOW = 'SELECT k FROM slow WHERE pg_sleep(0.025) IS NOT NULL';

{
	my $label = 'idle_in_transaction_session_timeout 1 s, a 3 s call in BEGIN';
	my $c = GuardTap::Session->new($node, 'caller_iit');
	my $offset = log_offset($node);
	$c->query($GUARD_SETTINGS);
	$c->query("SET idle_in_transaction_session_timeout = '1s'");
	$c->query('BEGIN');
	my $r = $c->run(
		"SELECT achieved_workers, row_count FROM parallel_guard.run("
		  . "'CREATE TABLE it_slow AS $SLOW', 4, 2, 1)", 60);
	is("$r->{sqlstate}|$r->{out}", '00000|4|600', "$label: the call returns its row")
	  or diag($r->{err});
	cmp_ok($r->{elapsed}, '>', 1.5,
		"$label: the call did run longer than the timeout (so the test means something)");
	unlike($r->{err}, qr/57P05|idle-in-transaction/, "$label: no idle timeout during the call");

	# Now idle in the transaction block: terminated like any session (psql
	# itself only notices at its next statement).
	ok($ctl->poll('SELECT count(*) FROM pg_stat_activity WHERE pid = ' . $c->pid, '0', 15),
		"$label: idle afterwards, the caller is terminated by the timeout");
	ok(wait_log($node, $offset, qr/\[${\$c->pid}\] FATAL:  terminating connection due to idle-in-transaction timeout/, 5),
		"$label: with PostgreSQL's idle-in-transaction message in the log");
	$c->quit;
	is($ctl->query('SELECT count(*) FROM it_slow'), '600',
		"$label: the worker had committed on its own: the table stays, complete");
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$label: no parallel_guard or parallel worker left");
	is( $ctl->query(
			'SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid()'),
		'0', "$label: no lock left");
}

{
	my $label = 'idle_session_timeout 1 s, a 3 s call';
	my $c = GuardTap::Session->new($node, 'caller_ist');
	$c->query($GUARD_SETTINGS);
	$c->query("SET idle_session_timeout = '1s'");
	my $r = $c->run(
		"SELECT achieved_workers, row_count FROM parallel_guard.run("
		  . "'CREATE TABLE is_slow AS $SLOW', 4, 2, 1)", 60);
	is("$r->{sqlstate}|$r->{out}", '00000|4|600', "$label: the call returns its row")
	  or diag($r->{err});
	cmp_ok($r->{elapsed}, '>', 1.5, "$label: the call did run longer than the timeout");
	ok($ctl->poll('SELECT count(*) FROM pg_stat_activity WHERE pid = ' . $c->pid, '0', 15),
		"$label: idle afterwards, the caller is terminated by the timeout");
	$c->quit;
	ok(poll_until($node, $LEFTOVER_SQL, '0'), "$label: no parallel_guard or parallel worker left");
}

$ctl->quit;
$node->stop;
done_testing();
