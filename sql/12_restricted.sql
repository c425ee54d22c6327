-- Inside a security-restricted operation (here: the query of CREATE
-- MATERIALIZED VIEW) the guarded statement is as restricted as the plain one.
-- The tables are schema-qualified: from PostgreSQL 17 on, such operations
-- run with search_path = pg_catalog, pg_temp.
CREATE FUNCTION plain_in_sro() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'CREATE TABLE public.sro_plain AS SELECT set_config(''role'', ''postgres'', false) AS r';
  RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION guarded_in_sro() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM parallel_guard.run(
    'CREATE TABLE public.sro_guarded AS SELECT set_config(''role'', ''postgres'', false) AS r',
    1, 0, 1, '0');
  RETURN 'ran';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SET client_min_messages = warning;
CREATE MATERIALIZED VIEW sro_mv AS SELECT plain_in_sro() AS plain, guarded_in_sro() AS guarded;
RESET client_min_messages;
SELECT plain, guarded, plain = guarded AS same FROM sro_mv;
SELECT to_regclass('sro_plain') IS NULL AND to_regclass('sro_guarded') IS NULL AS neither_created;
-- Outside it, both run.
\set VERBOSITY terse
SELECT plain_in_sro(), guarded_in_sro();
