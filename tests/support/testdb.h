/* Test support: a fresh database per test program on the server named by
 * WEBOPS_TEST_DATABASE_URL, migrated, dropped at exit. */
#ifndef WO_TESTS_TESTDB_H
#define WO_TESTS_TESTDB_H

#include <libpq-fe.h>

/* Exits 77 (skipped) with a message when WEBOPS_TEST_DATABASE_URL is unset.
 * Returns the conninfo of a new, empty database (static storage). */
const char *wo_testdb_create(void);
/* Same, with all migrations applied. */
const char *wo_testdb_create_migrated(void);
PGconn *wo_testdb_connect(const char *conninfo);
/* Path of the source tree's migrations directory. */
const char *wo_testdb_migrations_dir(void);
/* A new temporary directory (removed at exit). */
const char *wo_test_tmpdir(void);

#endif
