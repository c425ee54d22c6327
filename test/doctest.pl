#!/usr/bin/perl
# test/doctest.pl: run every SQL example of the documentation against a real
# server and compare its output with what the page shows, so that a renamed
# column or a changed message fails the tests instead of the reader.
#
#   perl test/doctest.pl [--psql PATH] [--timeout SECONDS] [FILE.md ...]
#
# Default files: README.md and doc/*.md of the repository.  The server is
# the one psql reaches through the usual PGHOST, PGPORT, PGUSER (a superuser:
# each file gets a fresh database, doctest_<file>, dropped first if it
# exists, and dropped after it unless an example failed).  The server needs parallel_guard in shared_preload_libraries;
# the pages create the extension themselves.  test/check.sh runs it on a
# throwaway cluster made by test/lib.sh.
#
# The convention (doc/README of it: "Examples that are tested" in README.md):
# - A ```sql block is an example.  It is sent to psql as written, so psql's
#   backslash commands work.  Every statement must end with ";".
# - A ```text block that follows it (blank lines between are allowed) is the
#   output psql prints for it, stdout and stderr in order: result tables
#   with their "(N rows)" footer, command tags (CREATE TABLE, SET ...),
#   NOTICE, ERROR, DETAIL and HINT lines, as psql with its defaults (-X, no
#   .psqlrc) shows them to someone who pastes the block.  It is compared
#   after normalizing: blank lines dropped, runs of spaces taken as one
#   space, a table's "----+----" rule taken as any rule (so that alignment
#   does not matter).  Where a value must vary (a pid, a time, a run_id),
#   the page writes a placeholder: <word> (letters, digits, _) stands for one
#   word without spaces, <...> for any text on that line.  Better still,
#   the example selects only columns whose values are stable.
# - A ```sql block without a ```text block is run and must not fail (no
#   ERROR, FATAL or PANIC in what it prints).
# - <!-- doctest: skip: REASON --> right before a ```sql block (blank lines
#   between are allowed) does not run it (nor its ```text block): for an
#   example that needs another session, a restart, a client program or a
#   package the test cannot assume.  The reason is printed.
# - <!-- doctest: fails --> right before a ```sql block without a ```text
#   block: it must fail (print an ERROR), for an example that shows a
#   mistake without its message.
# - <!-- doctest: setup
#   SQL
#   --> runs SQL, unseen by the reader, at that point of the page: it must
#   not fail and its output is not compared (for example a role that a
#   GRANT example names).
# - The examples of one file run in order in one psql session, in a fresh
#   database, so that an example can use what an earlier one created.
#
# Output: one line per example, "ok N - FILE:LINE ..." or "not ok N -
# FILE:LINE: why" (with the expected and actual output after it as "#"
# lines), "ok N - FILE:LINE # skip REASON" for a skipped one; then the
# counts and, last, "N passed, N failed" as test/check.sh expects.  Exit
# code 1 when an example failed.
use strict;
use warnings;
use File::Basename qw(dirname basename);
use File::Temp qw(tempfile);
use Getopt::Long;
use POSIX ();

my $psql = 'psql';
my $timeout = 300;
GetOptions('psql=s' => \$psql, 'timeout=i' => \$timeout)
    or die "usage: $0 [--psql PATH] [--timeout SECONDS] [FILE.md ...]\n";

my $repo = dirname(dirname(__FILE__));
my @files = @ARGV ? @ARGV : ("$repo/README.md", sort glob("$repo/doc/*.md"));

# What psql prints depends on the locale of psql and of the server's
# messages: both C, with UTF-8 for the pages' non-ASCII text.
$ENV{LC_ALL} = 'C.UTF-8';
$ENV{PGCLIENTENCODING} = 'UTF8';
$ENV{PGOPTIONS} = join(' ', grep { defined && length } $ENV{PGOPTIONS}, '-c lc_messages=C');
delete $ENV{$_} for qw(PGDATABASE PSQLRC PSQL_PAGER PAGER);

my ($n, $passed, $failed, $skipped, $compared, $ran, $examples) = (0, 0, 0, 0, 0, 0, 0);
my @skip_list;

# parse(FILE): its examples, in order: hashes with kind (example, setup),
# line, sql, expected (undef: none shown), skip (reason), error (a
# convention broken: reported, not run).
sub parse {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "$file: $!\n";
    my @lines = <$fh>;
    close $fh;
    chomp @lines;
    my (@items, $pending, $last_sql);
    my $i = 0;
    while ($i < @lines) {
        my $line = $lines[$i];
        if ($line =~ /^\s*<!--\s*doctest:\s*(.*)$/) {
            my $start = $i + 1;
            my $text = $1;
            while ($text !~ /-->\s*$/) {
                $i++;
                die "$file:$start: doctest comment never closed\n" if $i >= @lines;
                $text .= "\n" . $lines[$i];
            }
            $text =~ s/\s*-->\s*$//;
            if ($text =~ /^skip:\s*(\S.*)$/s) {
                $pending = { skip => $1, line => $start };
            } elsif ($text =~ /^fails$/) {
                $pending = { fails => 1, line => $start };
            } elsif ($text =~ /^setup\b\s*:?\s*(.*)$/s) {
                push @items, { kind => 'setup', line => $start, sql => $1 };
            } else {
                push @items, { kind => 'example', line => $start,
                               error => "unknown doctest comment: $text" };
            }
            $i++;
            next;
        }
        if ($line =~ /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)(?:\s.*)?$/) {
            my ($indent, $fence, $lang) = (length $1, $2, lc $3);
            my $c = substr($fence, 0, 1);
            my $start = $i + 1;
            my @body;
            $i++;
            # Closed by a fence of the same character, at least as long.
            while ($i < @lines && $lines[$i] !~ /^\s*\Q$fence\E\Q$c\E*\s*$/) {
                (my $l = $lines[$i]) =~ s/^ {0,$indent}//;
                push @body, $l;
                $i++;
            }
            $i++;    # the closing fence
            if ($lang eq 'sql') {
                my $ex = { kind => 'example', line => $start, sql => join("\n", @body) };
                if ($pending) {
                    $ex->{$_} = $pending->{$_} for grep { $_ ne 'line' } keys %$pending;
                    $pending = undef;
                }
                if (grep { /^(NOTICE|WARNING|ERROR|DETAIL|HINT):|^-+(\+-+)+$|^\(\d+ rows?\)$/ } @body) {
                    $ex->{error} = 'output inside the ```sql block: move it to a ```text block after it';
                } else {
                    my ($last) = grep { !/^\s*(--.*)?$/ } reverse @body;
                    $ex->{error} = 'its last statement does not end with ";" (psql would wait for more)'
                        if defined $last && $last !~ /;\s*(--.*)?$/ && $last !~ /^\s*\\/;
                }
                push @items, $ex;
                $last_sql = $ex;
                next;
            }
            if ($lang eq 'text' && $last_sql) {
                $last_sql->{expected} = [@body];
                $last_sql->{expected_line} = $start;
            } elsif ($pending) {
                push @items, { kind => 'example', line => $pending->{line},
                               error => 'a doctest comment (skip, fails) not followed by a ```sql block' };
                $pending = undef;
            }
            $last_sql = undef;
            next;
        }
        # Only blank lines may separate a ```sql block from its output, or
        # a skip comment from its block.
        if ($line =~ /\S/) {
            $last_sql = undef;
            if ($pending) {
                push @items, { kind => 'example', line => $pending->{line},
                               error => 'a doctest comment (skip, fails) not followed by a ```sql block' };
                $pending = undef;
            }
        }
        $i++;
    }
    return @items;
}

sub normalize {
    my @out;
    for (@_) {
        my $l = $_;
        $l =~ s/\s+/ /g;
        $l =~ s/^ //;
        $l =~ s/ $//;
        next if $l eq '';
        $l = '<rule>' if $l =~ /^-+(\+-+)*$/;
        push @out, $l;
    }
    return @out;
}

# line_matches(EXPECTED, ACTUAL): equal, or equal with the placeholders.
sub line_matches {
    my ($e, $a) = @_;
    return 1 if $e eq $a;
    return 0 unless $e =~ /<(?:\w+|\.\.\.)>/;
    my $re = join('', map {
        $_ eq '<...>' ? '.*' : /^<\w+>$/ ? '\S+' : quotemeta($_)
    } split(/(<(?:\w+|\.\.\.)>)/, $e));
    return $a =~ /^$re$/ ? 1 : 0;
}

sub run_psql {
    my ($db, $input) = @_;
    my ($in, $inname) = tempfile('doctest-XXXXXX', TMPDIR => 1, UNLINK => 1);
    binmode $in, ':raw';
    print $in $input;
    close $in;
    my $pid = open(my $out, '-|');
    die "fork: $!\n" unless defined $pid;
    if (!$pid) {
        open(STDIN, '<', $inname) or die "$inname: $!\n";
        open(STDERR, '>&', \*STDOUT) or die "stderr: $!\n";
        exec($psql, '-X', '-d', $db) or die "$psql: $!\n";
    }
    my $text = '';
    local $SIG{ALRM} = sub { kill 'TERM', $pid; $text .= "\n(doctest: psql killed after $timeout s)\n" };
    alarm $timeout;
    while (my $l = <$out>) { $text .= $l; }
    alarm 0;
    close $out;
    return $text;
}

sub report {
    my ($ok, $where, $why, @detail) = @_;
    $n++;
    if ($ok) {
        $passed++;
        print "ok $n - $where", ($why ? " ($why)" : ''), "\n";
    } else {
        $failed++;
        print "not ok $n - $where: $why\n";
        print "#   $_\n" for @detail;
    }
}

for my $file (@files) {
    my @items = parse($file);
    my $name = $file;
    $name =~ s/^\Q$repo\E\///;
    (my $db = "doctest_" . lc $name) =~ s/[^a-z0-9_]/_/g;
    my $prep = run_psql('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE);\nCREATE DATABASE $db;\n");
    if ($prep =~ /^(ERROR|FATAL|psql:)/m) {
        report(0, $name, "could not create database $db", split /\n/, $prep);
        next;
    }
    my $input = '';
    for my $k (0 .. $#items) {
        my $it = $items[$k];
        next if $it->{skip} || $it->{error};
        $input .= "\\echo '\@\@doctest $k\@\@'\n$it->{sql}\n";
    }
    $input .= "\\echo '\@\@doctest end\@\@'\n";
    my $output = run_psql($db, $input);
    my %got;
    my $cur;
    for my $l (split /\n/, $output) {
        if ($l =~ /^\@\@doctest (\d+|end)\@\@$/) {
            $cur = $1;
            $got{$cur} = [];
        } elsif (defined $cur) {
            push @{ $got{$cur} }, $l;
        }
    }
    my $shown;    # psql's whole output, once, when it stopped early
    my $failed_before = $failed;
    for my $k (0 .. $#items) {
        my $it = $items[$k];
        my $where = "$name:$it->{line}";
        $examples++ if $it->{kind} eq 'example';
        if ($it->{error}) {
            report(0, $where, $it->{error});
            next;
        }
        if ($it->{skip}) {
            $n++;
            $skipped++;
            print "ok $n - $where # skip $it->{skip}\n";
            push @skip_list, "$where: $it->{skip}";
            next;
        }
        my $got = $got{$k};
        if (!$got) {
            report(0, $where, 'psql stopped before this example',
                   ($shown++ ? '(its output is above)' : split(/\n/, $output)));
            next;
        }
        my @actual = normalize(@$got);
        my @failure = grep { /^(ERROR|FATAL|PANIC):|^psql:|^\(doctest:/ } @actual;
        if ($it->{kind} eq 'setup') {
            if (@failure) {
                report(0, "$where (setup)", 'the setup failed', @$got);
            }
            next;
        }
        $ran++;
        if (!$it->{expected}) {
            if ($it->{fails}) {
                if (@failure) {
                    report(1, $where, 'failed, as its comment says');
                } else {
                    report(0, $where, 'it did not fail, but its comment says it fails', @$got);
                }
            } elsif (@failure) {
                report(0, $where, 'it failed, and the page shows no output for it', @$got);
            } else {
                report(1, $where, 'ran');
            }
            next;
        }
        $compared++;
        my @expected = normalize(@{ $it->{expected} });
        my $same = @expected == @actual;
        my $first;
        for my $j (0 .. ($#expected > $#actual ? $#expected : $#actual)) {
            next if $j <= $#expected && $j <= $#actual && line_matches($expected[$j], $actual[$j]);
            $first = $j;
            $same = 0;
            last;
        }
        if ($same) {
            report(1, $where, 'output compared');
        } else {
            $first //= 0;
            report(0, $where,
                   "psql printed something else than the page shows at $name:$it->{expected_line}",
                   'first difference:',
                   '  page: ' . ($expected[$first] // '(nothing more)'),
                   '  psql: ' . ($actual[$first] // '(nothing more)'),
                   'the page shows:', (map { "  $_" } @{ $it->{expected} }),
                   'psql printed:', (map { "  $_" } @$got));
        }
    }
    # A page that failed keeps its database, to look at by hand.
    if ($failed == $failed_before) {
        run_psql('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE);\n");
    } else {
        print "# $name: its database $db is kept\n";
    }
}

print "doctest: $examples examples in ", scalar(@files), " files: $ran run",
      " ($compared with their output compared), $skipped skipped\n";
print "skipped example: $_\n" for @skip_list;
print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);
