-- awsasyncwrap testbed: used when rds_emul.so could not be built. PostgreSQL leaves the placeholder
-- setting rds.extensions (set in postgresql.conf) out of pg_settings, so an unqualified "pg_settings"
-- in database postgres resolves to this view, which adds the row. pg_catalog.pg_settings is unchanged.

CREATE OR REPLACE VIEW public.pg_settings AS
  SELECT * FROM pg_catalog.pg_settings
  UNION ALL
  SELECT s.name, s.setting, NULL, 'Customized Options', 'Emulated Amazon RDS extension list', NULL,
         'sighup', 'string', 'configuration file', NULL, NULL, NULL, '', s.setting, NULL, NULL, false
    FROM (SELECT 'rds.extensions'::text AS name, current_setting('rds.extensions', true) AS setting) s
   WHERE s.setting IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'rds.extensions');

ALTER DATABASE postgres SET search_path = "$user", public, pg_catalog;
