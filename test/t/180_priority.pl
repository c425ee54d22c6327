
# 180_priority.pl: a queue a DBA can steer, and waits that have names (pool:
# max_parallel_workers = 8, max_worker_processes = 16; the library preloaded).
#
#  - parallel_guard.priority is superuser only: a non-superuser's SET fails
#    with 42501, and priority_aging cannot be set in a session at all; a
#    superuser's ALTER ROLE dba SET parallel_guard.priority = 10 applies to
#    dba's sessions;
#  - overtaking: while a guarded run holds the pool, three runs of priority 0
#    (L1, L2, L3, target 6: one at a time fits in the pool) queue, L1 at the
#    head reserving its 6 workers; dba's run H (priority 10) arrives last and
#    takes position 1 and the reservation (L1's unused one yields); the runs
#    are admitted in the order H, L1, L2, L3, each getting its 6 workers;
#  - aging (priority_aging = 1s): a run L of priority 0 is admitted while a
#    stream of priority-3 runs keeps arriving and some of them still wait;
#    its effective priority is priority + floor(seconds since it joined / 1);
#  - the view's new columns (priority, effective_priority, statement cut to
#    1023 bytes, application_name, worker_pid, waited) and who sees what: a
#    role sees its own statement and application_name, another role
#    '<insufficient privilege>', pg_read_all_stats and superusers everything;
#    worker_pid is the guard worker (backend_type parallel_guard, the leader
#    of the statement's parallel workers) for run(), NULL for a statement
#    guarded as written;
#  - wait events of a caller (pg_stat_activity): queued and watching its
#    worker (in the overtaking case), waiting out its delay: on 17 and later
#    'Extension' / 'ParallelGuardQueue', 'ParallelGuardWorker',
#    'ParallelGuardDelay'; on 15 and 16 the generic 'Extension' / 'Extension'.
#
# Statements sleep (pg_sleep is PARALLEL SAFE) so that their durations hold
# on a busy machine; assertions are on order and counts, every wait bounded.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;
use Time::HiRes qw(time usleep);

my $ROWS = 2000;

my $node = guard_node(
	'priority',
	conf => [
		"shared_preload_libraries = 'parallel_guard'",
		'max_parallel_workers = 8',
		'max_worker_processes = 16',
		'max_connections = 40',
		"parallel_guard.queue_timeout = '60s'",
	]);
$node->safe_psql('postgres',
	"CREATE TABLE slow AS SELECT g AS k, repeat('x', 400) AS pad FROM generate_series(1, $ROWS) g");
$node->safe_psql('postgres', 'ALTER TABLE slow SET (parallel_workers = 8)');
$node->safe_psql('postgres', 'VACUUM ANALYZE slow');
batch_role($node, $_, 'postgres', 'slow') for qw(batch dba);
$node->safe_psql('postgres', 'CREATE ROLE other LOGIN; CREATE ROLE watcher LOGIN IN ROLE pg_read_all_stats');
# Not safe_psql: on a server without the setting the rest still runs (and fails).
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER ROLE dba SET parallel_guard.priority = 10');
is($rc, 0, 'a superuser sets dba\'s priority with ALTER ROLE') or diag($err);

my $version = $node->safe_psql('postgres', 'SHOW server_version_num');
my $named_waits = $version >= 170000;

my @sessions;

sub session
{
	my ($name, $user) = @_;
	my $s = GuardTap::Session->new($node, $name,
		$user ? $node->connstr('postgres') . " user=$user" : undef);
	$s->query($GUARD_SETTINGS);
	push @sessions, $s;
	return $s;
}

my $ctl = session('control');

# The wait event a caller shows: named on 17 and later, generic before.
my ($WAIT_TYPE, $WAIT_QUEUE, $WAIT_WORKER, $WAIT_DELAY) =
  $named_waits
  ? ('Extension', 'ParallelGuardQueue', 'ParallelGuardWorker', 'ParallelGuardDelay')
  : ('Extension', 'Extension', 'Extension', 'Extension');

sub waits_on
{
	my ($pid, $event) = @_;
	return $ctl->poll(
		"SELECT wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE pid = $pid",
		"$WAIT_TYPE/$event", 20);
}

# Output of $sql, or "ERROR sqlstate: message" (the test goes on).
sub sq
{
	my ($s, $sql) = @_;
	my $r = $s->run($sql);
	return $r->{out} if $r->{sqlstate} eq '00000';
	(my $e = $r->{err}) =~ s/\n.*//s;
	return "ERROR $r->{sqlstate}: $e";
}

# A CREATE TABLE AS that takes about $seconds with $workers parallel workers.
sub ctas
{
	my ($table, $seconds, $workers) = @_;
	my $sleep = sprintf('%.5f', $seconds * ($workers + 1) / $ROWS);
	return "CREATE TABLE $table AS SELECT k FROM slow WHERE pg_sleep($sleep) IS NOT NULL";
}

sub guarded
{
	my ($table, $seconds, $target, $args) = @_;
	$args //= "min => 2, retries => 3, delay => '200ms'";
	(my $sql = ctas($table, $seconds, $target)) =~ s/'/''/g;
	return "SELECT achieved_workers, attempts, target_met FROM parallel_guard.run('$sql', target => $target, $args)";
}

# { pid => { state, position, reserved, since } } from the view's columns of 1.3.
sub view
{
	my %v;
	for my $line (split /\n/,
		$ctl->query("SELECT pid, state, coalesce(queue_position::text, '-'), reserved_workers, "
			  . "waiting_since FROM parallel_guard.queue"))
	{
		my @f = split /\|/, $line;
		$v{ $f[0] } = { state => $f[1], position => $f[2], reserved => $f[3], since => $f[4] };
	}
	return \%v;
}

sub poll_view
{
	my ($cond, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	for (;;)
	{
		return 1 if $cond->(view());
		return 0 if time > $deadline;
		usleep(20_000);
	}
}

sub describe
{
	my ($v) = @_;
	return join(', ', map { "$_:$v->{$_}{state}:$v->{$_}{position}:$v->{$_}{reserved}" } sort keys %$v)
	  || 'empty';
}

# A guarded run of target 8 holding the pool for $seconds.
sub start_holder
{
	my ($label, $table, $seconds) = @_;
	my $s = session("holder $table");
	my $n = $s->start(guarded($table, $seconds, 8));
	ok(poll_view(sub { ($_[0]{ $s->pid }{state} // '') eq 'running' }, 60),
		"$label: the holder runs with the pool")
	  or diag(describe(view()));
	return ($s, $n);
}

sub start_waiter
{
	my ($label, $name, $user, $table, $seconds, $target, $setup) = @_;
	my $s = session($name, $user);
	$s->query($setup) if $setup;
	my $n = $s->start(guarded($table, $seconds, $target));
	ok(poll_view(sub { ($_[0]{ $s->pid }{state} // '') eq 'waiting' }, 30),
		"$label: $name is waiting in the queue")
	  or diag(describe(view()));
	return ($s, $n);
}

# Polls the view until every run of @$runs ([session, n, name]) has its
# result; returns the names in the order the runs left 'waiting', and every
# look at the view.  A run counts as admitted at the first look that does
# not show it waiting after one that did; runs admitted between the same two
# looks are joined with '+', and a run never seen waiting here shows as
# '?name', so that the order is one that was observed.  $more->() is called
# on each look.
sub admission_order
{
	my ($runs, $timeout, $more) = @_;
	my $deadline = time + $timeout;
	my (@order, %seen, %admitted, @looks);
	for (;;)
	{
		my $v = view();
		push @looks, $v;
		my @now;
		for my $r (@$runs)
		{
			my $e = $v->{ $r->[0]->pid };
			next if $admitted{ $r->[2] };
			if ($e && $e->{state} eq 'waiting') { $seen{ $r->[2] } = 1; next; }
			$admitted{ $r->[2] } = 1;
			push @now, ($seen{ $r->[2] } ? '' : '?') . $r->[2];
		}
		push @order, join('+', @now) if @now;
		$more->($v) if $more;
		last if !grep { !$_->[0]->finished($_->[1]) } @$runs;
		last if time > $deadline;
		usleep(15_000);
	}
	return (\@order, \@looks);
}

# --- who may set the priority ------------------------------------------------------
{
	my $label = 'privileges';
	my $b = session('batch', 'batch');
	my $r = $b->run('SET parallel_guard.priority = 5');
	is($r->{sqlstate}, '42501', "$label: a non-superuser cannot SET parallel_guard.priority (42501)")
	  or diag($r->{err});
	$r = $b->run("SET parallel_guard.priority_aging = '1s'");
	is($r->{sqlstate}, '55P02', "$label: nor parallel_guard.priority_aging in a session (55P02)")
	  or diag($r->{err});
	is(sq($b, 'SHOW parallel_guard.priority'), '0', "$label: batch's priority is the default 0");
	my $d = session('dba', 'dba');
	is(sq($d, 'SHOW parallel_guard.priority'), '10', "$label: dba's sessions have priority 10 (ALTER ROLE)");
	is(sq($ctl, 'SET parallel_guard.priority = 100; SHOW parallel_guard.priority; RESET parallel_guard.priority'),
		'100', "$label: a superuser may SET it");
	$_->quit for $b, $d;
}

# --- a high-priority run overtakes three queued low-priority ones ----------------
{
	my $label = 'overtaking';
	my $off = log_offset($node);
	my ($h, $hn) = start_holder($label, 'ov_hold', 3);
	my @runs;
	for my $i (1 .. 3)
	{
		my ($s, $n) = start_waiter($label, "L$i", 'batch', "ov_l$i", 0.4, 6);
		push @runs, [ $s, $n, "L$i" ];
	}
	my $l1 = $runs[0][0]->pid;
	ok(poll_view(sub { ($_[0]{$l1}{reserved} // '') eq '6' }, 30),
		"$label: L1 at the head reserves its 6 workers")
	  or diag(describe(view()));
	my ($s, $n) = start_waiter($label, 'H', 'dba', 'ov_h', 0.4, 6);
	unshift @runs, [ $s, $n, 'H' ];
	my $hp = $s->pid;
	my $v;
	ok( poll_view(
			sub {
				$v = $_[0];
				($v->{$hp}{reserved} // '') eq '6' && ($v->{$l1}{reserved} // '') eq '0';
			},
			30),
		"$label: H takes the reservation, L1's unused one yields")
	  or diag(describe($v));
	is( join(',', map { $v->{ $_->[0]->pid }{position} // '?' } @runs),
		'1,2,3,4', "$label: positions H 1, L1 2, L2 3, L3 4")
	  or diag(describe($v));
	my %who = map { $_->[0]->pid => $_->[2] } @runs;
	$who{ $h->pid } = 'holder';
	is( join(',',
			map { $who{$_} // () } split /\n/, $ctl->query('SELECT pid FROM parallel_guard.queue')),
		'holder,H,L1,L2,L3',
		"$label: the queue view lists runs in the order they are served: the running holder, then H (arrived last), L1, L2, L3");
	is( sq($ctl, "SELECT priority, effective_priority FROM parallel_guard.queue WHERE pid = $hp"),
		'10|10', "$label: the view shows H's priority 10, effective 10");
	is( sq($ctl, "SELECT priority FROM parallel_guard.queue WHERE pid = $l1"),
		'0', "$label: and L1's priority 0");
	ok(waits_on($runs[3][0]->pid, $WAIT_QUEUE),
		"$label: L3, queued, waits on $WAIT_TYPE/$WAIT_QUEUE (pg_stat_activity)");
	ok(waits_on($h->pid, $WAIT_WORKER),
		"$label: the holder's caller, watching its worker, waits on $WAIT_TYPE/$WAIT_WORKER");
	my ($order) = admission_order(\@runs, 60);
	is(join(',', @$order), 'H,L1,L2,L3',
		"$label: admitted in the order H, L1, L2, L3 (H first though it arrived last; queue view)");
	my %name = map { $_->[0]->pid => $_->[2] } @runs;
	is( join(',', map { $name{ $_->{caller_pid} } // () } parse_attempts(log_since($node, $off))),
		'H,L1,L2,L3', "$label: their attempts ran in that order (server log)");
	for my $r (@runs)
	{
		my $res = $r->[0]->result($r->[1], 30);
		is("$res->{sqlstate}|$res->{out}", '00000|6|1|t', "$label: $r->[2] got its 6 workers at once")
		  or diag($res->{err});
	}
	$h->result($hn, 30);
	$_->[0]->quit for @runs;
	$h->quit;
}

# --- aging: a low-priority run is served while higher ones keep arriving --------
{
	my $label = 'aging';
	$node->safe_psql('postgres', "ALTER SYSTEM SET parallel_guard.priority_aging = '1s'");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok($ctl->poll('SHOW parallel_guard.priority_aging', '1s', 10), "$label: priority_aging is 1s");
	my ($h, $hn) = start_holder($label, 'ag_hold', 2);
	my ($l, $ln) = start_waiter($label, 'L', 'batch', 'ag_l', 0.4, 6);
	my $lp = $l->pid;
	# Three superuser sessions of priority 3, each starting a new run as soon
	# as its last one ends, 8 runs in all.
	my @stream = map { session("stream $_") } 1 .. 3;
	$_->query('SET parallel_guard.priority = 3') for @stream;
	my %stream_pid = map { $_->pid => 1 } @stream;
	my ($started, $total) = (0, 8);
	my @pending = map { [ $_, $_->start(guarded('ag_s' . ++$started, 0.3, 6)) ] } @stream;
	my $more = sub {
		for my $p (@pending)
		{
			next unless $p->[0]->finished($p->[1]);
			my $r = $p->[0]->result($p->[1], 5);
			diag("stream run: $r->{sqlstate} $r->{err}") if $r->{sqlstate} ne '00000';
			if ($started < $total)
			{
				$p->[1] = $p->[0]->start(guarded('ag_s' . ++$started, 0.3, 6));
			}
			else
			{
				$p->[1] = undef;
			}
		}
		@pending = grep { defined $_->[1] } @pending;
	};
	# The effective priority while L waits: priority + whole seconds since it joined.
	my ($risen, $until) = ('', time + 20);
	while ($risen ne 't' && time < $until)
	{
		$more->(); # the stream goes on meanwhile
		$risen = sq($ctl, "SELECT effective_priority >= 2 FROM parallel_guard.queue WHERE pid = $lp");
		usleep(20_000);
	}
	is($risen, 't', "$label: L's effective priority rises while it waits");
	is( sq($ctl,
			"SELECT floor(extract(epoch FROM statement_timestamp() - waiting_since)) <= effective_priority "
			  . "AND effective_priority <= floor(extract(epoch FROM clock_timestamp() - waiting_since)) "
			  . "FROM parallel_guard.queue WHERE pid = $lp"),
		't', "$label: effective_priority = 0 + floor(seconds since L joined / 1 s)");
	my ($order, $looks) = admission_order([ [ $l, $ln, 'L' ] ], 60, $more);
	is(join(',', @$order), 'L', "$label: L was admitted");
	my $at = $looks->[-1]; # the look at which L was seen admitted
	for my $v (@$looks)
	{
		if (!$v->{$lp} || $v->{$lp}{state} ne 'waiting') { $at = $v; last; }
	}
	my $waiting_high = grep { $stream_pid{$_} && $at->{$_}{state} eq 'waiting' } keys %$at;
	cmp_ok($waiting_high, '>=', 1,
		"$label: when L was admitted, $waiting_high runs of priority 3 were still waiting");
	my $res = $l->result($ln, 30);
	is("$res->{sqlstate}|$res->{out}", '00000|6|1|t', "$label: L got its 6 workers") or diag($res->{err});
	ok(scalar(@pending) >= 1, "$label: ... before the stream of higher priorities ended ("
		  . ($total - $started) . " of $total runs not started yet)");
	# Let the stream finish.
	my $deadline = time + 60;
	while (@pending && time < $deadline) { $more->(); usleep(20_000); }
	is(scalar(@pending), 0, "$label: the stream ended");
	$h->result($hn, 30);
	$node->safe_psql('postgres', 'ALTER SYSTEM RESET parallel_guard.priority_aging');
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	ok($ctl->poll('SHOW parallel_guard.priority_aging', '10s', 10), "$label: priority_aging is back at 10s");
	$_->quit for $h, $l, @stream;
}

# --- the view's new columns, and who sees what ----------------------------------------
{
	my $label = 'view';
	my ($h, $hn) = start_holder($label, 'vw_hold', 3.5);
	my $hp = $h->pid;
	my $enc = sq($ctl, 'SHOW server_encoding');
	# A statement longer than 1023 bytes: a comment of 2-byte characters after
	# 80 bytes, so that byte 1023 falls inside a character.
	my $pad = $enc eq 'UTF8' ? ("\x{e9}" x 900) : ('e' x 1800);
	my $w = session('W', 'batch');
	$w->query("SET application_name = 'nightly_w'");
	(my $sql = ctas('vw_w', 0.5, 6) . " -- x$pad") =~ s/'/''/g;
	utf8::encode($sql) if $enc eq 'UTF8';
	my $wn = $w->start("SELECT achieved_workers, attempts, target_met FROM parallel_guard.run('$sql', target => 6, min => 2, retries => 3, delay => '200ms')");
	my $wp = $w->pid;
	ok(poll_view(sub { ($_[0]{$wp}{state} // '') eq 'waiting' }, 30), "$label: W (batch) is waiting");
	my $cols = "priority, effective_priority, left(statement, 27), octet_length(statement), "
	  . "coalesce(application_name, 'NULL'), coalesce(worker_pid::text, 'NULL'), waited > interval '0'";
	my $own = "0|0|CREATE TABLE vw_w AS SELECT|1023|nightly_w|NULL|t";
	$own =~ s/1023/1022/ if $enc eq 'UTF8';
	my $hidden = "0|0|<insufficient privilege>|24|<insufficient privilege>|NULL|t";
	my %who = (batch => $own, other => $hidden, watcher => $own, '' => $own);
	for my $user (sort keys %who)
	{
		my $s = session("reader $user", $user || undef);
		is(sq($s, "SELECT $cols FROM parallel_guard.queue WHERE pid = $wp"),
			$who{$user}, "$label: W's row as " . ($user || 'a superuser') . ' sees it');
		$s->quit;
	}
	if ($enc eq 'UTF8')
	{
		is(sq($ctl, "SELECT right(statement, 1) = U&'\\00E9' FROM parallel_guard.queue WHERE pid = $wp"),
			't', "$label: the statement is cut at a whole character");
	}
	my $w1 = sq($ctl, "SELECT waited FROM parallel_guard.queue WHERE pid = $wp");
	usleep(300_000);
	is(sq($ctl, "SELECT waited > '$w1' FROM parallel_guard.queue WHERE pid = $wp"),
		't', "$label: waited grows while W waits");
	is( sq($ctl,
			"SELECT a.backend_type, (SELECT count(*) FROM pg_stat_activity p WHERE p.leader_pid = q.worker_pid) "
			  . "FROM parallel_guard.queue q JOIN pg_stat_activity a ON a.pid = q.worker_pid WHERE q.pid = $hp"),
		'parallel_guard|8', "$label: the holder's worker_pid is its guard worker, leader of its 8 parallel workers");
	# A statement guarded as written runs in its caller: no worker pid.
	my $aw = session('as written');
	$aw->query('SET parallel_guard.target = 6');
	my $awn = $aw->start(ctas('vw_aw', 1.5, 6));
	my $awp = $aw->pid;
	ok(poll_view(sub { ($_[0]{$awp}{state} // '') eq 'waiting' }, 30), "$label: a statement guarded as written waits");
	ok(poll_view(sub { ($_[0]{$awp}{state} // '') =~ /^(launching|running)$/ }, 30),
		"$label: ... and is admitted");
	is( sq($ctl,
			"SELECT coalesce(worker_pid::text, 'NULL'), statement LIKE 'CREATE TABLE vw_aw AS SELECT k FROM slow %' "
			  . "FROM parallel_guard.queue WHERE pid = $awp"),
		'NULL|t', "$label: its worker_pid is NULL (it runs in its caller), its statement the text");
	for ([ $h, $hn ], [ $w, $wn ], [ $aw, $awn ])
	{
		my $r = $_->[0]->result($_->[1], 60);
		is($r->{sqlstate}, '00000', "$label: run of $_->[0]{name} ended") or diag($r->{err});
	}
	$_->quit for $h, $w, $aw;
}

# --- the wait between two attempts ---------------------------------------------------
{
	my $label = 'wait events';
	# A short first attempt (this session allows 2 workers), then a 2 s delay.
	my $d = session('D');
	$d->query('SET max_parallel_workers = 2');
	my $dn = $d->start(guarded('we_d', 0.2, 4, "min => 2, retries => 2, delay => '2s'"));
	ok(waits_on($d->pid, $WAIT_DELAY), "$label: a caller between two attempts waits on $WAIT_TYPE/$WAIT_DELAY");
	my $r = $d->result($dn, 60);
	is("$r->{sqlstate}|$r->{out}", '00000|2|2|f', "$label: D accepted 2 workers on its second attempt")
	  or diag($r->{err});
	$d->quit;
}

$_->quit for @sessions;
$node->stop;
done_testing();
