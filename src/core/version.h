/* The release version of sluice, printed by both binaries' --version. */
#ifndef SL_CORE_VERSION_H
#define SL_CORE_VERSION_H

#define SL_VERSION "0.1.0"

#endif
