-- The extension refuses a schema "parallel_guard" that another role owns:
-- a database owner who created it before a superuser installs the
-- extension would otherwise own the schema of a superuser's extension.
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE ROLE squatter LOGIN;
CREATE DATABASE squat_db OWNER squatter;
\c squat_db
SET ROLE squatter;
CREATE SCHEMA parallel_guard;
RESET ROLE;
CREATE EXTENSION parallel_guard;
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'parallel_guard';
-- Once the schema is gone, the extension installs into its own.
DROP SCHEMA parallel_guard;
CREATE EXTENSION parallel_guard;
SELECT nspowner::regrole AS schema_owner FROM pg_namespace WHERE nspname = 'parallel_guard';
\c contrib_regression
DROP DATABASE squat_db;
DROP ROLE squatter;
