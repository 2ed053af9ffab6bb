/* Where webops keeps things: data directory, database, resource directories.
 * Resolved once per process from flags, environment and built-in defaults. */
#ifndef WO_CONFIG_CONFIG_H
#define WO_CONFIG_CONFIG_H

struct wo_config {
	char *data_dir;       /* $WEBOPS_DATA_DIR, else /var/lib/webops as root, else ~/.local/share/webops */
	char *database_url;   /* --database-url / $WEBOPS_DATABASE_URL; NULL: the embedded cluster */
	char *migrations_dir; /* $WEBOPS_MIGRATIONS_DIR, else the source tree's when run from the build tree, else installed */
	char *templates_dir;  /* $WEBOPS_TEMPLATES_DIR, same rule */
	char *web_dir;        /* $WEBOPS_WEB_DIR, same rule */
	char *addons_path;    /* $WEBOPS_ADDONS_PATH (colon-separated), else build/addons from the build tree, else installed */
	int from_build_tree;  /* the running program lives in build/bin of a configured build */
};

/* Fills cfg from the environment; database_url may be overridden after. */
int wo_config_load(struct wo_config *cfg);
void wo_config_release(struct wo_config *cfg);
/* Exports the resolved directories (WEBOPS_DATA_DIR, WEBOPS_TEMPLATES_DIR,
 * WEBOPS_WEB_DIR, WEBOPS_ADDONS_PATH, WEBOPS_MIGRATIONS_DIR) so addon hooks,
 * which run in child processes, see the same ones. */
void wo_config_export_env(const struct wo_config *cfg);
/* Directory of the running executable (borrowed, static). */
const char *wo_config_exe_dir(void);

#endif
