#!/usr/bin/env python3
"""tests/reference/make_dng.py — write a tiny uncompressed CFA DNG from a PPM.

    python3 tests/reference/make_dng.py [--preview P.jpg] [--orientation N] in.ppm out.dng

With --preview, IFD0 is that JPEG as the DNG preview (NewSubFileType 1,
Compression 7, YCbCr) and the raw image moves to a SubIFD, as cameras and
Adobe's converter write it.

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


SHORT, LONG, RATIONAL, SRATIONAL, ASCII, BYTE = 3, 4, 5, 10, 2, 1


def entry(tag, typ, values):
    """(tag, type, count, payload bytes) of one IFD entry"""
    if typ == ASCII:
        b = values.encode() + b"\0"
        return (tag, typ, len(b), b)
    if typ in (RATIONAL, SRATIONAL):
        b = b"".join(struct.pack("<ii" if typ == SRATIONAL else "<II", n, d) for n, d in values)
    else:
        b = b"".join(struct.pack({SHORT: "<H", LONG: "<I", BYTE: "<B"}[typ], v) for v in values)
    return (tag, typ, len(values), b)


def rat(v):
    return (round(v * 10000), 10000)


def write_tiff(ifds, path):
    """ifds: list of (entries, strip bytes); IFD i may name IFD j by a SubIFDs
    entry (330) whose value is j. StripOffsets (273) is filled in. All IFDs
    are in one chain only through SubIFDs (IFD0 is the only top-level one)."""
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    # lay out: for each IFD, its table then its out-of-line values, then all strips
    sizes = [2 + 12 * len(e) + 4 for e, _ in ifds]
    pos = 8
    ifd_pos, blob_pos = [], []
    for (ents, _), size in zip(ifds, sizes):
        ifd_pos.append(pos)
        pos += size
        blob_pos.append(pos)
        for tag, typ, count, payload in ents:
            if len(payload) > 4:
                pos += len(payload) + (len(payload) & 1)
    strip_pos = []
    for _, strip in ifds:
        strip_pos.append(pos)
        pos += len(strip) + (len(strip) & 1)
    for i, (ents, _) in enumerate(ifds):
        ents = sorted(ents)
        table = bytearray(struct.pack("<H", len(ents)))
        blobs = bytearray()
        for tag, typ, count, payload in ents:
            if tag == 273:
                payload = struct.pack("<I", strip_pos[i])
            if tag == 330:
                payload = struct.pack("<I", ifd_pos[struct.unpack("<I", payload)[0]])
            if len(payload) <= 4:
                value = payload.ljust(4, b"\0")
            else:
                value = struct.pack("<I", blob_pos[i] + len(blobs))
                blobs += payload + (b"\0" if len(payload) & 1 else b"")
            table += struct.pack("<HHI", tag, typ, count) + value
        table += struct.pack("<I", 0)
        assert len(out) == ifd_pos[i]
        out += table + blobs
    for _, strip in ifds:
        out += strip + (b"\0" if len(strip) & 1 else b"")
    open(path, "wb").write(out)


def main():
    args = sys.argv[1:]
    preview, orientation = None, 1
    while args and args[0].startswith("--"):
        if args[0] == "--preview":
            preview = args[1]
            args = args[2:]
        elif args[0] == "--orientation":
            orientation = int(args[1])
            args = args[2:]
        else:
            sys.exit("usage: make_dng.py [--preview JPEG] [--orientation N] in.ppm out.dng")
    w, h, rgb = read_ppm(args[0])
    cfa = [[0, 1], [1, 2]]  # RGGB
    raw = bytearray()
    for y in range(h):
        for x in range(w):
            c = cfa[y % 2][x % 2]
            raw += struct.pack("<H", round(lin(rgb[(y * w + x) * 3 + c]) * 65535))

    xyz_to_srgb = [3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570]
    raw_ifd = [
        entry(254, LONG, [0]),                  # NewSubFileType: the main image
        entry(256, LONG, [w]), entry(257, LONG, [h]),
        entry(258, SHORT, [16]), entry(259, SHORT, [1]),   # 16 bit, no compression
        entry(262, SHORT, [32803]),             # CFA
        entry(273, LONG, [0]),                  # StripOffsets (filled in)
        entry(277, SHORT, [1]), entry(278, LONG, [h]), entry(279, LONG, [len(raw)]), entry(284, SHORT, [1]),
        entry(33421, SHORT, [2, 2]),            # CFARepeatPatternDim
        entry(33422, BYTE, [0, 1, 1, 2]),       # CFAPattern RGGB
        entry(50714, LONG, [0]),                # BlackLevel
        entry(50717, LONG, [65535]),            # WhiteLevel
    ]
    dng_tags = [
        entry(271, ASCII, "Seer"), entry(272, ASCII, "Test DNG"),
        entry(274, SHORT, [orientation]),
        entry(306, ASCII, "2021:03:04 05:06:07"),
        entry(50706, BYTE, [1, 4, 0, 0]),       # DNGVersion
        entry(50708, ASCII, "Seer Test DNG"),   # UniqueCameraModel
        entry(50721, SRATIONAL, [rat(v) for v in xyz_to_srgb]),   # ColorMatrix1
        entry(50728, RATIONAL, [rat(1), rat(1), rat(1)]),          # AsShotNeutral
        entry(50778, SHORT, [21]),              # CalibrationIlluminant1: D65
    ]
    if preview is None:
        write_tiff([(raw_ifd + dng_tags, bytes(raw))], args[1])
        return
    # IFD0: the JPEG preview (NewSubFileType 1, JPEG in YCbCr); SubIFDs -> the raw
    jpg = open(preview, "rb").read()
    i, pw, ph = 2, 0, 0
    while i + 9 < len(jpg):                     # the preview's size, from its SOF marker
        m, ln = jpg[i + 1], struct.unpack(">H", jpg[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            ph, pw = struct.unpack(">HH", jpg[i + 5:i + 9])
            break
        i += 2 + ln
    ifd0 = [
        entry(254, LONG, [1]), entry(256, LONG, [pw]), entry(257, LONG, [ph]),
        entry(258, SHORT, [8, 8, 8]), entry(259, SHORT, [7]), entry(262, SHORT, [6]),
        entry(273, LONG, [0]), entry(277, SHORT, [3]), entry(278, LONG, [ph]), entry(279, LONG, [len(jpg)]),
        entry(284, SHORT, [1]), entry(330, LONG, [1]),   # SubIFDs -> IFD 1 (index, made an offset)
    ] + dng_tags
    write_tiff([(ifd0, jpg), (raw_ifd, bytes(raw))], args[1])


if __name__ == "__main__":
    main()
