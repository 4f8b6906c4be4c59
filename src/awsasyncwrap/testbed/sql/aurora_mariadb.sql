-- awsasyncwrap testbed: Aurora MySQL topology emulation, run on the writer and copied to every
-- replica by binlog replication. aurora_emul.replica_host_status has the columns of Aurora's
-- information_schema.replica_host_status (plus HOST and PORT of each instance's proxy).
CREATE DATABASE IF NOT EXISTS aurora_emul;

CREATE TABLE IF NOT EXISTS aurora_emul.instances (
  SERVER_ID varchar(64) NOT NULL PRIMARY KEY,
  IS_WRITER tinyint NOT NULL DEFAULT 0,
  CPU double NOT NULL DEFAULT 0,
  REPLICA_LAG_IN_MILLISECONDS double NOT NULL DEFAULT 0,
  HOST varchar(64) NOT NULL,
  PORT int NOT NULL
);

CREATE OR REPLACE VIEW aurora_emul.replica_host_status AS
  SELECT SERVER_ID,
         IF(IS_WRITER, 'MASTER_SESSION_ID', MD5(SERVER_ID)) AS SESSION_ID,
         CPU,
         REPLICA_LAG_IN_MILLISECONDS,
         NOW(6) AS LAST_UPDATE_TIMESTAMP,
         HOST,
         PORT
    FROM aurora_emul.instances;

-- The testbed writes here to see a replica receive a fresh event from its master (proof that the
-- master accepted its GTID position).
CREATE TABLE IF NOT EXISTS aurora_emul.heartbeat (
  id int NOT NULL PRIMARY KEY,
  beats bigint NOT NULL
);
