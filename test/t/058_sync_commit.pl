
# 058_sync_commit.pl: a guarded statement whose commit waits for synchronous
# replication (synchronous_standby_names names a standby that never comes)
# has committed locally when it waits.  A cancel of the caller then ends the
# wait as it does for the plain statement: a WARNING that the transaction
# has already committed locally, and the statement's result, not an error
# that says nothing was committed while the table exists.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my $node = guard_node('sync_commit',
	conf => [ "shared_preload_libraries = 'parallel_guard'", 'wal_level = replica', 'max_wal_senders = 2' ],
	tables => [ [ big => 20000 ] ]);
# From now on every commit waits for a standby that never comes (the
# control session commits locally only).
$node->append_conf('postgresql.conf', "synchronous_standby_names = 'nobody'\n");
$node->reload;
my $ctl = GuardTap::Session->new($node, 'control');
$ctl->query('SET synchronous_commit = local');

sub cancel_when_waiting
{
	my ($s, $label) = @_;
	ok( $ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' "
			  . "AND backend_type IN ('parallel_guard', 'client backend') AND pid <> pg_backend_pid()",
			'1', 30),
		"$label: the commit waits for the standby");
	$ctl->query('SELECT pg_cancel_backend(' . $s->pid . ')');
	return;
}

# --- the plain statement, for comparison --------------------------------------------
my $p = GuardTap::Session->new($node, 'plain');
$p->query($GUARD_SETTINGS);
my $n = $p->start('CREATE TABLE plain_t AS SELECT k FROM big');
cancel_when_waiting($p, 'plain');
my $r = $p->result($n);
is($r->{sqlstate}, '00000', 'plain: the cancelled wait ends the statement without an error');
like($r->{err}, qr/already committed locally/, 'plain: a WARNING says it committed locally');

# --- guarded ------------------------------------------------------------------
my $g = GuardTap::Session->new($node, 'guarded');
$g->query($GUARD_SETTINGS);
$n = $g->start("SELECT achieved_workers, attempts, row_count FROM parallel_guard.run("
	  . "'CREATE TABLE guarded_t AS SELECT k FROM big', target => 1, min => 0, retries => 1, delay => '0')");
cancel_when_waiting($g, 'guarded');
$r = $g->result($n);
is($ctl->query("SELECT to_regclass('guarded_t') IS NOT NULL"), 't', 'guarded: the table is committed (locally)');
is($r->{sqlstate}, '00000', 'guarded: as the plain statement, no error for a statement that committed')
  or diag($r->{err});
like($r->{err}, qr/already committed locally/, 'guarded: the same WARNING reaches the caller');
like($r->{out}, qr/\|1\|20000$/, 'guarded: its result row (one attempt, 20000 rows)');
is( $ctl->query("SELECT verdict || '/' || coalesce(sqlstate, '-') FROM parallel_guard.history "
		  . "WHERE statement LIKE 'CREATE TABLE guarded_t%' ORDER BY run_id DESC LIMIT 1"),
	'met/-', 'guarded: the history records the run as met, with no error');
is($ctl->query($LEFTOVER_SQL), '0', 'guarded: no worker left');

# --- the guard's worker terminated while it waits ---------------------------------
# (a DBA's pg_terminate_backend(), or a shutdown): its transaction has
# committed locally; the call says so and returns, instead of reporting a
# statement that did not commit.
$n = $g->start("SELECT achieved_workers, attempts, row_count FROM parallel_guard.run("
	  . "'CREATE TABLE guarded_t2 AS SELECT k FROM big', target => 1, min => 0, retries => 1, delay => '0')");
ok( $ctl->poll(
		"SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND backend_type = 'parallel_guard'",
		'1', 30),
	'terminated: the worker\'s commit waits for the standby');
$ctl->query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'parallel_guard'");
$r = $g->result($n);
is($ctl->query("SELECT to_regclass('guarded_t2') IS NOT NULL"), 't', 'terminated: the table is committed (locally)');
is($r->{sqlstate}, '00000', 'terminated: the call does not report a statement that committed as failed')
  or diag($r->{err});
like($r->{err}, qr/committed locally/, 'terminated: a WARNING says the transaction committed locally');
is( $ctl->query("SELECT verdict || '/' || coalesce(sqlstate, '-') FROM parallel_guard.history "
		  . "WHERE statement LIKE 'CREATE TABLE guarded_t2%' ORDER BY run_id DESC LIMIT 1"),
	'met/-', 'terminated: the history records the run as met');

$_->quit for $p, $g, $ctl;
# Let the server stop without waiting for the standby.
$node->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
$node->reload;
done_testing();
