-- parallel_guard 1.3 -> 1.4: what happened last night, and what to do about it.
\echo Use "ALTER EXTENSION parallel_guard UPDATE TO '1.4'" to load this file. \quit
