// libcap (libcap-dev) for VIPLinux's Privileges: capability sets via
// cap_get_proc / cap_set_proc, and prctl for PR_SET_KEEPCAPS.
#ifndef VIPD_CLIBCAP_SHIM_H
#define VIPD_CLIBCAP_SHIM_H

#include <sys/capability.h>
#include <sys/prctl.h>

// prctl(2) is variadic, which Swift cannot call; this fixes its arity.
// PR_SET_KEEPCAPS keeps the permitted capability set across setuid() from
// root to another user, so the daemon can keep CAP_NET_ADMIN/CAP_NET_RAW.
static inline int vipd_set_keepcaps(int keep) {
    return prctl(PR_SET_KEEPCAPS, (unsigned long)keep, 0UL, 0UL, 0UL);
}

#endif
