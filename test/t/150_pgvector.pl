
# 150_pgvector.pl: guarded index builds of pgvector's access methods are
# planned and counted exactly as pgvector launches them.
#
# pgvector plans its own builds: IVFFlat asks plan_create_index_workers(),
# as btree does; HNSW only asks it whether a parallel build is safe, then
# takes the table's parallel_workers, else max_parallel_maintenance_workers,
# whatever the table's size (hnswbuild.c, ComputeParallelWorkers).  Here the
# table has no parallel_workers and is small enough that
# plan_create_index_workers() says 2 while HNSW launches 4: a guard that
# planned HNSW like btree took 2 for the plan, so a build that got 2 of its
# 4 workers was "plan_limited" and committed at once.
#
# Debian ships pgvector for 17 and 18 (postgresql-NN-pgvector; test/check.sh
# installs it where the archive has it); bookworm has none for 15, where this
# file is skipped.  pgvector builds in parallel on 15 and 16 too (without
# amcanbuildparallel, which 17 added): the guard knows its access methods by
# name on every version.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GuardTap;
use Test::More;

my ($MAJOR) = `pg_config --version` =~ /(\d+)/ or die "no version from pg_config";
{
	my $pkglibdir = `pg_config --pkglibdir`;
	chomp $pkglibdir;
	plan skip_all => "pgvector is not installed for PostgreSQL $MAJOR "
	  . "(Debian's postgresql-$MAJOR-pgvector, which test/check.sh installs where the archive has it)"
	  unless -e "$pkglibdir/vector.so";
}

my $node = guard_node('pgvector');
$node->safe_psql('postgres', q{
	CREATE EXTENSION vector;
	CREATE TABLE vt AS
	  SELECT g AS id, ARRAY[(g % 97) / 97.0, (g % 89) / 89.0, (g % 83) / 83.0]::vector(3) AS v
	  FROM generate_series(1, 80000) g;
	VACUUM ANALYZE vt;
});

# What plan_create_index_workers() gives for vt, with the settings below:
# the heap's size (about 500 pages) against min_parallel_table_scan_size
# 1 MB (128 pages): 2 workers.
my $SETTINGS = "SET max_parallel_maintenance_workers = 4; "
  . "SET maintenance_work_mem = '512MB'; "
  . "SET min_parallel_table_scan_size = '1MB'; "
  . "SET client_min_messages = notice;";
my $HNSW = 'CREATE INDEX %s ON vt USING hnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 8)';
my $IVF = 'CREATE INDEX %s ON vt USING ivfflat (v vector_l2_ops) WITH (lists = 4)';

my $s = GuardTap::Session->new($node, 'caller');
$s->query($SETTINGS);

# The plain statement, as pgvector reports it at DEBUG1: how many workers it
# launched (the pool is free, so as many as it planned).
sub plain_workers
{
	my ($sql) = @_;
	my $r = $s->run("SET client_min_messages = debug1; $sql; RESET client_min_messages; $SETTINGS");
	die "plain build failed ($r->{sqlstate}): $r->{err}" if $r->{sqlstate} ne '00000';
	my ($n) = $r->{err} =~ /using (\d+) parallel workers/;
	return $n // 0;
}

sub guarded
{
	my ($sql, $args) = @_;
	$sql =~ s/'/''/g;
	return $s->run("SELECT achieved_workers, attempts, target_met, planned_workers "
		  . "FROM parallel_guard.run('$sql', $args)");
}

# --- HNSW on a free pool ---------------------------------------------------------
my $plain = plain_workers(sprintf($HNSW, 'vt_hnsw_plain'));
is($plain, 4, 'hnsw, plain: pgvector launches max_parallel_maintenance_workers (4), not the size-based 2');
my $r = guarded(sprintf($HNSW, 'vt_hnsw_1'), "target => 4, min => 2, retries => 1, delay => '0'");
is("$r->{sqlstate}|$r->{out}", "00000|4|1|t|4", 'hnsw, guarded on a free pool: planned 4, launched 4, target met')
  or diag($r->{err});

# --- HNSW short of its plan ---------------------------------------------------------
$s->query('SET max_parallel_workers = 2');
$r = guarded(sprintf($HNSW, 'vt_hnsw_2'), "target => 4, min => 2, retries => 2, delay => '0'");
is("$r->{sqlstate}|$r->{out}", "00000|2|2|f|4",
	'hnsw, 2 of its 4 workers: retried (planned 4), the last attempt accepted at min 2')
  or diag($r->{err});
like($r->{err}, qr/attempt 1 of 2: planned 4, launched 2 parallel workers/,
	'hnsw: the first attempt is reported short (planned 4, launched 2)');
$r = guarded(sprintf($HNSW, 'vt_hnsw_3'), "target => 4, min => 3, retries => 1, delay => '0'");
is($r->{sqlstate}, '53000', 'hnsw, 2 of 4 workers below min 3: 53000, nothing committed');
is($s->query("SELECT to_regclass('vt_hnsw_3') IS NULL"), 't', 'hnsw: the short build left no index');
$s->query('RESET max_parallel_workers');

# --- IVFFlat: planned by plan_create_index_workers(), as pgvector does -------------
$plain = plain_workers(sprintf($IVF, 'vt_ivf_plain'));
$r = guarded(sprintf($IVF, 'vt_ivf_1'), "target => 4, min => 1, retries => 1, delay => '0'");
is("$r->{sqlstate}|$r->{out}", "00000|$plain|1|f|$plain",
	"ivfflat, guarded: planned and launched what the plain build launched ($plain), plan-limited")
  or diag($r->{err});
cmp_ok($plain, '>', 0, 'ivfflat, plain: a parallel build');

done_testing();
