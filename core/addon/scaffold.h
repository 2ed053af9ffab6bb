/* Scaffolding a new addon folder (`webops addon new`). */
#ifndef WO_ADDON_SCAFFOLD_H
#define WO_ADDON_SCAFFOLD_H

/* Writes addon.yaml, NAME.c, Makefile and README.md into dir (created when
 * missing; existing files are refused unless force). pkgconfig_dir, when not
 * NULL, is a webops build directory the Makefile falls back to for
 * webops-addon.pc. */
int wo_addon_scaffold(const char *name, const char *dir, const char *pkgconfig_dir, int force);

#endif
