/* tools/version.h — what `seer --version` prints. */
#ifndef SEER_VERSION_H
#define SEER_VERSION_H

#include <stdio.h>

/* The commit the binary was built from (`git describe --always --dirty`, or
 * "unknown" outside a git checkout): defined in the build's generated
 * git_commit.c, rewritten by every build whose commit changed. */
extern const char seer_git_commit[];

/* "seer VERSION", the commit, and the optional parts built in (SIMD paths,
 * sanitizers), one per line. */
void version_print(FILE *f);

#endif
