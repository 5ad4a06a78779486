#!/usr/bin/env python3
"""tests/reference/make_dng.py — write a tiny uncompressed CFA DNG from a PPM.

    python3 tests/reference/make_dng.py in.ppm out.dng

seer's own writer (no upstream code): a little-endian TIFF whose IFD0 is the
raw image itself — 16-bit samples, Compression 1, PhotometricInterpretation
32803 (CFA) with an RGGB 2x2 CFAPattern — plus the DNG tags a reader needs
(DNGVersion 1.4, UniqueCameraModel, ColorMatrix1 = XYZ(D65) -> linear sRGB,
i.e. the "camera" sees linear sRGB, AsShotNeutral 1 1 1, BlackLevel 0,
WhiteLevel 65535), Make/Model and Orientation 1. The mosaic samples the
input's sRGB values, linearised, at each photosite's colour. Layout follows
the DNG 1.4 specification (Adobe) and TIFF 6.0; it is what libraw reads as a
"DNG" from a camera it does not know (no embedded preview: seer demosaics).
"""
import struct
import sys


def read_ppm(path):
    data = open(path, "rb").read()
    parts, pos = [], 0
    while len(parts) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        parts.append(data[pos:end])
        pos = end
    assert parts[0] == b"P6" and parts[3] == b"255", "need an 8-bit P6"
    w, h = int(parts[1]), int(parts[2])
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def lin(v):
    c = v / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def main():
    w, h, rgb = read_ppm(sys.argv[1])
    cfa = [[0, 1], [1, 2]]  # RGGB
    raw = bytearray()
    for y in range(h):
        for x in range(w):
            c = cfa[y % 2][x % 2]
            raw += struct.pack("<H", round(lin(rgb[(y * w + x) * 3 + c]) * 65535))

    entries = []  # (tag, type, count, payload bytes)
    SHORT, LONG, RATIONAL, SRATIONAL, ASCII, BYTE = 3, 4, 5, 10, 2, 1

    def add(tag, typ, values):
        if typ == ASCII:
            b = values.encode() + b"\0"
            entries.append((tag, typ, len(b), b))
            return
        fmt = {SHORT: "<H", LONG: "<I", BYTE: "<B"}.get(typ)
        if typ in (RATIONAL, SRATIONAL):
            b = b"".join(struct.pack("<ii" if typ == SRATIONAL else "<II", n, d) for n, d in values)
        else:
            b = b"".join(struct.pack(fmt, v) for v in values)
        entries.append((tag, typ, len(values), b))

    def rat(v):
        return (round(v * 10000), 10000)

    xyz_to_srgb = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
    add(254, LONG, [0])                  # NewSubFileType: the main image
    add(256, LONG, [w])
    add(257, LONG, [h])
    add(258, SHORT, [16])
    add(259, SHORT, [1])                 # no compression
    add(262, SHORT, [32803])             # CFA
    add(271, ASCII, "Seer")
    add(272, ASCII, "Test DNG")
    add(273, LONG, [0])                  # StripOffsets, patched below
    add(274, SHORT, [1])
    add(277, SHORT, [1])
    add(278, LONG, [h])
    add(279, LONG, [len(raw)])
    add(284, SHORT, [1])
    add(306, ASCII, "2021:03:04 05:06:07")
    add(33421, SHORT, [2, 2])            # CFARepeatPatternDim
    add(33422, BYTE, [0, 1, 1, 2])       # CFAPattern RGGB
    add(50706, BYTE, [1, 4, 0, 0])       # DNGVersion
    add(50708, ASCII, "Seer Test DNG")   # UniqueCameraModel
    add(50714, LONG, [0])                # BlackLevel
    add(50717, LONG, [65535])            # WhiteLevel
    add(50721, SRATIONAL, [rat(v) for v in xyz_to_srgb])   # ColorMatrix1
    add(50728, RATIONAL, [rat(1), rat(1), rat(1)])          # AsShotNeutral
    add(50778, SHORT, [21])              # CalibrationIlluminant1: D65
    entries.sort()

    ifd_off = 8
    ifd_size = 2 + 12 * len(entries) + 4
    data_off = ifd_off + ifd_size
    blobs = bytearray()
    table = bytearray(struct.pack("<H", len(entries)))
    strip_entry = None
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            value = payload.ljust(4, b"\0")
        else:
            if (data_off + len(blobs)) % 2:
                blobs += b"\0"
            value = struct.pack("<I", data_off + len(blobs))
            blobs += payload
        if tag == 273:
            strip_entry = len(table) + 8
        table += struct.pack("<HHI", tag, typ, count) + value
    table += struct.pack("<I", 0)
    if len(blobs) % 2:
        blobs += b"\0"
    strip_off = data_off + len(blobs)
    struct.pack_into("<I", table, strip_entry, strip_off)
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_off)) + table + blobs + raw
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
