// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+), which Swift's
// Glibc module does not export: ChildProcess closes every inherited
// descriptor above stderr in the child with it.
#ifndef VIPD_CSPAWN_SHIM_H
#define VIPD_CSPAWN_SHIM_H

#include <spawn.h>

extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);

#endif
