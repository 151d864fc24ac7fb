// malloc_trim (glibc's <malloc.h>), which Swift's Glibc module does not
// export: MemoryTrimmer gives malloc's free pages back with it.
#ifndef VIPD_CMALLOC_SHIM_H
#define VIPD_CMALLOC_SHIM_H

#include <malloc.h>

#endif
