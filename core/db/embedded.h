/* The embedded PostgreSQL cluster under $WEBOPS_DATA_DIR/postgres: created
 * with initdb on first use, started on a unix socket, reused, stopped. */
#ifndef WO_DB_EMBEDDED_H
#define WO_DB_EMBEDDED_H

/* Makes sure the cluster exists and runs, and that database 'webops' exists.
 * *conninfo_out (malloc'd) connects to it; *started_out (may be NULL) is set
 * to 1 when this call started the server. Progress goes to stderr. */
int wo_embedded_ensure(char **conninfo_out, const char *data_dir, int *started_out);
/* Stops the cluster (fast shutdown) and waits. *was_running_out may be NULL. */
int wo_embedded_stop(const char *data_dir, int *was_running_out);
/* 1 when the cluster answers, 0 when not. */
int wo_embedded_running(const char *data_dir);
/* conninfo of the cluster (malloc'd), whether or not it runs. */
char *wo_embedded_conninfo(const char *data_dir, const char *dbname);

#endif
