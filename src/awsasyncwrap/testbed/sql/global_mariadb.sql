-- awsasyncwrap testbed: Aurora Global Database emulation (MariaDB), run on the writer after
-- aurora_mariadb.sql. information_schema cannot be extended, so the views that Aurora MySQL has there
-- live in aurora_emul (the testbed's wrapper_props point the topology query at them).
CREATE TABLE IF NOT EXISTS aurora_emul.instance_region (
  SERVER_ID varchar(64) NOT NULL PRIMARY KEY,
  AWS_REGION varchar(64) NOT NULL
);

CREATE OR REPLACE VIEW aurora_emul.aurora_global_db_instance_status AS
  SELECT i.SERVER_ID,
         IF(i.IS_WRITER, 'MASTER_SESSION_ID', MD5(i.SERVER_ID)) AS SESSION_ID,
         r.AWS_REGION,
         0 AS DURABLE_LSN,
         0 AS HIGHEST_LSN_RCVD,
         0 AS OLDEST_READ_VIEW_TRX_ID,
         0 AS OLDEST_READ_VIEW_LSN,
         IF(i.IS_WRITER, 0, i.REPLICA_LAG_IN_MILLISECONDS) AS VISIBILITY_LAG_IN_MSEC
    FROM aurora_emul.instances i
    JOIN aurora_emul.instance_region r ON r.SERVER_ID = i.SERVER_ID;

CREATE OR REPLACE VIEW aurora_emul.aurora_global_db_status AS
  SELECT r.AWS_REGION,
         0 AS HIGHEST_LSN_WRITTEN,
         IF(COALESCE(MAX(i.IS_WRITER), 0) = 1, -1, COALESCE(MAX(i.REPLICA_LAG_IN_MILLISECONDS), 0))
           AS DURABILITY_LAG_IN_MILLISECONDS,
         IF(COALESCE(MAX(i.IS_WRITER), 0) = 1, -1, COALESCE(MAX(i.REPLICA_LAG_IN_MILLISECONDS), 0))
           AS RPO_LAG_IN_MILLISECONDS,
         NOW(6) AS LAST_LAG_CALCULATION_TIMESTAMP,
         0 AS OLDEST_READ_VIEW_TRX_ID
    FROM aurora_emul.instance_region r
    LEFT JOIN aurora_emul.instances i ON i.SERVER_ID = r.SERVER_ID
   GROUP BY r.AWS_REGION
