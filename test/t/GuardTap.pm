
# GuardTap.pm: helpers shared by the TAP tests of parallel_guard (test/t/*.pl).
#
# - guard_node(): a throwaway cluster with room for 4 parallel workers, the
#   extension installed and source tables whose plans are parallel;
# - GuardTap::Session: a psql session driven through IPC::Run whose
#   statements can be started without waiting, so that another session can
#   cancel or terminate them; every result carries psql's SQLSTATE;
# - helpers to read the server log from an offset and to parse the
#   extension's LOG lines.
#
# Every wait here is bounded ($GuardTap::WAIT seconds): a hang fails the
# test instead of stalling the suite.

package GuardTap;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run ();
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  guard_node make_table
  log_offset log_since wait_log
  parse_attempts parse_runs notices
  poll_until batch_role stop_process wait_event_of
  holder_fixture release_holder most_workers start_competitor stop_competitor
  $GUARD_SETTINGS $LEFTOVER_SQL @RESERVATION_POOL
);

# Upper bound of every wait, in seconds.
our $WAIT = 60;

# Session settings that make the plans of the test statements parallel.
our $GUARD_SETTINGS = 'SET parallel_setup_cost = 0; '
  . 'SET parallel_tuple_cost = 0; '
  . 'SET min_parallel_table_scan_size = 0;';

# The server of the reservation tests: the library preloaded (queue and
# reservations), a pool of 8 parallel workers in 16 worker slots, and
# Gathers and index builds that may plan all 8 or 4.
our @RESERVATION_POOL = (
	"shared_preload_libraries = 'parallel_guard'",
	'max_parallel_workers = 8',
	'max_worker_processes = 16',
	'max_parallel_workers_per_gather = 8',
	'max_parallel_maintenance_workers = 4');

# What must be gone after every interrupted call.
our $LEFTOVER_SQL = "SELECT count(*) FROM pg_stat_activity "
  . "WHERE backend_type IN ('parallel_guard', 'parallel worker')";

# The wait event pg_stat_activity shows for a caller waiting in the queue
# ('Queue'), for its delay ('Delay') or for its guard worker ('Worker'):
# the extension's own names from PostgreSQL 17 on (WaitEventExtensionNew),
# the generic 'Extension' before.
sub wait_event_of
{
	my ($node, $what) = @_;
	return $node->safe_psql('postgres', 'SHOW server_version_num') >= 170000
	  ? "ParallelGuard$what"
	  : 'Extension';
}

# guard_node($name, conf => [lines], tables => [[name, rows], ...])
sub guard_node
{
	my ($name, %opt) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf',
		join("\n",
			"max_worker_processes = 16",
			"max_parallel_workers = 8",
			# no autovacuum worker holding locks while the tests look at pg_locks
			"autovacuum = off",
			# the heavy test statements are not worth compiling
			"jit = off",
			"log_line_prefix = '%m [%p] '",
			@{ $opt{conf} // [] })
		  . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION parallel_guard');
	make_table($node, @$_) for @{ $opt{tables} // [] };
	return $node;
}

# A table of $rows integers 1..$rows whose scans plan 4 parallel workers.
sub make_table
{
	my ($node, $name, $rows) = @_;
	$node->safe_psql('postgres',
		"CREATE TABLE $name AS SELECT g AS k FROM generate_series(1, $rows) g");
	$node->safe_psql('postgres',
		"ALTER TABLE $name SET (parallel_workers = 4)");
	$node->safe_psql('postgres', "VACUUM ANALYZE $name");
	return;
}

# holder_fixture($node): what a "holder" needs, an ordinary query whose 4
# parallel workers stay alive until the test lets them go: a table stop and
# a table blocks of one row per page, so that each of the 5 participants of
# a scan blocks on its own row in hold(tag) until stop has the tag (90 s at
# most).  hold() looks at stop without a parallel scan of its own.
sub holder_fixture
{
	my ($node) = @_;
	$node->safe_psql('postgres', <<'SQL');
CREATE TABLE stop (tag text);
CREATE TABLE blocks (k int, pad text) WITH (fillfactor = 10, parallel_workers = 4);
INSERT INTO blocks SELECT g, repeat('x', 600) FROM generate_series(1, 16) g;
VACUUM ANALYZE blocks;
CREATE FUNCTION hold(t text) RETURNS boolean LANGUAGE plpgsql PARALLEL SAFE
SET max_parallel_workers_per_gather = 0 AS $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM stop WHERE tag = t)
        AND clock_timestamp() < t0 + interval '90 s' LOOP
    PERFORM pg_sleep(0.01);
  END LOOP;
  RETURN true;
END $$;
SQL
	return;
}

# start_holder($ctl, $s, $tag, $label): starts the holder query in session
# $s and checks (from $ctl) that its 4 parallel workers run; returns
# [session, statement number, tag] for release_holder().
sub start_holder
{
	my ($ctl, $s, $tag, $label) = @_;
	my $n = $s->start("SELECT count(*) FROM blocks WHERE hold('$tag')");
	ok( $ctl->poll(
			"SELECT count(*) FROM pg_stat_activity WHERE leader_pid = " . $s->pid
			  . " AND backend_type = 'parallel worker'",
			'4', 30),
		"$label: the holder's 4 parallel workers run");
	return [ $s, $n, $tag ];
}

# release_holder($ctl, $h): lets the holder end; returns whether it did.
sub release_holder
{
	my ($ctl, $h) = @_;
	$ctl->query("INSERT INTO stop VALUES ('$h->[2]')");
	my $r = $h->[0]->result($h->[1]);
	return $r->{sqlstate} eq '00000';
}

# start_competitor($s, $tag, $query): in session $s, runs EXPLAIN ANALYZE of
# $query (a query, or EXECUTE of a prepared one) in a loop until the table
# stop (holder_fixture(), or one of its own) has $tag, 120 s at most; each
# launch raises a NOTICE with its "Workers Launched".  Returns [session,
# statement number, tag] for stop_competitor().
sub start_competitor
{
	my ($s, $tag, $query) = @_;
	(my $quoted = $query) =~ s/'/''/g;
	my $n = $s->start(<<"SQL");
DO \$\$
DECLARE l text; t0 timestamptz := clock_timestamp();
BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM stop WHERE tag = '$tag')
        AND clock_timestamp() < t0 + interval '120 s' LOOP
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $quoted' LOOP
      IF l ~ 'Workers Launched' THEN RAISE NOTICE 'competitor %', l; END IF;
    END LOOP;
  END LOOP;
END \$\$
SQL
	return [ $s, $n, $tag ];
}

# stop_competitor($node, $c): ends the loop; returns the number of workers
# each of its launches got.
sub stop_competitor
{
	my ($node, $c) = @_;
	$node->safe_psql('postgres', "INSERT INTO stop VALUES ('$c->[2]')");
	my $r = $c->[0]->result($c->[1], 120);
	return $r->{err} =~ /competitor\s+Workers Launched: (\d+)/g;
}

# most_workers($ctl, $s, $sql): runs $sql in session $s and returns the most
# parallel workers of $s seen meanwhile (polled from $ctl every 10 ms), or
# "failed (SQLSTATE): error" when $sql fails.  For launches that have no
# count of their own to read (index builds).
sub most_workers
{
	my ($ctl, $s, $sql) = @_;
	my $n = $s->start($sql);
	my ($most, $pid) = (0, $s->pid);
	until ($s->finished($n))
	{
		my $w = $ctl->query("SELECT count(*) FROM pg_stat_activity WHERE leader_pid = $pid "
			  . "AND backend_type = 'parallel worker'");
		$most = $w if $w > $most;
		usleep(10_000);
	}
	my $r = $s->result($n);
	return $r->{sqlstate} eq '00000' ? $most : "failed ($r->{sqlstate}): $r->{err}";
}

# batch_role($node, $role, $db, @tables): a login role that may call run()
# in $db (EXECUTE, CREATE on schema public, SELECT on @tables), with the
# settings of $GUARD_SETTINGS on the role: a scheduled or pooled connection
# cannot rely on a SET of its own.
sub batch_role
{
	my ($node, $role, $db, @tables) = @_;
	$node->safe_psql('postgres', "CREATE ROLE $role LOGIN");
	my $grants = join('',
		"GRANT EXECUTE ON FUNCTION parallel_guard.run(text, integer, integer, integer, interval) TO $role;",
		"GRANT CREATE ON SCHEMA public TO $role;",
		@tables ? "GRANT SELECT ON " . join(', ', @tables) . " TO $role;" : '');
	(my $settings = $GUARD_SETTINGS) =~ s/SET /ALTER ROLE $role SET /g;
	$node->safe_psql($db, $grants . $settings);
	return;
}

# stop_process($h): stops a process that a test started with IPC::Run (a
# pooler, an exporter): SIGTERM, and a kill if it has not ended in 10 s.
# Keeps $?, so that it can be called from an END block.
sub stop_process
{
	my ($h) = @_;
	local $?;
	return unless $h && $h->pumpable;
	$h->signal('TERM');
	eval { $h->finish(IPC::Run::timeout(10)); 1 } or $h->kill_kill;
	return;
}

sub log_offset
{
	my ($node) = @_;
	return -s $node->logfile;
}

sub log_since
{
	my ($node, $offset) = @_;
	return slurp_file($node->logfile, $offset);
}

# Waits until the log after $offset matches $re; returns the captures (or
# (1) when $re captures nothing), or the empty list after $timeout seconds.
sub wait_log
{
	my ($node, $offset, $re, $timeout) = @_;
	my $deadline = time + ($timeout // $WAIT);
	for (;;)
	{
		my @m = (log_since($node, $offset) =~ $re);
		return @m if @m;
		return () if time > $deadline;
		usleep(20_000);
	}
}

# The extension's LOG lines whose text starts with $head ('attempt=' or
# 'run '), in order of appearance, as hashes of their key=value fields (the
# stable format of README "What is reported"), with the line's time and the
# caller's pid.
sub log_lines
{
	my ($log, $head) = @_;
	my @lines;
	while ($log =~ m/^(\S+ \S+) \S+ \[(\d+)\] LOG:  parallel_guard: (\Q$head\E.*)$/mg)
	{
		my ($time, $caller_pid, $text) = ($1, $2, $3);
		my %f = (time => $time, caller_pid => $caller_pid);
		$f{$1} = $2 while $text =~ /(\w+)=(\S+)/g;
		push @lines, \%f;
	}
	return @lines;
}

# The per-attempt LOG lines: number and of from attempt=N/M.
sub parse_attempts
{
	my ($log) = @_;
	my @attempts = log_lines($log, 'attempt=');
	@$_{qw(number of)} = split m{/}, $_->{attempt} for @attempts;
	return @attempts;
}

# The final 'run' LOG lines: attempts and of from attempts=N/M.
sub parse_runs
{
	my ($log) = @_;
	my @runs = log_lines($log, 'run ');
	@$_{qw(attempts of)} = split m{/}, $_->{attempts} for @runs;
	return @runs;
}

# The "attempt N of M" NOTICEs in a psql stderr text, as "N of M" strings.
sub notices
{
	my ($stderr) = @_;
	my @n;
	push @n, "$1 of $2"
	  while $stderr =~
	  m/NOTICE:  (?:\d{5}: )?parallel_guard: attempt (\d+) of (\d+)/g;
	return @n;
}

# $node->poll_query_until with a bound of $timeout seconds instead of the
# default 180, so that a leftover fails quickly.
sub poll_until
{
	my ($node, $sql, $expected, $timeout) = @_;
	local $PostgreSQL::Test::Utils::timeout_default = $timeout // 30;
	return $node->poll_query_until('postgres', $sql, $expected);
}


package GuardTap::Session;

use strict;
use warnings;

use IPC::Run ();
use Time::HiRes qw(time usleep);
use Test::More;

# A psql session (-XAtq, VERBOSITY verbose so errors show their SQLSTATE),
# connected to $node's postgres database, or to $connstr when given (a
# connection pool in front of $node, for example).
sub new
{
	my ($class, $node, $name, $connstr) = @_;
	my $self = bless {
		node => $node,
		name => $name // 'session',
		in => '',
		out => '',
		err => '',
		seq => 0,
	}, $class;
	my @cmd = (
		$node->installed_command('psql'), '-XAtq',
		'-v', 'VERBOSITY=verbose',
		'-d', $connstr // $node->connstr('postgres'),
		'-f', '-');
	$self->{h} = IPC::Run::start(\@cmd, '<', \$self->{in}, '>', \$self->{out},
		'2>', \$self->{err});
	$self->{pid} = $self->query('SELECT pg_backend_pid()');
	return $self;
}

sub pid { return $_[0]->{pid} }

# Sends $sql and returns at once; the number identifies its result.
sub start
{
	my ($self, $sql) = @_;
	my $n = ++$self->{seq};
	$sql .= ';' unless $sql =~ /;\s*\z/;
	# The markers follow the statement on both streams; :SQLSTATE is what
	# psql recorded for the last query (00000 on success).
	$self->{in} .=
	  "$sql\n\\echo '__guard_done_$n' :SQLSTATE\n\\warn '__guard_done_$n'\n";
	$self->{h}->pump_nb if $self->{h}->pumpable;
	return $n;
}

# Whether the result of $n has arrived (without waiting).
sub finished
{
	my ($self, $n) = @_;
	$self->{h}->pump_nb if $self->{h}->pumpable;
	return $self->{out} =~ /^__guard_done_$n /m
	  && $self->{err} =~ /^__guard_done_$n$/m;
}

# Waits for the result of $n: { out, err, sqlstate, elapsed }; or
# { lost => 1, ... } when psql ended, or { timeout => 1, ... } after
# $timeout seconds.
sub result
{
	my ($self, $n, $timeout) = @_;
	my $t0 = time;
	my $deadline = $t0 + ($timeout // $GuardTap::WAIT);
	for (;;)
	{
		if ($self->{out} =~ /^__guard_done_$n /m
			&& $self->{err} =~ /^__guard_done_$n$/m)
		{
			$self->{out} =~ s/\A(.*?)^__guard_done_$n (\S*)\n//ms;
			my ($out, $state) = ($1, $2);
			$self->{err} =~ s/\A(.*?)^__guard_done_$n\n//ms;
			my $err = $1;
			chomp $out;
			return {
				out => $out,
				err => $err,
				sqlstate => $state,
				elapsed => time - $t0
			};
		}
		if (!$self->{h}->pumpable)
		{
			return {
				lost => 1,
				out => $self->{out},
				err => $self->{err},
				sqlstate => ''
			};
		}
		if (time > $deadline)
		{
			return {
				timeout => 1,
				out => $self->{out},
				err => $self->{err},
				sqlstate => ''
			};
		}
		$self->{h}->pump_nb;
		usleep(5_000);
	}
}

sub run
{
	my ($self, $sql, $timeout) = @_;
	return $self->result($self->start($sql), $timeout);
}

# Runs $sql and returns its output; dies if it fails.
sub query
{
	my ($self, $sql) = @_;
	my $r = $self->run($sql);
	die "$self->{name}: query failed ($r->{sqlstate}): $sql\n$r->{err}"
	  if $r->{sqlstate} ne '00000';
	return $r->{out};
}

# Polls $sql in this session until it returns $expected; returns whether it
# did within $timeout seconds.
sub poll
{
	my ($self, $sql, $expected, $timeout) = @_;
	my $deadline = time + ($timeout // 30);
	for (;;)
	{
		my $r = $self->run($sql);
		return 1 if $r->{sqlstate} eq '00000' && $r->{out} eq $expected;
		return 0 if time > $deadline || $r->{lost} || $r->{timeout};
		usleep(20_000);
	}
}

# Sends SIGINT to psql, which then asks the server (or the pool it is
# connected to) to cancel the running statement, as Ctrl-C does.
sub interrupt
{
	my ($self) = @_;
	$self->{h}->signal('INT');
	return;
}

# Waits for psql to end (its connection was terminated): returns what it
# printed since the last result, or undef after $timeout seconds.
sub wait_exit
{
	my ($self, $timeout) = @_;
	my $deadline = time + ($timeout // $GuardTap::WAIT);
	while ($self->{h}->pumpable)
	{
		return undef if time > $deadline;
		$self->{h}->pump_nb;
		usleep(5_000);
	}
	eval { $self->{h}->finish; };
	$self->{gone} = 1;
	return { out => $self->{out}, err => $self->{err} };
}

# Ends psql: \q, or a kill if it is still busy after a few seconds.
sub quit
{
	my ($self) = @_;
	return if $self->{gone};
	$self->{gone} = 1;
	if ($self->{h}->pumpable)
	{
		$self->{in} .= "\\q\n";
		my $deadline = time + 10;
		while ($self->{h}->pumpable && time < $deadline)
		{
			$self->{h}->pump_nb;
			usleep(10_000);
		}
		if ($self->{h}->pumpable)
		{
			diag("$self->{name}: psql still busy, killed");
			$self->{h}->kill_kill;
			return;
		}
	}
	eval { $self->{h}->finish; };
	return;
}

1;
