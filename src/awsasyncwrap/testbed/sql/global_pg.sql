-- awsasyncwrap testbed: Aurora Global Database emulation (PostgreSQL), installed on the writer after
-- aurora_pg.sql and copied to every node by replication. aurora_emul.instance_region labels each
-- instance with its region; the primary region is the writer's.
--   pg_catalog.aurora_global_db_instance_status(): every instance, its region and visibility lag
--   pg_catalog.aurora_global_db_status(): one row per region (lag -1 in the primary region)

CREATE TABLE IF NOT EXISTS aurora_emul.instance_region (
  server_id text PRIMARY KEY,
  aws_region text NOT NULL
);

CREATE OR REPLACE FUNCTION pg_catalog.aurora_global_db_instance_status()
RETURNS TABLE (server_id text, session_id text, aws_region text, durable_lsn bigint, highest_lsn_rcvd bigint,
               feedback_epoch integer, feedback_xmin integer, oldest_read_view_lsn bigint,
               visibility_lag_in_msec real)
LANGUAGE sql VOLATILE AS $$
  SELECT s.server_id, s.session_id, coalesce(r.aws_region, 'unknown'), s.durable_lsn, s.highest_lsn_rcvd,
         0, 0, s.durable_lsn,
         (CASE WHEN s.session_id = 'MASTER_SESSION_ID' THEN 0 ELSE coalesce(s.replica_lag_in_msec, 0) END)::real
    FROM pg_catalog.aurora_replica_status() s
    LEFT JOIN aurora_emul.instance_region r ON r.server_id = s.server_id
$$;

CREATE OR REPLACE FUNCTION pg_catalog.aurora_global_db_status()
RETURNS TABLE (aws_region text, highest_lsn_written bigint, durability_lag_in_msec real, rpo_lag_in_msec real,
               last_lag_calculation_time timestamptz, feedback_epoch integer, feedback_xmin integer)
LANGUAGE sql VOLATILE AS $$
  WITH i AS (SELECT * FROM pg_catalog.aurora_global_db_instance_status()),
       lag AS (
         SELECT r.aws_region,
                max(i.highest_lsn_rcvd) AS lsn,
                bool_or(i.session_id = 'MASTER_SESSION_ID') AS is_primary,
                coalesce(max(i.visibility_lag_in_msec), 0) AS lag
           FROM (SELECT DISTINCT x.aws_region FROM aurora_emul.instance_region x) r
           LEFT JOIN i ON i.aws_region = r.aws_region
          GROUP BY r.aws_region)
  SELECT aws_region, lsn,
         (CASE WHEN is_primary THEN -1 ELSE lag END)::real,
         (CASE WHEN is_primary THEN -1 ELSE lag END)::real,
         now(), 0, 0
    FROM lag ORDER BY aws_region
$$;
