#!/usr/bin/env python3
"""tests/fuzz/make_seeds.py — write the committed seed corpus tests/fuzz/corpus/<target>/.

Small, valid (or nearly valid) inputs for each fuzz target, so libFuzzer
starts from the formats' real structure: tiny images (from tests/data/resize
plus a generated 2x2 PNG), a tiny safetensors file, the torch.save fixtures
of tests/data/ptzip and their data.pkl, tokenizer texts, multipart and JSON
request bodies, and an encoded store record. Rerun after changing a format;
the output is deterministic.
"""
import json, os, shutil, struct, zipfile, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def png(w, h, rgb):
    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(rgb[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def safetensors(header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    # image: a 2x2 PNG, and the small test images (JPEG with EXIF orientations, progressive, GIF, BMP, ...)
    put("fuzz_image", "rgb_2x2.png", png(2, 2, [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]))
    res = os.path.join(ROOT, "tests", "data", "resize")
    for n in ["orient6.jpg", "badexif.jpg", "progressive.jpg", "truncated.jpg", "small.gif", "small.bmp",
              "small.tga", "small.ppm", "small.pgm", "palette_29x31.png", "rgb16_21x17.png", "text.png"]:
        with open(os.path.join(res, n), "rb") as f:
            put("fuzz_image", n, f.read())
    # safetensors
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    put("fuzz_safetensors", "two.safetensors", safetensors(
        {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
         "b": {"dtype": "F16", "shape": [1], "data_offsets": [16, 18]}}, f32 + b"\0\x3c"))
    put("fuzz_safetensors", "scalar.safetensors", safetensors(
        {"s": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}}, struct.pack("<q", -3)))
    put("fuzz_safetensors", "empty.safetensors", safetensors({}, b""))
    # torch.save zips and their pickles
    pz = os.path.join(ROOT, "tests", "data", "ptzip")
    for n in ["basic.bin", "nested.bin", "noncontig.bin"]:
        with open(os.path.join(pz, n), "rb") as f:
            put("fuzz_ptzip", n, f.read())
        with zipfile.ZipFile(os.path.join(pz, n)) as z:
            for e in z.namelist():
                if e.endswith("/data.pkl"):
                    put("fuzz_pickle", n.replace(".bin", ".pkl"), z.read(e))
    put("fuzz_pickle", "mark_tuple.pkl", b"\x80\x02(t.")
    # tokenizers: texts (the LM target's first byte picks gpt2 / phi / qwen)
    texts = ["a photo of a cat", "A Dog's  breakfast!! 123", "naïve café — ☕ 東京",
             "<|startoftext|>hi<|endoftext|>", "  \t\n  tabs\tand\nlines ", "\xff\xfe not utf-8"]
    for i, t in enumerate(texts):
        b = t.encode("utf-8", "surrogateescape") if "\xff" not in t else b"\xff\xfe not utf-8"
        put("fuzz_clip_tokenizer", f"text{i}", b)
        put("fuzz_lm_tokenizer", f"text{i}", bytes([i % 3]) + b)
    put("fuzz_lm_tokenizer", "specials", b"\x01<|endoftext|>Instruct: hi\nOutput:")
    put("fuzz_lm_tokenizer", "qwen_specials", b"\x02<|im_start|>user\nhi<|im_end|>")
    # multipart bodies: "Content-Type\n" + body
    ct = "multipart/form-data; boundary=XyZ"
    body = ("--XyZ\r\nContent-Disposition: form-data; name=\"payload\"\r\nContent-Type: application/json\r\n\r\n"
            "{\"messages\":[{\"role\":\"user\",\"content\":\"what?\"}]}\r\n"
            "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            "Content-Type: image/png\r\n\r\nPNGDATA\r\n--XyZ--\r\n")
    put("fuzz_multipart", "chat", ct + "\n" + body)
    put("fuzz_multipart", "search", "multipart/form-data; boundary=\"q q\"\n--q q\r\nContent-Disposition: "
        "form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\nJPEG\r\n--q q--\r\n")
    put("fuzz_multipart", "empty", ct + "\n--XyZ--\r\n")
    # JSON bodies: first byte 0 = chat, 1 = feedback messages, 2 = an id in a path
    put("fuzz_chat_body", "chat", b"\x00" + json.dumps(
        {"image_id": 3, "messages": [{"role": "user", "content": "What is this?"}], "temperature": 0.5,
         "top_p": 0.9, "num_beams": 2, "max_tokens": 64, "top_k": 40, "seed": 7}).encode())
    put("fuzz_chat_body", "chat_turns", b"\x00" + json.dumps(
        {"image_id": "12", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                        {"role": "user", "content": "c"}]}).encode())
    put("fuzz_chat_body", "feedback", b"\x01" + json.dumps(
        {"image_id": None, "vote": "up", "messages": [{"role": "user", "content": "q"},
                                                       {"role": "assistant", "content": "a"}]}).encode())
    put("fuzz_chat_body", "id", b"\x0218446744073709551615")
    # store: an images record (version 1, format length, w, h, n_paths, size, mtime, added, hash, format, path)
    rec = (bytes([1, 4, 0, 0]) + struct.pack("<IIIQqq", 640, 480, 1, 12345, 10**18, 10**18 + 5)
           + bytes(range(16)) + b"jpeg" + b"/photos/cat.jpg")
    put("fuzz_store_record", "record", rec)
    # version 2 (schema 2): make/model lengths in bytes 2-3, then taken_ns, offset, source, flags, GPS,
    # the local date text (19 bytes + 1 reserved), then format, make, model, path
    def rec2(fmt, make, model, taken, src, flags, off, lat, lon, path):
        return (bytes([2, len(fmt), len(make), len(model)])
                + struct.pack("<IIIQqq", 4032, 3024, 2, 2222, 10**18, 10**18 + 5) + bytes(range(16))
                + struct.pack("<qhBBdd", 1700000000 * 10**9, off, src, flags, lat, lon)
                + taken.ljust(20, b"\0") + fmt + make + model + path)
    put("fuzz_store_record", "record_v2_exif", rec2(b"heic", b"Apple", b"iPhone 12 mini", b"2023-11-14T17:13:20",
                                                    1, 1, -300, 48.858222, -2.2945, b"/photos/IMG_0001.HEIC"))
    put("fuzz_store_record", "record_v2_mtime", rec2(b"png", b"", b"", b"2024-02-29T23:59:59", 2, 2, 60,
                                                     0.0, 0.0, b"/p/x"))
    put("fuzz_store_record", "record_v2_none", rec2(b"webp", b"", b"", b"", 0, 0, -32768, 0.0, 0.0, b"/a"))


if __name__ == "__main__":
    main()
