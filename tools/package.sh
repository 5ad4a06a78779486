#!/usr/bin/env bash
# tools/package.sh — the Debian package: build/seer_<version>_<arch>.deb.
#
#   tools/package.sh          (after tools/setup.sh: the build dependencies)
#
# A Release build in build/package/ for /usr, made with SEER_NATIVE=OFF: the
# package runs on any x86-64 CPU with AVX2, FMA and F16C, not only on this
# machine's (-march=native is for builds that stay where they are made).
# CPack turns `cmake --install` into the .deb (cmake/package.cmake: why
# CPack, and dpkg-shlibdeps for the runtime dependencies). Only seer and its
# man pages are built, not the tests. Install it with
#   sudo apt-get install ./build/seer_*.deb
# Idempotent; build/package/ is reused.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$root/build/package
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DSEER_NATIVE=OFF -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target seer seer_docs
rm -f "$dir"/seer_*.deb "$root"/build/seer_*.deb
(cd "$dir" && cpack -G DEB >/dev/null)
deb=$(ls "$dir"/seer_*.deb)
cp "$deb" "$root/build/"
echo "package: build/$(basename "$deb")"
dpkg-deb --field "$root/build/$(basename "$deb")" Package Version Architecture Depends
