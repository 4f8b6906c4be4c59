/*
 * rds_emul.c - awsasyncwrap testbed: register the setting "rds.extensions" so that it is listed in
 * pg_settings, as on Amazon RDS / Aurora. A placeholder set only in postgresql.conf is readable with
 * SHOW, but PostgreSQL 15+ leaves placeholders out of pg_settings.
 *
 * Loaded through shared_preload_libraries; the value itself comes from postgresql.conf.
 */
#include "postgres.h"
#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static char *emulated_rds_extensions = NULL;

void
_PG_init(void)
{
	DefineCustomStringVariable("rds.extensions",
							   "Extensions an Amazon RDS instance offers (emulated by the awsasyncwrap testbed).",
							   NULL,
							   &emulated_rds_extensions,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);
}
