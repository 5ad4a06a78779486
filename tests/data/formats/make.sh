#!/usr/bin/env bash
# tests/data/formats/make.sh — regenerate the small files of tests/data/formats
# (read by tests/test_formats.c) from samples/larger/cat-test0100-256px.jpg,
# with Debian's tools only: ImageMagick (convert), cwebp, heif-enc (HEIC, and
# -A for AVIF), exiftool (libimage-exiftool-perl) for the EXIF dates, cameras
# and GPS, python3 for the DNG (tests/reference/make_dng.py) and for the
# garbage file (a fixed seed). Every picture is 64x48 (the PNG is the
# reference the others are compared with).
#
#   bash tests/data/formats/make.sh     # rewrites the files in place
#
# The EXIF values are what tests/test_formats.c expects: change both together.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
out=$root/tests/data/formats
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$out"
src=$root/samples/larger/cat-test0100-256px.jpg
ex() { exiftool -q -overwrite_original -n "$@"; }

convert "$src" -resize '64x48!' -strip src.png                 # the reference
convert src.png -strip ppm:"$tmp/src.ppm"
convert src.png -strip gif.gif
convert src.png -strip bmp3:bmp.bmp

# JPEG with everything: date + offset, camera, GPS (south-west), orientation 6
convert src.png -strip -quality 92 exif.jpg
ex -DateTimeOriginal="2023:07:14 18:30:05" -OffsetTimeOriginal="+02:00" \
   -Make="Canon  " -Model="Canon EOS R6 " -Orientation=6 \
   -GPSLatitude=33.8568 -GPSLatitudeRef=S -GPSLongitude=151.2153 -GPSLongitudeRef=E exif.jpg
# the same picture, upright, no EXIF: without an extension, and named .png
convert src.png -strip -quality 92 plain.jpg
cp plain.jpg jpeg_noext
cp plain.jpg jpeg_named.png

# WebP with EXIF (date, camera; orientation 1)
cwebp -quiet -q 90 src.png -o webp.webp
ex -DateTimeOriginal="2022:01:02 03:04:05" -Make="Google" -Model="Pixel 7" webp.webp

# orientation 6 in a WebP's EXIF and in a TIFF's own tag
cp webp.webp webp_orient6.webp
ex -Orientation=6 webp_orient6.webp
cp tiff.tif tiff_orient6.tif
ex -Orientation=6 tiff_orient6.tif

# HEIC from a JPEG with EXIF (heif-enc copies it into the Exif item), AVIF
convert src.png -strip -quality 95 "$tmp/heic_src.jpg"
ex -DateTimeOriginal="2024:02:29 12:00:00" -OffsetTimeOriginal="-05:00" -Make="Apple" -Model="iPhone 13" \
   -GPSLatitude=40.6892 -GPSLatitudeRef=N -GPSLongitude=74.0445 -GPSLongitudeRef=W "$tmp/heic_src.jpg"
heif-enc -q 90 "$tmp/heic_src.jpg" -o heic.heic >/dev/null
heif-enc -A -q 90 src.png -o avif.avif >/dev/null

# TIFF (LZW) with tags in IFD0 and the EXIF IFD
convert src.png -strip -compress lzw tiff.tif
ex -Make="Epson" -Model="Perfection V600" -DateTimeOriginal="1999:12:31 23:59:59" tiff.tif

# a camera RAW: an uncompressed CFA DNG of our own making, then its EXIF date
python3 "$root/tests/reference/make_dng.py" "$tmp/src.ppm" dng.dng
ex -DateTimeOriginal="2021:03:04 05:06:07" -OffsetTimeOriginal="+09:00" dng.dng

# bad files
head -c 600 exif.jpg > bad_truncated.jpg
: > bad_empty.jpg
printf 'This is a text file, not a picture.\n' > bad_text.jpg
python3 -c 'import random,sys; r=random.Random(13); sys.stdout.buffer.write(bytes(r.randrange(256) for _ in range(512)))' > bad_garbage.heic
head -c 400 heic.heic > bad_truncated.heic
head -c 300 tiff.tif > bad_truncated.tif
ls -l "$out"
