// timerfd(2), which Swift's Glibc module does not export, for VIPLinux's TimerFD.
#ifndef VIPD_CTIMERFD_SHIM_H
#define VIPD_CTIMERFD_SHIM_H

#include <sys/timerfd.h>

#endif
