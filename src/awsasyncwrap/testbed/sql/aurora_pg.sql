-- awsasyncwrap testbed: Aurora PostgreSQL emulation, installed once on the writer (database postgres)
-- and copied to every replica by physical replication.
--
-- Answers, on every node:
--   SELECT ... FROM aurora_replica_status() ...      (topology)
--   SELECT aurora_db_instance_identifier()           (the node's cluster_name = instance id)
--   SELECT pg_is_in_recovery()                       (built in)
-- The writer reports the live topology (itself + its streaming replicas). A replica asks its upstream
-- over dblink and falls back to aurora_emul.snapshot (written by aurora_emul.refresh() on the writer)
-- when the upstream is unreachable, so readers keep answering while the writer is down.

CREATE SCHEMA IF NOT EXISTS aurora_emul;

DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS dblink SCHEMA aurora_emul;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'no dblink (%): replicas answer topology from aurora_emul.snapshot', SQLERRM;
END
$$;

-- Per-instance knobs a test may set on the writer: reported CPU and extra replica lag.
CREATE TABLE IF NOT EXISTS aurora_emul.node_metrics (
  server_id text PRIMARY KEY,
  cpu real NOT NULL DEFAULT 0,
  extra_lag_msec real NOT NULL DEFAULT 0
);

-- The last topology published by the writer.
CREATE TABLE IF NOT EXISTS aurora_emul.snapshot (
  server_id text PRIMARY KEY,
  session_id text NOT NULL,
  durable_lsn bigint,
  highest_lsn_rcvd bigint,
  replica_lag_in_msec real,
  cpu real,
  last_update_timestamp timestamptz
);

CREATE OR REPLACE FUNCTION aurora_emul.live_status()
RETURNS TABLE (server_id text, session_id text, durable_lsn bigint, highest_lsn_rcvd bigint,
               replica_lag_in_msec real, cpu real, last_update_timestamp timestamptz)
LANGUAGE sql STABLE AS $$
  WITH me AS (SELECT current_setting('cluster_name') AS id, pg_current_wal_lsn() - '0/0'::pg_lsn AS lsn)
  SELECT me.id, 'MASTER_SESSION_ID', me.lsn::bigint, me.lsn::bigint, 0::real,
         coalesce(m.cpu, 0)::real, now()
    FROM me LEFT JOIN aurora_emul.node_metrics m ON m.server_id = me.id
  UNION ALL
  SELECT r.application_name,
         md5(r.pid::text || r.backend_start::text)::uuid::text,
         (r.flush_lsn - '0/0'::pg_lsn)::bigint,
         (r.write_lsn - '0/0'::pg_lsn)::bigint,
         (coalesce(extract(epoch FROM r.replay_lag) * 1000, 0) + coalesce(m.extra_lag_msec, 0))::real,
         coalesce(m.cpu, 0)::real,
         now()
    FROM pg_stat_replication r LEFT JOIN aurora_emul.node_metrics m ON m.server_id = r.application_name
   WHERE r.state IN ('startup', 'catchup', 'streaming')
     AND r.application_name NOT IN ('pg_basebackup', 'aurora_emul')
$$;

-- Writer only: store the live topology in the snapshot table (replicated to every reader).
CREATE OR REPLACE FUNCTION aurora_emul.refresh() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  DELETE FROM aurora_emul.snapshot;
  INSERT INTO aurora_emul.snapshot SELECT * FROM aurora_emul.live_status();
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION pg_catalog.aurora_db_instance_identifier() RETURNS text
LANGUAGE sql STABLE AS $$ SELECT current_setting('cluster_name') $$;

CREATE OR REPLACE FUNCTION pg_catalog.aurora_replica_status()
RETURNS TABLE (server_id text, session_id text, durable_lsn bigint, highest_lsn_rcvd bigint,
               replica_lag_in_msec real, cpu real, last_update_timestamp timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  upstream record;
BEGIN
  IF NOT pg_is_in_recovery() THEN
    RETURN QUERY SELECT * FROM aurora_emul.live_status();
    RETURN;
  END IF;
  SELECT sender_host, sender_port INTO upstream
    FROM pg_stat_wal_receiver WHERE status = 'streaming';
  IF upstream.sender_port IS NOT NULL
     AND EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'dblink'
                 AND pronamespace = 'aurora_emul'::regnamespace) THEN
    BEGIN
      RETURN QUERY EXECUTE
        'SELECT * FROM aurora_emul.dblink($1, $2) AS t(server_id text, session_id text, '
        'durable_lsn bigint, highest_lsn_rcvd bigint, replica_lag_in_msec real, cpu real, '
        'last_update_timestamp timestamptz)'
        USING format('host=%s port=%s user=postgres dbname=%s connect_timeout=2 application_name=aurora_emul',
                     upstream.sender_host, upstream.sender_port, current_database()),
              'SELECT * FROM aurora_emul.live_status()';
      RETURN;
    EXCEPTION WHEN OTHERS THEN
      NULL;  -- upstream unreachable: answer from the snapshot
    END;
  END IF;
  -- a fresh timestamp, or the wrapper would drop readers older than 300 s
  RETURN QUERY SELECT s.server_id, s.session_id, s.durable_lsn, s.highest_lsn_rcvd,
                      s.replica_lag_in_msec, s.cpu, now()
                 FROM aurora_emul.snapshot s;
END
$$;

SELECT aurora_emul.refresh();
