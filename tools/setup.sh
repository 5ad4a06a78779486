#!/usr/bin/env bash
# tools/setup.sh — install what seer needs on Debian bookworm and build it.
#
#   sudo tools/setup.sh            # packages + FAISS C API + build (Release)
#   SEER_SKIP_BUILD=1 tools/setup.sh   # packages + FAISS C API only
#
# Idempotent: packages already present are left alone, the FAISS C API is built
# once into /usr/local/lib/libfaiss_c.a, the build directory is reused.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# ---------------------------------------------------------------- packages
pkgs=(
  build-essential cmake pkg-config git ca-certificates dpkg-dev python3
  libopenblas-openmp-dev            # BLAS (OpenMP variant: see docs/install.md)
  libdnnl-dev                       # oneDNN: the towers' float32 GEMMs on AVX-512 CPUs
  libfaiss-dev                      # FAISS (headers + static C++ library)
  liblmdb-dev                       # the store
  libcivetweb-dev civetweb          # HTTP server (civetweb's CMake config needs /usr/bin/civetweb)
  libstb-dev                        # stb_image / stb_image_write
  libpcre2-dev libutf8proc-dev      # tokenizer regexes and Unicode
  libsentencepiece-dev              # LLaMA-2's tokenizer.model (model/text/spm.cc)
  python3-sentencepiece             # the tokenizer's reference (tests/reference/llama_vlm_ref.py)
  libjansson-dev                    # JSON
  libxxhash-dev                     # content hashes
  libexif-dev                       # EXIF (orientation, date, camera, GPS)
  libwebp-dev                       # WebP
  libheif-dev                       # HEIC / HEIF / AVIF (Debian's libheif1 decodes with libde265, dav1d, aom)
  libtiff-dev                       # TIFF
  libraw-dev                        # camera RAW (libraw_r)
  libssl-dev                        # base64 (libcrypto) for the OpenAI-compatible API
  curl                              # seer serve's integration test (tests/cli_serve.sh)
  help2man                          # man pages from --help (cmake/package.cmake)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------- FAISS C API
# Debian ships faiss/c_api/*.h but no compiled C API; build it from Debian's
# own faiss source package (same version as libfaiss-dev).
if [ ! -f /usr/local/lib/libfaiss_c.a ]; then
  src_list=/etc/apt/sources.list.d/seer-deb-src.sources
  if ! apt-get indextargets 2>/dev/null | grep -q "Identifier: Sources"; then
    echo "setup: enabling deb-src for bookworm"
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      | $SUDO tee "$src_list" >/dev/null
    $SUDO apt-get update -qq
  fi
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get source -qq --download-only faiss >/dev/null && dpkg-source -x --no-check faiss_*.dsc src >/dev/null)
  echo "setup: building the FAISS C API"
  objs=()
  for f in "$work"/src/c_api/*.cpp "$work"/src/c_api/impl/*.cpp "$work"/src/c_api/utils/*.cpp; do
    [ -f "$f" ] || continue
    o="$work/$(basename "${f%.cpp}").o"
    g++ -std=c++17 -O2 -DNDEBUG -fPIC -fopenmp -I"$work/src" -c "$f" -o "$o" &
    objs+=("$o")
    # two at a time: this is sized for small machines
    if (( ${#objs[@]} % $(nproc) == 0 )); then wait; fi
  done
  wait
  ar rcs "$work/libfaiss_c.a" "${objs[@]}"
  $SUDO install -m 644 "$work/libfaiss_c.a" /usr/local/lib/libfaiss_c.a
fi

# ---------------------------------------------------------------- build
if [ "${SEER_SKIP_BUILD:-0}" != 1 ]; then
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/build" -j"$(nproc)"
fi
