/* Loading addon libraries: file checks, dlopen and the descriptor's ABI
 * check. wo_addon__open runs only in a sandbox child; wo_addon__probe runs
 * it there and collects the verdict. */
#ifndef WO_ADDON_LOADER_H
#define WO_ADDON_LOADER_H

#include "addon/addon.h"
#include "util/buf.h"

/* Refuses a library that is not a regular file or is writable by others. */
int wo_addon__check_library_file(const char *path, struct wo_buf *err);
/* In a child: dlopen(RTLD_NOW | RTLD_LOCAL) and check the descriptor against
 * the host ABI and the manifest's name. NULL with err filled on failure. */
void *wo_addon__open(const char *path, const char *addon_name, struct wo_buf *err,
                     unsigned *abi_major, unsigned *abi_minor, const char **version);
/* Probes a's library in a child (also checks every handler symbol); sets
 * a->loaded or a->load_error, a->abi_*, a->lib_version. */
int wo_addon__probe(struct wo_addon *a);

#endif
