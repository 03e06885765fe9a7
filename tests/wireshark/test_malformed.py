#!/usr/bin/env python3
"""Malformed frames are flagged with expert info, never a Lua error; odd
but well-formed values are shown right and not flagged.

Each case is one TCP connection carrying one crafted segment (some cases
put a valid frame beside the broken one, to show that framing goes on or
stops as it should).  For every packet tshark must show exactly the
expected sockchat.expert.* items, the expected header fields, no
_ws.lua.error, and print nothing on stderr.

usage: test_malformed.py LUA TSHARK TEXT2PCAP MERGECAP
"""
import datetime
import os
import struct
import subprocess
import sys
import tempfile

import wstest as W
import scframes  # tests/lib: wstest put it on sys.path

EXPERTS = ["bad_magic", "bad_version", "bad_kind", "too_large", "short_payload",
           "trailing_bytes", "bad_utf8", "bad_addr", "empty_text", "bad_nick",
           "bad_password", "unknown_type", "bad_status", "error_response", "error_indication"]


def frame(kind, typ, payload=b"", status=0, ident=1, length=None):
    """scframes.frame with the payload second and id 1 by default, as the
    cases below read best."""
    return scframes.frame(kind, typ, ident, payload, status, length)


def entry(family=4, nick=b"bob"):
    ip = b"\x7f\x00\x00\x01" if family == 4 else b"\x00" * 16
    return (struct.pack(">IB", 2, family) + ip + struct.pack(">Hq", 4000, 0)
            + bytes([len(nick)]) + nick)


# (name, client -> server?, bytes, expected experts, expected fields)
CASES = [
    ("bad magic", True, b"GET / HTTP/1.1\r\n", {"bad_magic"}, {}),
    ("bad magic after a good frame", True, frame(1, W.TIME) + b"XY", {"bad_magic"},
     {"sockchat.type": "1"}),
    ("bad version", True, scframes.HEADER.pack(b"SC", 7, W.REQUEST, W.TIME, 0, 0, 1, 0),
     {"bad_version"}, {}),
    ("length too big", True, frame(1, W.PING, b"abc", length=0x7FFFFFFF), {"too_large"},
     {"sockchat.length": "2147483647"}),
    ("short TIME reply", False, frame(2, W.TIME, b"\x00" * 10), {"short_payload"},
     {"sockchat.type": "1"}),
    ("short LIST reply", False, frame(2, W.LIST, struct.pack(">I", 3) + entry()),
     {"short_payload"}, {"sockchat.list.count": "3", "sockchat.entry.id": "2"}),
    ("LIST count far beyond the payload", False, frame(2, W.LIST, b"\xff\xff\xff\xff"),
     {"short_payload"}, {"sockchat.list.count": "4294967295"}),
    ("trailing bytes, then a good frame", True,
     frame(1, W.TIME, b"zz") + frame(1, W.NAME, ident=2), {"trailing_bytes"},
     {"sockchat.type": f"1{W.AGG}2", "sockchat.id": f"1{W.AGG}2"}),
    ("invalid UTF-8 text", False, frame(2, W.NAME, b"ab\xffcd"), {"bad_utf8"}, {}),
    ("overlong UTF-8 in a str8", False,
     frame(3, W.HELLO, struct.pack(">IHHHI", 1, 10, 30, 5, 65536) + b"\x02\xc0\xaf", ident=0),
     {"bad_utf8"}, {"sockchat.hello.client_id": "1"}),
    ("surrogate in a SEND text", True, frame(1, W.SEND, b"\x00\x00\x00\x02\xed\xa0\x80"),
     {"bad_utf8"}, {"sockchat.send.target": "2"}),
    ("empty SEND text", True, frame(1, W.SEND, b"\x00\x00\x00\x02"), {"empty_text"}, {}),
    ("nick with whitespace", True, frame(1, W.NICK, b"bad nick"), {"bad_nick"},
     {"sockchat.nick": "bad nick"}),
    ("nick too long", True, frame(1, W.NICK, b"n" * 33), {"bad_nick"}, {}),
    ("terminal escape in an entry nick", False,
     frame(2, W.LIST, struct.pack(">I", 1) + entry(nick=b"\x1b[2J\xc2\x9bx")), {"bad_nick"},
     {"sockchat.entry.id": "2"}),
    ("invalid UTF-8 in an entry nick", False,
     frame(2, W.LIST, struct.pack(">I", 1) + entry(nick=b"\xff\x07")), {"bad_nick", "bad_utf8"},
     {"sockchat.entry.id": "2"}),
    ("bad address family", False, frame(3, W.PRESENCE, b"\x01\x00" + entry(family=5), ident=0),
     {"bad_addr"}, {"sockchat.entry.id": "2"}),
    ("bad kind", False, frame(9, W.TIME), {"bad_kind"}, {"sockchat.kind": "9"}),
    ("unknown request type", True, frame(1, 99, b"zz"), {"unknown_type"},
     {"sockchat.payload": "7a7a"}),
    ("status in a request", True, frame(1, W.TIME, status=3), {"bad_status"}, {}),
    ("reason in a JOINED presence", False, frame(3, W.PRESENCE, b"\x01\x02" + entry(), ident=0),
     {"bad_status"}, {"sockchat.presence.reason": "2"}),
    ("short ACK", True, frame(1, W.ACK, b"\x00\x01"), {"short_payload"}, {}),
    ("failed request", False, frame(2, W.ACK, b"no such message", status=12),
     {"error_response"}, {"sockchat.error_text": "no such message"}),
    # Second edition.
    ("HELLO without flags (first edition)", False,
     frame(3, W.HELLO, struct.pack(">IHHHI", 1, 10, 30, 5, 65536) + b"\x01s", ident=0),
     set(), {"sockchat.hello.client_id": "1", "sockchat.hello.flags": ""}),
    ("HELLO with flags and later-edition bytes", False,
     frame(3, W.HELLO, struct.pack(">IHHHI", 1, 10, 30, 5, 65536) + b"\x01s\xff\x00\x01",
           ident=0),
     set(), {"sockchat.hello.flags": "0xff", "sockchat.hello.flags.clustered": "1",
             "sockchat.hello.extension": "0001"}),
    ("AUTH with an empty password", True, frame(1, W.AUTH, b"\x05alice"), {"bad_password"},
     {"sockchat.auth.account": "alice", "sockchat.auth.password": ""}),
    ("AUTH with a password of 256 bytes", True, frame(1, W.AUTH, b"\x01a" + b"p" * 256),
     {"bad_password"}, {"sockchat.auth.account": "a"}),
    ("AUTH account with whitespace", True, frame(1, W.AUTH, b"\x03a bpw"), {"bad_nick"},
     {"sockchat.auth.account": "a b", "sockchat.auth.password": "pw"}),
    ("AUTH account longer than the payload", True, frame(1, W.AUTH, b"\x09ab"),
     {"short_payload"}, {}),
    ("AUTH response with trailing bytes", False, frame(2, W.AUTH, b"\x03bob!"),
     {"trailing_bytes"}, {"sockchat.auth.account": "bob"}),
    ("ENCRYPTION_REQUIRED response", False,
     frame(2, W.AUTH, b"sign in over TLS", status=15), {"error_response"},
     {"sockchat.error_text": "sign in over TLS"}),
    ("PRESENCE reason above NODE_DOWN", False,
     frame(3, W.PRESENCE, b"\x02\x07" + entry(), ident=0), set(),
     {"sockchat.presence.reason": "7"}),
    # Well-formed extremes: the full i64 range of times, to the microsecond.
    ("latest time", False, frame(2, W.TIME, struct.pack(">qi", 2**63 - 1, -2**31) + b"\0"),
     set(), {"sockchat.time.us": "Jan 10, 294247 04:00:54.775807000 UTC"}),
    ("time before the epoch", False, frame(2, W.TIME, struct.pack(">qi", -1, 19800) + b"\0"),
     set(), {"sockchat.time.us": "Dec 31, 1969 23:59:59.999999000 UTC"}),
    ("ERROR indication", False, frame(3, W.ERROR, b"bad magic", status=9, ident=0),
     {"error_indication"}, {"sockchat.error_text": "bad magic"}),
]


def check_tree_printable(tools, lua, pcap):
    """The packet tree as tshark prints it to a terminal holds no raw
    control character from the peer (nicks with escape sequences above)."""
    r = subprocess.run([tools["tshark"], "-n", "-2", "-X", f"lua_script:{lua}", "-r", pcap,
                        "-O", "sockchat"], capture_output=True, timeout=W.TSHARK_TIMEOUT, check=True)
    try:
        out = r.stdout.decode("utf-8")
    except UnicodeDecodeError as e:
        W.fail(f"tshark -O sockchat prints bytes that are not UTF-8: {e}")
    bad = sorted({c for c in out if (ord(c) < 0x20 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F})
    if bad:
        W.fail(f"tshark -O sockchat prints raw control characters {bad!r}")
    if "nick \"\\x1b[2J\\u009bx\"" not in out:
        W.fail("the entry label does not show the escaped nick")


def main():
    lua, tools = W.tools_from_argv(sys.argv)
    start = datetime.datetime(2026, 11, 26, 5, 0, 0)
    packets = [W.Packet(n, to_server, data, start + datetime.timedelta(seconds=n))
               for n, (_, to_server, data, _, _) in enumerate(CASES)]
    ports = {n: 41000 + n for n in range(len(CASES))}
    fields = ([f"sockchat.expert.{e}" for e in EXPERTS]
              + ["sockchat.kind", "sockchat.type", "sockchat.id", "sockchat.length",
                 "sockchat.list.count", "sockchat.entry.id", "sockchat.hello.client_id",
                 "sockchat.send.target", "sockchat.nick", "sockchat.payload",
                 "sockchat.presence.reason", "sockchat.error_text", "sockchat.time.us",
                 "sockchat.hello.flags", "sockchat.hello.flags.clustered",
                 "sockchat.hello.extension", "sockchat.auth.account",
                 "sockchat.auth.password",
                 "_ws.lua.error",
                 "_ws.col.Info"])
    with tempfile.TemporaryDirectory(prefix="sockchat-ws-") as workdir:
        pcap = os.path.join(workdir, "malformed.pcap")
        W.write_capture(packets, pcap, workdir, tools, ports)
        rows, stderr = W.run_tshark(tools, lua, pcap, fields)
        check_tree_printable(tools, lua, pcap)
    if len(rows) != len(CASES):
        W.fail(f"tshark shows {len(rows)} packets, expected {len(CASES)}")
    errors = []
    for row, (name, _, _, experts, want) in zip(rows, CASES):
        got = {e for e in EXPERTS if row[f"sockchat.expert.{e}"]}
        if got != experts:
            errors.append(f"{name}: expert info {sorted(got)}, expected {sorted(experts)}")
        for field, value in want.items():
            if row[field] != value:
                errors.append(f"{name}: {field} is {row[field]!r}, expected {value!r}")
        if row["_ws.lua.error"]:
            errors.append(f"{name}: Lua error {row['_ws.lua.error']!r}")
        if not row["_ws.col.Info"]:
            errors.append(f"{name}: empty Info column")
    problems = W.lua_stderr_problems(stderr)
    if problems:
        errors.append("tshark stderr: " + " | ".join(problems))
    if errors:
        W.fail(f"{len(errors)} problems:\n  " + "\n  ".join(errors))
    for row, case in zip(rows, CASES):
        print(f"ok  {case[0]:36} {row['_ws.col.Info']}")
    print(f"OK: {len(CASES)} malformed cases flagged, no Lua error")


if __name__ == "__main__":
    main()
