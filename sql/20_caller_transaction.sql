-- The statement runs in a background worker, in a transaction of its own:
-- what the calling transaction created or changed and has not committed
-- does not exist there.  run() refuses such statements before any worker
-- starts (0A000, naming the object), as it refuses temporary objects,
-- rather than fail with "does not exist" (which is false for the caller).
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
CREATE TABLE ct_new AS SELECT g AS k FROM generate_series(1, 10) AS g;
SELECT * FROM parallel_guard.run('CREATE TABLE ct_y AS SELECT * FROM ct_new', target => 1, min => 0, retries => 1);
ROLLBACK;
-- A table whose definition the transaction changed.
BEGIN;
ALTER TABLE big ADD COLUMN extra int;
SELECT * FROM parallel_guard.run('CREATE TABLE ct_z AS SELECT k, extra FROM big', target => 1, min => 0, retries => 1);
ROLLBACK;
-- A function created in the transaction.
BEGIN;
CREATE FUNCTION ct_f(int) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT $1 + 1';
SELECT * FROM parallel_guard.run('CREATE TABLE ct_w AS SELECT ct_f(k) FROM big', target => 1, min => 0, retries => 1);
ROLLBACK;
-- An index on a table created in the transaction, a view refreshed there.
BEGIN;
CREATE TABLE ct_i (k int);
SELECT * FROM parallel_guard.run('CREATE INDEX ON ct_i (k)', target => 1, min => 0, retries => 1);
ROLLBACK;
BEGIN;
CREATE MATERIALIZED VIEW ct_mv AS SELECT 1 AS one;
SELECT * FROM parallel_guard.run('REFRESH MATERIALIZED VIEW ct_mv', target => 1, min => 0, retries => 1);
ROLLBACK;
SELECT to_regclass('ct_y') IS NULL AND to_regclass('ct_z') IS NULL AND to_regclass('ct_w') IS NULL AS none_created;
-- Committed definitions are fine inside a transaction block.
\set VERBOSITY terse
CREATE TABLE ct_old AS SELECT g AS k FROM generate_series(1, 10) AS g;
BEGIN;
SELECT row_count FROM parallel_guard.run('CREATE TABLE ct_ok AS SELECT * FROM ct_old', target => 1, min => 0, retries => 1);
COMMIT;
-- Session state the statement changes stays in the worker: a sequence's
-- currval() and lastval() are the worker's, not the caller's.
CREATE SEQUENCE ct_sq;
SELECT row_count FROM parallel_guard.run('CREATE TABLE ct_s AS SELECT nextval(''ct_sq'') AS n', target => 1, min => 0, retries => 1);
SELECT n FROM ct_s;
SELECT currval('ct_sq');
SELECT nextval('ct_sq');
