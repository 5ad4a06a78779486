/* common/datadir.h — where seer's bundled data (the demo models under
 * models/demo/, the sample photos under samples/) lies: beside an installed
 * binary in <prefix>/share/seer/, or in the source tree of a build.
 *
 * Both places are found relative to the running executable (/proc/self/exe),
 * through paths the build computes (SEER_DATADIR_FROM_BIN: bin → share/seer
 * of the install prefix; SEER_SOURCE_FROM_BIN: the build directory → the
 * source tree), so an installed tree or a build tree may be moved whole.
 */
#ifndef SEER_DATADIR_H
#define SEER_DATADIR_H

#include <stddef.h>

/* The first of <installed data dir>/rel and <source tree>/rel that exists,
 * written to out (cap bytes). ST_NOT_FOUND (naming both places) when neither
 * exists; ST_ARG when rel is absolute or the path does not fit. */
int datadir_find(const char *rel, char *out, size_t cap);

#endif
