#!/usr/bin/env python3
"""The dissector decodes every frame of tests/data/protocol-vectors.json to
exactly the fields the JSON lists.

The vectors become one TCP connection (requests client -> server, the rest
server -> client), written three ways with text2pcap: one frame per
segment on port 2555, the same streams cut into 3-byte segments, and the
server on another port decoded with "Decode As" (-d tcp.port==N,sockchat).
tshark must show every field as the JSON says, link each response to its
request, name kind/type/status in the Info column, and print no Lua error.

usage: test_vectors.py LUA TSHARK TEXT2PCAP MERGECAP VECTORS_JSON
"""
import datetime
import json
import sys
import tempfile
import os

import wstest as W

CLIENT_PORT = 40000


def addr_fields(out, prefix, v):
    family, ip, port = v["family"], v["ip"], v["port"]
    W.put(out, prefix + ".addr", f"{ip}:{port}" if family == 4 else f"[{ip}]:{port}")
    W.put(out, prefix + ".family", family)
    W.put(out, prefix + (".ip4" if family == 4 else ".ip6"), ip)
    W.put(out, prefix + ".port", port)


def entry_fields(out, e):
    W.put(out, "sockchat.entry.id", e["id"])
    addr_fields(out, "sockchat.entry", e)
    W.put(out, "sockchat.entry.connected_at", W.fmt_time(e["connected_at_us"]))
    W.put(out, "sockchat.entry.nick", e["nick"])


def text_field(vec):
    """Which field carries a vector's "text"."""
    kind, typ = vec["kind"], vec["type"]
    if kind == W.REQUEST or (kind == W.INDICATION and typ == W.MESSAGE):
        return "sockchat.text"
    if kind == W.INDICATION and typ == W.SHUTDOWN:
        return "sockchat.shutdown.reason"
    return "sockchat.error_text"


# JSON field -> (dissector field, how to print it); None: handled apart.
SIMPLE = {
    "client_id": "sockchat.hello.client_id", "heartbeat_s": "sockchat.hello.heartbeat",
    "idle_timeout_s": "sockchat.hello.idle_timeout",
    "delivery_timeout_s": "sockchat.hello.delivery_timeout",
    "max_payload": "sockchat.hello.max_payload", "server_name": "sockchat.hello.server_name",
    "utc_offset_s": "sockchat.time.utc_offset", "zone": "sockchat.time.zone",
    "name": "sockchat.name", "count": "sockchat.list.count", "target": "sockchat.send.target",
    "sender": "sockchat.message.sender", "event": "sockchat.presence.event",
    "reason": "sockchat.presence.reason",
}


def json_fields(vec):
    """The fields tshark must show for one vector, from the JSON alone."""
    out = {}
    for name in ("kind", "type", "status", "id", "length"):
        W.put(out, "sockchat." + name, vec[name])
    f = dict(vec["fields"])
    msg_owner = "message" if vec["type"] == W.MESSAGE else None
    for key, value in f.items():
        if key in SIMPLE:
            W.put(out, SIMPLE[key], value)
        elif key == "time_us":
            W.put(out, "sockchat.time.us", W.fmt_time(value))
        elif key == "sent_at_us":
            W.put(out, "sockchat.message.sent_at", W.fmt_time(value))
        elif key == "nick":
            W.put(out, "sockchat.message.nick" if msg_owner else "sockchat.nick", value)
        elif key == "text":
            W.put(out, text_field(vec), value)
        elif key == "message_id":
            W.put(out, "sockchat.message_id", value)
            if vec["type"] == W.ACK and vec["kind"] == W.REQUEST:
                W.put(out, "sockchat.ack.message_id", value)
        elif key == "flags" and vec["type"] == W.HELLO:
            W.hello_flags(value, out)
        elif key == "flags":
            W.put(out, "sockchat.subscribe.flags", f"0x{value:02x}")
        elif key == "account":
            W.put(out, "sockchat.auth.account", value)
        elif key == "password":
            W.put(out, "sockchat.auth.password", value)
        elif key == "data":
            W.put(out, "sockchat.ping.data", value.encode().hex())
        elif key == "entries":
            for e in value:
                entry_fields(out, e)
        elif key == "entry":
            entry_fields(out, value)
        elif key in ("family", "ip", "port") and msg_owner:
            pass  # the address as a whole, below
        else:
            W.fail(f"vector {vec['name']!r}: field {key!r} has no dissector field in this test")
    if msg_owner:
        addr_fields(out, "sockchat.message", f)
    return out


def same_fields(a, b):
    norm = lambda d: {k: v for k, v in d.items() if not k.startswith("_")}
    return norm(a) == norm(b)


def vector_packets(vectors):
    start = datetime.datetime(2026, 11, 26, 4, 0, 0)
    return [W.Packet(0, v["kind"] == W.REQUEST, bytes.fromhex(v["hex"]),
                     start + datetime.timedelta(milliseconds=10 * n))
            for n, v in enumerate(vectors)]


def check_decoder_agrees(vectors):
    """The test's own decoder (used for the live session) agrees with the
    JSON, so the session test compares against a checked reference."""
    for v in vectors:
        mine = W.frame_fields(bytes.fromhex(v["hex"]))
        if not same_fields(mine, json_fields(v)):
            W.fail(f"test decoder disagrees with the JSON on {v['name']!r}:\n"
                   f"  decoder: {mine}\n  json:    {json_fields(v)}")


def check_capture(lua, tools, workdir, packets, name, port=W.SERVER_PORT):
    pcap = os.path.join(workdir, name + ".pcap")
    W.write_capture(packets, pcap, workdir, tools, {0: CLIENT_PORT}, server_port=port)
    extra = [] if port == W.SERVER_PORT else ["-d", f"tcp.port=={port},sockchat"]
    rows, stderr = W.run_tshark(tools, lua, pcap, W.FIELDS + W.HEALTH_FIELDS + ["_ws.col.Info"],
                                extra)
    expected = W.expected_packets(packets)
    checked = W.compare(rows, expected, name)
    W.check_health(rows, stderr, name)
    print(f"{name}: {len(rows)} packets, {checked} field values match")
    return rows, expected


# Info column of single-frame packets, by vector name.
INFO = {
    "TIME request": "TIME request id=1",
    "TIME response": "TIME response OK id=1",
    "SEND response, not delivered": "SEND response NOT_DELIVERED id=5",
    "MESSAGE indication": "MESSAGE indication id=1001",
    "HELLO indication": "HELLO indication",
    "ERROR indication, bad frame": "ERROR indication BAD_FRAME",
    "unknown type response": "type 200 response UNKNOWN_TYPE id=12",
    "AUTH request": "AUTH request id=13",
    "AUTH response, failed": "AUTH response AUTH_FAILED id=14",
    "LIST response, sign-in required": "LIST response AUTH_REQUIRED id=15",
    "NICK response, in use": "NICK response NICK_IN_USE id=16",
    "ERROR indication, too many connections": "ERROR indication TOO_MANY_CONNECTIONS",
    "PRESENCE indication, left when its node went down":
        "PRESENCE indication LEFT client=50331649",
}


def check_info(rows, vectors):
    missing = set(INFO) - {v["name"] for v in vectors}
    if missing:
        W.fail(f"Info check names vectors that are not in the file: {sorted(missing)}")
    for row, v in zip(rows, vectors):
        if v["name"] in INFO and row["_ws.col.Info"] != INFO[v["name"]]:
            W.fail(f"Info of {v['name']!r}: expected {INFO[v['name']]!r}, got {row['_ws.col.Info']!r}")


def check_links(rows, vectors):
    """Spot checks independent of the test decoder: TIME request (packet 2)
    and its response (packet 3)."""
    if rows[1]["sockchat.response_in"] != "3" or rows[2]["sockchat.request_in"] != "2":
        W.fail(f"TIME link: response_in={rows[1]['sockchat.response_in']!r}, "
               f"request_in={rows[2]['sockchat.request_in']!r}")
    if vectors[1]["name"] != "TIME request":
        W.fail("vector order changed; update check_links")


def main():
    lua, tools = W.tools_from_argv(sys.argv)
    if len(sys.argv) < 6:
        W.fail("usage: test_vectors.py LUA TSHARK TEXT2PCAP MERGECAP VECTORS_JSON")
    with open(sys.argv[5], encoding="utf-8") as f:
        vectors = json.load(f)["frames"]
    check_decoder_agrees(vectors)
    packets = vector_packets(vectors)
    with tempfile.TemporaryDirectory(prefix="sockchat-ws-") as workdir:
        rows, expected = check_capture(lua, tools, workdir, packets, "vectors")
        for v, exp in zip(vectors, expected):
            records = exp["_records"]
            if len(records) != 1 or not same_fields(W.frame_fields(records[0][1]), json_fields(v)):
                W.fail(f"packet of {v['name']!r} is not that one frame")
        check_info(rows, vectors)
        check_links(rows, vectors)
        check_capture(lua, tools, workdir, W.split_packets(packets, 3), "vectors-3-byte-segments")
        check_capture(lua, tools, workdir, vector_packets(vectors), "vectors-decode-as", port=40001)
    print(f"OK: {len(vectors)} vectors decoded as the JSON says")


if __name__ == "__main__":
    main()
