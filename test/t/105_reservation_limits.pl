
# 105_reservation_limits.pl: what a guarded run may reserve, and how the cap
# on ordinary launches is applied, with the library preloaded.
#
#  - a session that raised its own max_parallel_workers above the server's
#    (SET max_parallel_workers = 16, server 8) and asks for target 15
#    reserves no more than the server's 8: the server's pool, not the
#    caller's session, bounds a reservation;
#  - the cap never changes the session's setting: a function with
#    SET max_parallel_workers = 6 that fails inside a capped launch (an
#    index build while a run holds a reservation) leaves the session's
#    max_parallel_workers as it was (the cap was once saved by such a SET
#    and restored after the error: the session kept the capped value for
#    good), and a later ordinary query gets its workers;
#  - every launch reads the reservations when it is about to register its
#    workers: a Gather whose InitPlan (sent to its workers) takes long is
#    capped by a reservation made while the InitPlan ran (it was read
#    before, at the Gather's first call), and the index builds that no
#    statement-level cap covered are capped: CLUSTER's, and the rebuild of a
#    materialized view's index by REFRESH (both launched 4 workers under a
#    reservation of the whole pool before);
#  - a run whose target could only fit in worker slots that other background
#    workers hold for good (here the logical replication launcher) is
#    admitted with what the other slots can give, at once, instead of waiting
#    for its whole queue_timeout.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = guard_node(
	'reservation_limits',
	conf => [
		@RESERVATION_POOL,
		"parallel_guard.queue_timeout = '30s'",
	],
	tables => [ [ 'big', 100000 ] ]);

holder_fixture($node);
$node->safe_psql('postgres', <<'SQL');
ALTER TABLE big SET (parallel_workers = 15);
CREATE FUNCTION boom(k int) RETURNS int LANGUAGE plpgsql IMMUTABLE
SET max_parallel_workers = 6 AS $$
BEGIN
  IF k = 500 THEN RAISE EXCEPTION 'boom at %', k; END IF;
  RETURN k;
END $$;
-- Index builds slow enough to be watched (3000 rows, 1 ms each).
CREATE TABLE idx AS SELECT g AS k FROM generate_series(1, 3000) g;
ALTER TABLE idx SET (parallel_workers = 4);
CREATE FUNCTION slow_key(k int) RETURNS int LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN PERFORM pg_sleep(0.001); RETURN k; END $$;
CREATE INDEX idx_slow ON idx (slow_key(k));
CREATE MATERIALIZED VIEW mv_idx WITH (parallel_workers = 4) AS SELECT k FROM idx;
CREATE INDEX mv_idx_slow ON mv_idx (slow_key(k));
-- An InitPlan that the leader evaluates until told to go on.
CREATE FUNCTION wait_go(t text) RETURNS int LANGUAGE plpgsql PARALLEL RESTRICTED AS $$
BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM stop WHERE tag = t) LOOP PERFORM pg_sleep(0.01); END LOOP;
  RETURN 0;
END $$;
SQL

my $ctl = GuardTap::Session->new($node, 'control');

sub session
{
	my ($name) = @_;
	my $s = GuardTap::Session->new($node, $name);
	$s->query($GUARD_SETTINGS);
	return $s;
}

my $hold_round = 0;
sub start_holder
{
	my ($label) = @_;
	my $tag = 'h' . ++$hold_round;
	return GuardTap::start_holder($ctl, session("holder $tag"), $tag, $label);
}

sub release { return release_holder($ctl, $_[0]) }

sub probe
{
	my ($s) = @_;
	my $plan = $s->query(
		'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM big');
	return $plan =~ /Workers Launched: (\d+)/ ? $1 : "none in: $plan";
}

# --- a reservation is bounded by the server's pool ---------------------------------
{
	my $label = 'server pool';
	my $h = start_holder($label);
	my $g = session('G');
	$g->query('SET max_parallel_workers = 16');
	my $n = $g->start("SELECT achieved_workers FROM parallel_guard.run("
		  . "'CREATE TABLE r1 AS SELECT k FROM big', target => 15, min => 1, retries => 1)");
	ok($ctl->poll("SELECT state FROM parallel_guard.queue WHERE pid = " . $g->pid, 'waiting', 30),
		"$label: the run of target 15 waits behind the holder");
	ok($ctl->poll("SELECT reserved_workers FROM parallel_guard.queue WHERE pid = " . $g->pid, '8', 10),
		"$label: it reserves 8, the server's max_parallel_workers, not its session's 16 or its target 15")
	  or diag($ctl->query("SELECT reserved_workers FROM parallel_guard.queue WHERE pid = " . $g->pid));
	ok(release($h), "$label: the holder ends");
	my $r = $g->result($n);
	is($r->{sqlstate}, '00000', "$label: the run ends") or diag($r->{err});
	$g->quit;
	$h->[0]->quit;
}

# --- the cap never changes the session's setting ------------------------------------
{
	my $label = 'setting kept';
	my $h = start_holder($label);
	my $g = session('G2');
	my $n = $g->start("SELECT achieved_workers FROM parallel_guard.run("
		  . "'CREATE TABLE r2 AS SELECT k FROM big', target => 8, min => 1, retries => 1)");
	ok($ctl->poll("SELECT reserved_workers FROM parallel_guard.queue WHERE pid = " . $g->pid, '8', 30),
		"$label: a run reserves 8 while the holder runs");
	my $s = session('S');
	is($s->query('SHOW max_parallel_workers'), '8', "$label: the session's max_parallel_workers is 8");
	my $r = $s->run('CREATE INDEX big_boom ON big (boom(k))');
	like($r->{err}, qr/boom at 500/, "$label: an index build whose function (SET max_parallel_workers = 6) fails, under the cap");
	is($s->query('SHOW max_parallel_workers'), '8', "$label: after the error, the session's max_parallel_workers is still 8");
	$r = $s->run("SELECT boom(1) FROM big WHERE k = 1");
	is($s->query('SHOW max_parallel_workers'), '8', "$label: after the function returned, still 8");
	ok(release($h), "$label: the holder ends");
	$r = $g->result($n);
	is($r->{sqlstate}, '00000', "$label: the run ends") or diag($r->{err});
	ok($ctl->poll('SELECT count(*) FROM parallel_guard.queue', '0', 30), "$label: no reservation is left");
	is(probe($s), '8', "$label: an ordinary query of the session gets its 8 workers afterwards");
	$_->quit for $g, $s;
	$h->[0]->quit;
}

# Starts a guarded run of target 8 in a new session and waits until it
# waits behind the holder with 8 workers reserved; returns [session, call].
my $res_round = 0;
sub start_reserver
{
	my ($label) = @_;
	my $t = 'rr' . ++$res_round;
	my $g = session("reserver $t");
	my $n = $g->start("SELECT achieved_workers FROM parallel_guard.run("
		  . "'CREATE TABLE $t AS SELECT k FROM big', target => 8, min => 1, retries => 1)");
	ok($ctl->poll("SELECT state || ':' || reserved_workers FROM parallel_guard.queue WHERE pid = "
			  . $g->pid, 'waiting:8', 30),
		"$label: a guarded run waits with 8 workers reserved");
	return [ $g, $n ];
}

sub end_reserver
{
	my ($label, $h, $g) = @_;
	ok(release($h), "$label: the holder ends");
	my $r = $g->[0]->result($g->[1]);
	is($r->{sqlstate}, '00000', "$label: the guarded run ends") or diag($r->{err});
	ok($ctl->poll('SELECT count(*) FROM parallel_guard.queue', '0', 30), "$label: no reservation is left");
	$h->[0]->quit;
	$g->[0]->quit;
}

# --- a reservation made while a Gather's InitPlan runs caps the Gather ---------------
{
	my $label = 'InitPlan first';
	my $h = start_holder($label);
	my $s = session('S-initplan');
	my $n = $s->start("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
		  . "SELECT count(*) FROM big WHERE k > (SELECT wait_go('ip'))");
	ok($ctl->poll("SELECT count(*) FROM pg_stat_activity WHERE pid = " . $s->pid
			  . " AND wait_event = 'PgSleep'", '1', 30),
		"$label: the ordinary query's InitPlan runs (no reservation yet)");
	my $g = start_reserver($label);
	$ctl->query("INSERT INTO stop VALUES ('ip')");
	my $r = $s->result($n);
	note("$label: " . ($r->{out} =~ /Params Evaluated/
		  ? "EXPLAIN shows the InitPlan's value sent by the Gather (Params Evaluated)"
		  : 'this EXPLAIN does not show the params a Gather sends'));
	my ($launched) = $r->{out} =~ /Workers Launched: (\d+)/;
	is($launched // 'none', '0',
		"$label: the Gather, launched after the InitPlan, yields to the reservation made meanwhile: 0 workers")
	  or diag($r->{out});
	end_reserver($label, $h, $g);
	$s->quit;
}

# --- index builds without a statement-level cap: CLUSTER, REFRESH's rebuild ------------
{
	my $label = 'builds capped';
	my $s = session('S-builds');
	$s->query("SET maintenance_work_mem = '256MB'");
	is(most_workers($ctl, $s, 'CLUSTER idx USING idx_slow'), '4',
		"$label: CLUSTER's index build gets 4 workers (no reservation)");
	is(most_workers($ctl, $s, 'REFRESH MATERIALIZED VIEW mv_idx'), '4',
		"$label: REFRESH's index rebuild gets 4 workers (no reservation)");
	my $h = start_holder($label);
	my $g = start_reserver($label);
	is(most_workers($ctl, $s, 'CLUSTER idx USING idx_slow'), '0',
		"$label: under the reservation, CLUSTER's index build yields: 0 workers");
	is(most_workers($ctl, $s, 'REFRESH MATERIALIZED VIEW mv_idx'), '0',
		"$label: under the reservation, REFRESH's index rebuild yields: 0 workers");
	is($s->query('SHOW max_parallel_workers'), '8', "$label: the session's max_parallel_workers is still 8");
	end_reserver($label, $h, $g);
	is(most_workers($ctl, $s, 'CLUSTER idx USING idx_slow'), '4',
		"$label: after the reservation, CLUSTER's index build gets 4 again");
	is(probe($s), '8', "$label: and an ordinary query its 8 workers");
	$s->quit;
}

# --- no wait for slots that other background workers hold --------------------------
{
	my $label = 'slots held for good';
	$node->append_conf('postgresql.conf', "max_parallel_workers = 16\n");
	$node->restart;
	$ctl = GuardTap::Session->new($node, 'control');
	is($ctl->query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication launcher'"),
		'1', "$label: the logical replication launcher holds a worker slot");
	my $g = session('G3');
	my $t0 = time;
	my $r = $g->run("SELECT achieved_workers, attempts FROM parallel_guard.run("
		  . "'CREATE TABLE r3 AS SELECT k FROM big', target => 15, min => 1, retries => 1)", 60);
	my $took = time - $t0;
	is($r->{sqlstate}, '00000', "$label: the run of target 15 (16 slots, one held for good, one its own) ends")
	  or diag($r->{err});
	cmp_ok($took, '<', 20, "$label: at once, not after its queue_timeout (30 s)");
	unlike($r->{err}, qr/queue wait ran out/, "$label: it was admitted, not let go by its queue timeout");
	$_->quit for $g, $ctl;
}

done_testing();
