#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus: fuzz/corpus/<target>/<name>.

Usage: fuzz/make_corpus.py [REPO_ROOT]

Seeds are every frame of tests/data/protocol-vectors.json (whole frames for
the frame target, payloads for the payload decoder they belong to) plus edge
cases: truncations, trailing bytes, bad magic/version/kind, lengths above
the maximum, malformed UTF-8 and nicks on the edge of the rules.  The output
is committed; rerun this after changing the vectors and commit the result.
"""
import hashlib
import json
import pathlib
import shutil
import struct
import sys

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
OUT = ROOT / "fuzz" / "corpus"

# Frame target control byte (fuzz/frame_target.cpp): bit 7 role (client),
# bits 4-6 max payload index, bit 3 shrink, bits 0-2 feeding mode.
SERVER, CLIENT = 0x00, 0x80
MAX_64, MAX_65536, MAX_0 = 3 << 4, 5 << 4, 0 << 4


def header(kind, type_, status=0, id_=0, length=0, magic=b"SC", version=1):
    return magic + struct.pack(">BBBBHII", version, kind, type_, status, 0, id_, length)


def frame(kind, type_, payload=b"", status=0, id_=0):
    return header(kind, type_, status, id_, len(payload)) + payload


def str8(s):
    return bytes([len(s)]) + s


def entry(id_=7, nick=b"alice", family=4):
    ip = b"\x7f\x00\x00\x01" if family == 4 else bytes(15) + b"\x01"
    return struct.pack(">IB", id_, family) + ip + struct.pack(">Hq", 51234, 1795665596123456) + str8(nick)


def payload_target(v):
    """The payload decoder a vector's payload belongs to, or None."""
    k, t, s = v["kind"], v["type"], v["status"]
    if k == 3:
        return {64: "hello", 65: "message", 66: "presence", 67: "text", 68: "text"}.get(t)
    if k == 1:
        return {4: "send_request", 6: "nick", 7: "u32", 8: "u8", 10: "auth"}.get(t)
    if s == 4:
        return "not_delivered"
    if s != 0:
        return "text"
    return {1: "time_reply", 2: "text", 3: "list_reply", 4: "u32", 10: "auth_reply"}.get(t)


def vector_seeds(vectors):
    seeds = {}
    for i, v in enumerate(vectors):
        raw = bytes.fromhex(v["hex"])
        role = SERVER if v["kind"] == 1 else CLIENT
        seeds.setdefault("frame", []).append(bytes([role | MAX_65536 | (i % 8)]) + raw)
        target = payload_target(v)
        if target:
            seeds.setdefault(target, []).append(raw[16:])
    requests = b"".join(bytes.fromhex(v["hex"]) for v in vectors if v["kind"] == 1)
    replies = b"".join(bytes.fromhex(v["hex"]) for v in vectors if v["kind"] != 1)
    for mode in range(8):
        seeds["frame"].append(bytes([SERVER | MAX_65536 | 0x08 | mode]) + requests)
        seeds["frame"].append(bytes([CLIENT | MAX_65536 | mode]) + replies)
    return seeds


def frame_edges():
    ping = frame(1, 5, b"abc", id_=5)
    big = frame(1, 4, b"x" * 100, id_=4)
    return [
        bytes([SERVER]),                                             # empty stream
        bytes([SERVER | 1]) + ping[:9],                              # truncated header
        bytes([SERVER | 3]) + ping[:18],                             # truncated payload
        bytes([SERVER]) + b"GET / HTTP/1.1\r\n\r\n",                 # bad magic
        bytes([SERVER | 1]) + b"\x16\x03\x01\x00\xa5\x01\x00\x00",    # TLS ClientHello
        bytes([SERVER]) + header(1, 1, version=2),                   # bad version
        bytes([SERVER]) + header(2, 1),                              # bad kind for a server
        bytes([CLIENT]) + header(1, 1),                              # bad kind for a client
        bytes([SERVER | MAX_64 | 2]) + big + ping,                   # too large, then more
        bytes([SERVER | MAX_64 | 6]) + big[:40],                     # too large, partly skipped
        bytes([SERVER | MAX_0 | 7]) + ping + frame(1, 1) + ping,      # max payload 0
        bytes([CLIENT | (7 << 4) | 5]) + header(2, 3, length=0xFFFFFFFF),  # largest length
        bytes([SERVER | 0x08 | 1]) + ping + ping[:3],               # shrink with bytes pending
    ]


def payload_edges():
    name = "lab-server".encode()
    hello = struct.pack(">IHHHI", 7, 10, 30, 5, 65536) + str8(name)
    return {
        # First edition (no flags), flags, unknown flag bits, later-edition
        # bytes after the flags, a server name longer than the payload.
        "hello": [b"", struct.pack(">IHHHI", 7, 10, 30, 5, 65536) + str8(b"x" * 255),
                  struct.pack(">IHHHI", 7, 10, 30, 5, 65536) + b"\x0b" + name,
                  hello, hello + b"\x07", hello + b"\xf8", hello + b"\x01\x00\xff\xfe"],
        "auth": [b"", b"\x05alice", b"\x05alicep", b"\x00pw", b"\x21" + b"a" * 33 + b"pw",
                 b"\x03a bpw", b"\x02a\x1bpw", b"\x02\xc0\xafpw", b"\x01ap\xff",
                 b"\x01a" + b"p" * 255, b"\x01a" + b"p" * 256, b"\x06alice"],
        "auth_reply": [b"", b"\x05alice", b"\x05alice\x00", b"\x00", b"\x06alice",
                       b"\x03a b", str8("名前".encode())],
        "time_reply": [struct.pack(">qi", -1, -36000) + str8(b""), struct.pack(">qi", 0, 0)],
        "list_reply": [struct.pack(">I", 0), struct.pack(">I", 0xFFFFFFFF),
                       struct.pack(">I", 1) + entry(family=6, nick=b""),
                       struct.pack(">I", 1) + entry()[:4] + b"\x05" + entry()[5:],
                       struct.pack(">I", 2) + entry() + entry(nick=b"a b")],
        "send_request": [struct.pack(">I", 9), struct.pack(">I", 9) + b"\xff", b"\x00\x00"],
        "message": [struct.pack(">IB", 7, 6) + bytes(16) + struct.pack(">H", 1) + str8(b"") +
                    struct.pack(">q", 0) + b"hi",
                    struct.pack(">IB", 7, 4) + bytes(4) + struct.pack(">H", 1) + str8(b"\x01") +
                    struct.pack(">q", 0)],
        "presence": [b"\x01\x00" + entry(), b"\x02\x05" + entry(), b"\x02\x06" + entry(),
                     b"\x01\x01" + entry(), b"\x00\x00" + entry(), b"\x04\x00" + entry()],
        "not_delivered": [struct.pack(">I", 1), struct.pack(">I", 1) + b"\xc3"],
        "u32": [b"", b"\x00\x00\x01", b"\x00\x00\x00\x01\x00"],
        "u8": [b"", b"\x01", b"\xff\x00"],
        "text": [b"", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf4\x8f\xbf\xbf",
                 b"\xe4\xbd", b"\x80", b"\xef\xbf\xbf", "hi 你好 😀".encode()],
        "nick": [b"", b"a" * 32, b"a" * 33, b"a b", b"a\xc2\xa0b", b"\xe3\x80\x80", b"\xc2\x85",
                 b"a\x7f", b"\xc2\x9f", "名前".encode(), b"\xe2\x80\x8b", b"\xe1\x9a\x80",
                 "é".encode() * 16, "é".encode() * 16 + b"a"],
    }


def tls_seeds(vectors):
    """Seeds for tls_records (fuzz/tls_target.cpp): control byte bits 0-1 the
    mode, bits 2-5 log2 of the raw chunk size."""
    requests = [bytes.fromhex(v["hex"]) for v in vectors if v["kind"] == 1]
    pieces = b"".join(bytes([len(r)]) + r for r in requests if len(r) < 256)
    split = b"".join(bytes([n]) + r[:n] + bytes([len(r) - n]) + r[n:]
                     for r in requests if len(r) < 256 for n in [min(5, len(r))])
    record = lambda ctype, body: bytes([ctype, 3, 3]) + struct.pack(">H", len(body)) + body
    hello_prefix = bytes([0x16, 3, 1, 0, 0x40, 1, 0, 0, 0x3c, 3, 3]) + bytes(32)
    return [
        bytes([0 | 14 << 2]) + frame(1, 1, id_=1),                 # plaintext on the TLS port
        bytes([0 | 0 << 2]) + hello_prefix,                        # a ClientHello cut short, byte by byte
        bytes([0 | 14 << 2]) + record(0x15, b"\x02\x28"),          # a fatal alert first
        bytes([1 | 14 << 2]) + record(0x17, bytes(32)),            # a record that fails its MAC
        bytes([1 | 0 << 2]) + record(0x15, b"\x01\x00"),           # close_notify in the clear, byte by byte
        bytes([1 | 14 << 2]) + record(0x16, bytes(4)),             # handshake bytes after the handshake
        bytes([1 | 14 << 2]) + bytes([0x17, 3, 3, 0xff, 0xff]),    # a length above the record limit
        bytes([2]) + pieces,                                       # every request vector, encrypted
        bytes([2]) + split,                                        # the same, cut across records
        bytes([3 | 14 << 2]) + pieces + record(0x17, bytes(40)),
    ]


def write(target, data, tag):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{tag}-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)


def main():
    vectors = json.loads((ROOT / "tests" / "data" / "protocol-vectors.json").read_text())["frames"]
    if OUT.exists():
        shutil.rmtree(OUT)
    for target, items in vector_seeds(vectors).items():
        for data in items:
            write(target, data, "vector")
    for data in frame_edges():
        write("frame", data, "edge")
    for target, items in payload_edges().items():
        for data in items:
            write(target, data, "edge")
    for data in tls_seeds(vectors):
        write("tls_records", data, "edge")
    print(f"make_corpus: {sum(1 for _ in OUT.rglob('*') if _.is_file())} seeds in {OUT}")


if __name__ == "__main__":
    main()
