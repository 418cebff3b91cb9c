#!/usr/bin/env python3
"""Writes the committed seed inputs of every fuzz target into fuzz/seeds/<target>/.

Each seed is a frame or header the tests use (the source is noted beside it), spelled out here
so the seeds can be regenerated and reviewed: `python3 fuzz/seeds/make_seeds.py`. Only the
standard library is used (MessagePack, binary Phoenix frames and EXIF are built by hand).
"""

import json
import shutil
import struct
import zlib
from pathlib import Path

SEEDS = Path(__file__).resolve().parent


def write(target, name, data):
    folder = SEEDS / target
    folder.mkdir(exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (folder / name).write_bytes(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- Phoenix V2 text (protocol/src/phoenix/text.rs tests, tests/tests/socket/, tests/js) ---
phoenix_text = {
    "join": ["5", "5", "room:lobby", "phx_join", {"a": 1}],
    "heartbeat": [None, "6", "phoenix", "heartbeat", {}],
    "join_with_since": ["1", "1", "conversation:c1", "phx_join",
                        {"since": {"epoch": "e1", "offset": 12}}],
    "new_msg": ["1", "2", "conversation:c1", "new_msg", {"body": "olá, \"mundo\"", "client_id": "c-1"}],
    "create_upload": ["3", "4", "user:u1", "create_upload",
                      {"filename": "tv.jpg", "size": 48213, "sha256": "ab" * 32}],
    "credit": ["7", "8", "stream:p1", "credit", {"bytes": 20000}],
    "presence_join": ["9", "9", "community:c1", "phx_join", {"device": "phone"}],
    "reply": ["5", "5", "room:lobby", "phx_reply",
              {"status": "error", "response": {"reason": "unmatched topic"}}],
    "broadcast_numbers": [None, None, "room:lobby", "new_msg", {"n": [1, 2.5, None, -7e-3]}],
}
for name, frame in phoenix_text.items():
    write("phoenix_text", name, compact(frame))
write("phoenix_text", "wrong_arity", '["1","1","t","e"]')
write("phoenix_text", "v1_object", '{"topic":"t","event":"e","payload":{},"ref":"1"}')


# --- Phoenix V2 binary (protocol/src/phoenix/binary tests; tests/js/test/media.test.js) ---
def binary_frame(kind, fields, data=b""):
    fields = [f.encode() for f in fields]
    return bytes([kind] + [len(f) for f in fields]) + b"".join(fields) + data


def msgpack_str(text):
    raw = text.encode()
    assert len(raw) < 32
    return bytes([0xA0 | len(raw)]) + raw


def msgpack_uint(n):
    if n < 0x80:
        return bytes([n])
    for marker, fmt, limit in ((0xCC, ">B", 1 << 8), (0xCD, ">H", 1 << 16), (0xCE, ">I", 1 << 32)):
        if n < limit:
            return bytes([marker]) + struct.pack(fmt, n)
    return b"\xCF" + struct.pack(">Q", n)


def msgpack_bin(data):
    if len(data) < 256:
        return bytes([0xC4, len(data)]) + data
    return b"\xC5" + struct.pack(">H", len(data)) + data


def chunk(offset, data):
    """`Chunk::encode` / @msgpack/msgpack `encode({offset, data})`: a fixmap of two."""
    return b"\x82" + msgpack_str("offset") + msgpack_uint(offset) + msgpack_str("data") + msgpack_bin(data)


write("phoenix_client_binary", "chunk_push",
      binary_frame(0, ["5", "9", "upload:42", "chunk"], b"\xAA\xBB"))
write("phoenix_client_binary", "chunk_push_msgpack",
      binary_frame(0, ["3", "12", "upload:u-1", "chunk"], chunk(65536, bytes(range(32)))))
write("phoenix_client_binary", "nil_refs", binary_frame(0, ["", "", "t", "e"]))
write("phoenix_server_binary", "push", binary_frame(0, ["5", "tv:1", "bin"], b"\xDE\xAD"))
write("phoenix_server_binary", "reply", binary_frame(1, ["5", "9", "upload:42", "ok"], b"\xCA\xFE"))
write("phoenix_server_binary", "broadcast", binary_frame(2, ["tv:1", "frame"], b"\x01\x02\x03"))
write("phoenix_server_binary", "stream_data",
      binary_frame(0, ["4", "stream:p1", "data"], chunk(4096, b"\xFF\xD8\xFF\xE0" * 8)))

# --- Transfer chunks (protocol/src/chunk.rs tests, tests/tests/media/, tests/js media) ---
write("chunk", "small", chunk(7, b"\xAA\xBB"))
write("chunk", "empty", chunk(0, b""))
write("chunk", "uint16_offset", chunk(65000, bytes(range(64))))
write("chunk", "uint64_offset", chunk(2**64 - 1, b"\x00"))
write("chunk", "bin16", chunk(1 << 20, bytes(300)))
write("chunk", "lying_bin32", b"\x82" + msgpack_str("offset") + b"\x00" + msgpack_str("data")
      + b"\xC6\xFF\xFF\xFF\xFF")

# --- Mux envelopes (protocol/src/envelope.rs tests, tests/tests/graphql/mux.rs) ---
write("envelope", "close", b"\x84" + msgpack_str("t") + msgpack_str("close") + msgpack_str("sub")
      + msgpack_str("gql") + msgpack_str("code") + msgpack_uint(4403) + msgpack_str("reason")
      + msgpack_str("Forbidden"))
write("envelope", "ping", b"\x82" + msgpack_str("t") + msgpack_str("ping") + msgpack_str("id")
      + msgpack_uint(9))
write("envelope", "pong", b"\x82" + msgpack_str("t") + msgpack_str("pong") + msgpack_str("id")
      + msgpack_uint(2**40))
write("envelope", "unknown_tag", b"\x81" + msgpack_str("t") + msgpack_str("bad"))

# --- graphql-transport-ws (tests/tests/graphql/, tests/js/test/graphql.test.js) ---
message_received = ("subscription ($conversationId: String!, $since: SinceInput) {\n"
                    "  messageReceived(conversationId: $conversationId, since: $since) "
                    "{ id body offset epoch senderId }\n}")
graphql_ws = {
    "connection_init": {"type": "connection_init", "payload": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.x"}},
    "connection_init_bare": {"type": "connection_init"},
    "subscribe": {"id": "1", "type": "subscribe", "payload": {"query": "{ me { id email role communityId } }"}},
    "subscribe_variables": {"id": "0b4c3f1e-5a7d-4d2b-9c61-0f0e2a9b7c11", "type": "subscribe",
                            "payload": {"query": message_received, "operationName": None,
                                        "variables": {"conversationId": "c1", "since": {"epoch": "e", "offset": 3}}}},
    "ping": {"type": "ping", "payload": {"n": 1.5}},
    "pong": {"type": "pong"},
    "complete": {"id": "a", "type": "complete"},
    "unknown_type": {"type": "what"},
}
for name, message in graphql_ws.items():
    write("graphql_ws", name, compact(message))
write("graphql_ws", "not_json", "{not json")

# --- HTTP Range: 8-byte little-endian size, then the header (tests/tests/media/delivery.rs) ---
for name, size, header in [
    ("first_ten", 4312, "bytes=0-9"),
    ("suffix", 4312, "bytes=-5"),
    ("from_end", 4312, "bytes=4312-"),
    ("open", 100, "bytes=90-"),
    ("clamped", 100, " bytes= 95 - 200 "),
    ("several", 100, "bytes=0-1,5-6"),
]:
    write("range", name, struct.pack("<Q", size) + header.encode())

# --- GraphQL multipart map: max_files byte, then the JSON (tests/tests/media/uploads.rs) ---
for name, max_files, map_json in [
    ("single", 4, {"0": ["variables.file"]}),
    ("several", 8, {"0": ["variables.files.0"], "1": ["variables.files.1", "variables.cover"]}),
    ("too_many", 1, {"a": ["variables.a"], "b": ["variables.b"]}),
    ("bad_path", 4, {"0": ["query"]}),
]:
    write("upload_map", name, bytes([max_files]) + compact(map_json).encode())


# --- Media heads (imaging/tests/media/mime.rs and imaging/src/mime.rs tests) ---
def ftyp(major, compatible, size=None):
    size = size if size is not None else 16 + 4 * len(compatible)
    return struct.pack(">I", size) + b"ftyp" + major + b"\0\0\x02\0" + b"".join(compatible)


def ebml(doc_type):
    body = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doc_type)]) + doc_type
    return b"\x1A\x45\xDF\xA3" + bytes([0x80 | len(body)]) + body


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


png_head = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">II", 50, 40) + b"\x08\x02\0\0\0")
sniff_seeds = {
    "jpeg": b"\xFF\xD8\xFF\xE0\0\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0",
    "png": png_head,
    "gif": b"GIF89a\x10\0\x08\0\x80\0\0",
    "webp": b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0",
    "tiff": b"II*\0\x08\0\0\0",
    "mp4": ftyp(b"isom", [b"isom", b"iso2"], 24) + struct.pack(">I", 8) + b"free",
    "heif_avif": ftyp(b"mif1", [b"mif1", b"miaf", b"avif"]),
    "heic": ftyp(b"heic", [b"mif1", b"heic"]),
    "quicktime": struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 4096),
    "webm": ebml(b"webm"),
    "matroska": ebml(b"matroska\0"),
    "text": b"hello, this is not a photo\n",
}
for name, head in sniff_seeds.items():
    write("sniff", name, head)


# --- EXIF (imaging/tests/media/exif.rs builds the same fields with kamadak-exif's writer) ---
def tiff(entries_by_ifd, big_endian=False):
    """A minimal TIFF: IFD0 then the Exif and GPS IFDs it points to, values after each IFD."""
    e = ">" if big_endian else "<"
    out = bytearray((b"MM\0*" if big_endian else b"II*\0") + struct.pack(e + "I", 8))
    types = {"ascii": (2, 1), "short": (3, 2), "long": (4, 4), "rational": (5, 8)}

    def encode(kind, value):
        if kind == "ascii":
            return value.encode() + b"\0"
        if kind == "short":
            return b"".join(struct.pack(e + "H", v) for v in value)
        if kind == "long":
            return b"".join(struct.pack(e + "I", v) for v in value)
        return b"".join(struct.pack(e + "II", n, d) for n, d in value)

    def ifd(entries, offset, pointers):
        # entries: (tag, kind, value); pointers: tag -> placeholder filled by the caller
        count = len(entries) + len(pointers)
        data_start = offset + 2 + 12 * count + 4
        table, data = bytearray(struct.pack(e + "H", count)), bytearray()
        for tag, kind, value in sorted(entries + [(t, "long", [0]) for t in pointers]):
            raw = encode(kind, value)
            type_id, size = types[kind]
            table += struct.pack(e + "HHI", tag, type_id, len(raw) // size)
            if len(raw) <= 4:
                table += raw.ljust(4, b"\0")
            else:
                table += struct.pack(e + "I", data_start + len(data))
                data += raw + (b"\0" if len(raw) % 2 else b"")
        table += struct.pack(e + "I", 0)
        return table, data

    primary, exif_ifd, gps_ifd = entries_by_ifd
    # Lay out IFD0 first to learn where the sub-IFDs go, then patch their pointers.
    pointers = [t for t, ifd_entries in ((0x8769, exif_ifd), (0x8825, gps_ifd)) if ifd_entries]
    table, data = ifd(primary, len(out), pointers)
    ifd0_at = len(out)
    out += table + data
    for tag, entries in ((0x8769, exif_ifd), (0x8825, gps_ifd)):
        if not entries:
            continue
        at = len(out)
        sub_table, sub_data = ifd(entries, at, [])
        out += sub_table + sub_data
        # Find the pointer entry in IFD0 and write the sub-IFD's offset into it.
        count = struct.unpack_from(e + "H", out, ifd0_at)[0]
        for i in range(count):
            entry = ifd0_at + 2 + 12 * i
            if struct.unpack_from(e + "H", out, entry)[0] == tag:
                struct.pack_into(e + "I", out, entry + 8, at)
    return bytes(out)


camera = (
    [(0x010F, "ascii", "Apple"), (0x0110, "ascii", "iPhone 15 Pro"), (0x0112, "short", [6]),
     (0x0132, "ascii", "2024:08:01 00:00:00")],
    [(0x9003, "ascii", "2024:07:15 10:30:45"), (0x9291, "ascii", "25"),
     (0xA434, "ascii", "iPhone 15 Pro back triple camera 6.86mm f/1.78")],
    [(0x0001, "ascii", "S"), (0x0002, "rational", [(23, 1), (33, 1), (0, 100)]),
     (0x0003, "ascii", "W"), (0x0004, "rational", [(46, 1), (38, 1), (0, 100)])],
)
padded = (
    [(0x010F, "ascii", "  Canon\0\0"), (0x0110, "ascii", "EOS R5   ")],
    [(0x9003, "ascii", "2024:13:40 25:61:61"), (0x9291, "ascii", "x")],
    [(0x0002, "rational", [(0, 0), (1, 1), (1, 1)]), (0x0004, "rational", [(200, 1)])],
)


def jpeg_with_exif(tiff_bytes):
    payload = b"Exif\0\0" + tiff_bytes
    app1 = b"\xFF\xE1" + struct.pack(">H", len(payload) + 2) + payload
    # SOI, APP1, then an end of image: read_exif only needs the segments before the scan.
    return b"\xFF\xD8" + app1 + b"\xFF\xD9"


write("exif", "jpeg_camera", jpeg_with_exif(tiff(camera)))
write("exif", "jpeg_padded_bad_values", jpeg_with_exif(tiff(padded, big_endian=True)))
write("exif", "tiff_camera", tiff(camera, big_endian=True))
write("exif", "jpeg_without_exif", sniff_seeds["jpeg"] + b"\xFF\xD9")
write("exif", "png_exif_chunk", png_head + png_chunk(b"eXIf", tiff(camera)) + png_chunk(b"IEND", b""))

if __name__ == "__main__":
    print("seeds written to", SEEDS)
