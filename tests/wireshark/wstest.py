"""Shared by the Wireshark dissector tests: turn recorded byte streams into a
capture with text2pcap, run tshark with the dissector, and work out what
tshark must print for every packet.

The expected values come from a small sockchat decoder written here from
the protocol description, independently of the Lua code, so the two can
disagree.  Comparisons are per packet and per field: for each packet and
each field, tshark's text (all occurrences joined with AGG) must equal the
text built here.

The scripts use this module's fail() and skip(), which are tests/lib's
(sccheck.py), and frame() from tests/lib/scframes.py to build the frames
they send.
"""
import datetime
import ipaddress
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import fail, skip  # noqa: E402

HEADER = 16
MAX_PAYLOAD = 16 * 1024 * 1024
SERVER_PORT = 2555
AGG = "\x1f"          # occurrence separator; no test text contains it
TSHARK_TIMEOUT = 120  # seconds; tshark with Lua starts in about one

REQUEST, RESPONSE, INDICATION = 1, 2, 3
TIME, NAME, LIST, SEND, PING, NICK, ACK, SUBSCRIBE, BYE, AUTH = range(1, 11)
HELLO, MESSAGE, PRESENCE, SHUTDOWN, ERROR = range(64, 69)
REQUEST_TYPES = (TIME, NAME, LIST, SEND, PING, NICK, ACK, SUBSCRIBE, BYE, AUTH)
INDICATION_TYPES = (HELLO, MESSAGE, PRESENCE, SHUTDOWN, ERROR)
OK, NOT_DELIVERED = 0, 4
# How tshark -T fields prints a boolean field.
BOOL = {True: "1", False: "0"}

# Every field the tests compare, in the order given to tshark.
FIELDS = [
    "sockchat.kind", "sockchat.type", "sockchat.status", "sockchat.id",
    "sockchat.length", "sockchat.request_in", "sockchat.response_in",
    "sockchat.hello.client_id", "sockchat.hello.heartbeat",
    "sockchat.hello.idle_timeout", "sockchat.hello.delivery_timeout",
    "sockchat.hello.max_payload", "sockchat.hello.server_name",
    "sockchat.hello.flags", "sockchat.hello.flags.sign_in_required",
    "sockchat.hello.flags.encrypted", "sockchat.hello.flags.clustered",
    "sockchat.hello.extension", "sockchat.auth.account", "sockchat.auth.password",
    "sockchat.time.us", "sockchat.time.utc_offset", "sockchat.time.zone",
    "sockchat.name", "sockchat.list.count",
    "sockchat.entry.id", "sockchat.entry.addr", "sockchat.entry.family",
    "sockchat.entry.ip4", "sockchat.entry.ip6", "sockchat.entry.port",
    "sockchat.entry.connected_at", "sockchat.entry.nick",
    "sockchat.send.target", "sockchat.text", "sockchat.message_id",
    "sockchat.message.sender", "sockchat.message.addr",
    "sockchat.message.family", "sockchat.message.ip4", "sockchat.message.ip6",
    "sockchat.message.port", "sockchat.message.nick",
    "sockchat.message.sent_at", "sockchat.presence.event",
    "sockchat.presence.reason", "sockchat.ack.message_id",
    "sockchat.subscribe.flags", "sockchat.ping.data", "sockchat.nick",
    "sockchat.error_text", "sockchat.shutdown.reason", "sockchat.payload",
]


# ---------------------------------------------------------------------------
# Expected values, as tshark -T fields prints them.

def fmt_time(us):
    """An absolute time field (base.UTC): 'Nov 26, 2026 04:00:01.123456000 UTC'."""
    secs, frac = divmod(us, 1_000_000)
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=secs)
    return f"{t:%b} {t.day:2d}, {t.year} {t:%H:%M:%S}.{frac:06d}000 UTC"


def fmt_ip(family, raw):
    if family == 4:
        return str(ipaddress.IPv4Address(raw))
    return str(ipaddress.IPv6Address(raw))


def fmt_addr(family, raw, port):
    ip = fmt_ip(family, raw)
    return f"{ip}:{port}" if family == 4 else f"[{ip}]:{port}"


class Payload:
    """A cursor over a payload; a read past the end raises ShortPayload."""

    class Short(Exception):
        pass

    def __init__(self, data):
        self.data, self.off = data, 0

    def take(self, n):
        if self.off + n > len(self.data):
            raise Payload.Short()
        out = self.data[self.off:self.off + n]
        self.off += n
        return out

    def u(self, n):
        return int.from_bytes(self.take(n), "big")

    def i(self, n):
        return int.from_bytes(self.take(n), "big", signed=True)

    def str8(self):
        return self.take(self.u(1)).decode("utf-8", "replace")

    def rest(self):
        return self.take(len(self.data) - self.off)


def put(fields, name, value):
    fields.setdefault(name, []).append(str(value))


def decode_addr(p, fields, prefix):
    family = p.u(1)
    raw = p.take(4 if family == 4 else 16)
    port = p.u(2)
    put(fields, prefix + ".addr", fmt_addr(family, raw, port))
    put(fields, prefix + ".family", family)
    put(fields, prefix + (".ip4" if family == 4 else ".ip6"), fmt_ip(family, raw))
    put(fields, prefix + ".port", port)


def decode_entry(p, f):
    put(f, "sockchat.entry.id", p.u(4))
    decode_addr(p, f, "sockchat.entry")
    put(f, "sockchat.entry.connected_at", fmt_time(p.i(8)))
    put(f, "sockchat.entry.nick", p.str8())


def decode_request(typ, p, f):
    if typ == SEND:
        put(f, "sockchat.send.target", p.u(4))
        put(f, "sockchat.text", p.rest().decode())
    elif typ == PING:
        if p.data:
            put(f, "sockchat.ping.data", p.rest().hex())
    elif typ == NICK:
        put(f, "sockchat.nick", p.rest().decode("utf-8", "replace"))
    elif typ == ACK:
        mid = p.u(4)
        put(f, "sockchat.ack.message_id", mid)
        put(f, "sockchat.message_id", mid)
    elif typ == SUBSCRIBE:
        put(f, "sockchat.subscribe.flags", f"0x{p.u(1):02x}")
    elif typ == AUTH:
        put(f, "sockchat.auth.account", p.str8())
        put(f, "sockchat.auth.password", p.rest().decode("utf-8", "replace"))
    elif typ not in REQUEST_TYPES and p.data:
        put(f, "sockchat.payload", p.rest().hex())


def decode_ok_response(typ, p, f):
    if typ == TIME:
        put(f, "sockchat.time.us", fmt_time(p.i(8)))
        put(f, "sockchat.time.utc_offset", p.i(4))
        put(f, "sockchat.time.zone", p.str8())
    elif typ == NAME:
        put(f, "sockchat.name", p.rest().decode())
    elif typ == LIST:
        count = p.u(4)
        put(f, "sockchat.list.count", count)
        for _ in range(count):
            decode_entry(p, f)
    elif typ == SEND:
        put(f, "sockchat.message_id", p.u(4))
    elif typ == PING:
        if p.data:
            put(f, "sockchat.ping.data", p.rest().hex())
    elif typ == AUTH:
        put(f, "sockchat.auth.account", p.str8())
    elif typ not in REQUEST_TYPES and p.data:
        put(f, "sockchat.payload", p.rest().hex())


def hello_flags(flags, f):
    """The second edition's flags byte and its three named bits."""
    put(f, "sockchat.hello.flags", f"0x{flags:02x}")
    for bit, name in ((0x01, "sign_in_required"), (0x02, "encrypted"), (0x04, "clustered")):
        put(f, "sockchat.hello.flags." + name, BOOL[bool(flags & bit)])


def decode_indication(typ, p, f):
    if typ == HELLO:
        put(f, "sockchat.hello.client_id", p.u(4))
        put(f, "sockchat.hello.heartbeat", p.u(2))
        put(f, "sockchat.hello.idle_timeout", p.u(2))
        put(f, "sockchat.hello.delivery_timeout", p.u(2))
        put(f, "sockchat.hello.max_payload", p.u(4))
        put(f, "sockchat.hello.server_name", p.str8())
        # A first-edition HELLO ends here: no flags, and nothing flagged.
        if p.off < len(p.data):
            hello_flags(p.u(1), f)
        if p.off < len(p.data):
            put(f, "sockchat.hello.extension", p.rest().hex())
    elif typ == MESSAGE:
        put(f, "sockchat.message.sender", p.u(4))
        decode_addr(p, f, "sockchat.message")
        put(f, "sockchat.message.nick", p.str8())
        put(f, "sockchat.message.sent_at", fmt_time(p.i(8)))
        put(f, "sockchat.text", p.rest().decode())
    elif typ == PRESENCE:
        put(f, "sockchat.presence.event", p.u(1))
        put(f, "sockchat.presence.reason", p.u(1))
        decode_entry(p, f)
    elif typ == SHUTDOWN:
        put(f, "sockchat.shutdown.reason", p.rest().decode())
    elif typ == ERROR:
        put(f, "sockchat.error_text", p.rest().decode())
    elif p.data:
        put(f, "sockchat.payload", p.rest().hex())


def frame_fields(frame):
    """The fields of one complete, well-formed frame: name -> [text...]."""
    kind, typ, status = frame[3], frame[4], frame[5]
    ident, length = struct.unpack(">II", frame[8:16])
    f = {}
    for name, v in (("kind", kind), ("type", typ), ("status", status),
                    ("id", ident), ("length", length)):
        put(f, "sockchat." + name, v)
    if kind == INDICATION and typ == MESSAGE:
        put(f, "sockchat.message_id", ident)
    p = Payload(frame[HEADER:])
    if kind == REQUEST:
        decode_request(typ, p, f)
    elif kind == RESPONSE and status == OK:
        decode_ok_response(typ, p, f)
    elif kind == RESPONSE and status == NOT_DELIVERED and typ == SEND:
        put(f, "sockchat.message_id", p.u(4))
        put(f, "sockchat.error_text", p.rest().decode())
    elif kind == RESPONSE:
        put(f, "sockchat.error_text", p.rest().decode())
    elif kind == INDICATION:
        decode_indication(typ, p, f)
    if p.off != len(p.data):
        raise ValueError(f"test decoder: {len(p.data) - p.off} trailing bytes in {frame.hex()}")
    return f


def broken_fields(data):
    """What the dissector shows for bytes it cannot frame: the header if
    there are 16 bytes, the rest as payload."""
    f = {}
    if len(data) >= HEADER:
        f = {"sockchat.kind": [str(data[3])], "sockchat.type": [str(data[4])],
             "sockchat.status": [str(data[5])],
             "sockchat.id": [str(int.from_bytes(data[8:12], "big"))],
             "sockchat.length": [str(int.from_bytes(data[12:16], "big"))]}
        if len(data) > HEADER:
            put(f, "sockchat.payload", data[HEADER:].hex())
    else:
        put(f, "sockchat.payload", data.hex())
    return f


def header_violation(data):
    if data[0] != 0x53 or (len(data) >= 2 and data[1] != 0x43):
        return "bad magic"
    if len(data) >= 3 and data[2] != 1:
        return "bad version"
    if len(data) >= HEADER and int.from_bytes(data[12:16], "big") > MAX_PAYLOAD:
        return "too large"
    return None


class StreamSplitter:
    """Frames of one direction of one connection, as TCP delivers them:
    feed() returns what the packet just fed completes, in order, as
    ("frame", bytes) or ("broken", bytes, why)."""

    def __init__(self):
        self.pending = b""

    def feed(self, data):
        buf, self.pending, out, off = self.pending + data, b"", [], 0
        while off < len(buf):
            why = header_violation(buf[off:off + HEADER])
            if why:
                out.append(("broken", buf[off:], why))
                return out
            if len(buf) - off < HEADER:
                break
            size = HEADER + int.from_bytes(buf[off + 12:off + 16], "big")
            if len(buf) - off < size:
                break
            out.append(("frame", buf[off:off + size]))
            off += size
        self.pending = buf[off:]
        return out


# ---------------------------------------------------------------------------
# Captures.

class Packet:
    """One TCP segment: connection index, True when client -> server,
    payload bytes, and time (UTC datetime)."""

    def __init__(self, conn, to_server, data, when):
        self.conn, self.to_server, self.data, self.when = conn, to_server, data, when


def split_packets(packets, size):
    """The same byte streams cut into segments of at most `size` bytes."""
    out = []
    for p in packets:
        for at in range(0, len(p.data), size):
            out.append(Packet(p.conn, p.to_server, p.data[at:at + size], p.when))
    return out


def strictly_increasing(packets):
    """Makes the packet times strictly increasing (1 us apart at least), so
    that merging per-connection captures by time keeps this order."""
    last = None
    for p in packets:
        if last is not None and p.when <= last:
            p.when = last + datetime.timedelta(microseconds=1)
        last = p.when


def text2pcap_input(packets):
    lines = []
    for p in packets:
        lines.append(("O " if p.to_server else "I ") + p.when.strftime("%Y-%m-%dT%H:%M:%S.%f"))
        for at in range(0, len(p.data), 16):
            chunk = p.data[at:at + 16]
            lines.append(f"{at:06x} " + " ".join(f"{b:02x}" for b in chunk))
        lines.append("")
    return "\n".join(lines) + "\n"


def run(argv, **kw):
    # tshark -T fields prints string fields raw: never fail on their bytes.
    r = subprocess.run(argv, capture_output=True, text=True, errors="backslashreplace",
                       timeout=TSHARK_TIMEOUT, check=False, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(argv)} exited with {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def write_capture(packets, path, workdir, tools, client_ports, server_port=SERVER_PORT):
    """Writes `packets` as one pcap: one text2pcap run per connection (its
    own client port; O = client -> server), merged by time."""
    strictly_increasing(packets)
    env = dict(os.environ, TZ="UTC")
    parts = []
    for conn in sorted({p.conn for p in packets}):
        txt = os.path.join(workdir, f"{os.path.basename(path)}.{conn}.txt")
        part = os.path.join(workdir, f"{os.path.basename(path)}.{conn}.pcap")
        with open(txt, "w", encoding="ascii") as f:
            f.write(text2pcap_input([p for p in packets if p.conn == conn]))
        run([tools["text2pcap"], "-q", "-D", "-t", "%Y-%m-%dT%H:%M:%S.%f",
             "-4", "127.0.0.1,127.0.0.1",
             "-T", f"{server_port},{client_ports[conn]}", txt, part], env=env)
        parts.append(part)
    run([tools["mergecap"], "-F", "pcap", "-w", path] + parts)


def expected_packets(packets):
    """For each packet, the fields tshark must show (name -> text) and the
    records it completes; request/response links are worked out per
    connection."""
    splitters, pending, per_packet = {}, {}, []
    for number, p in enumerate(packets, start=1):
        records = splitters.setdefault((p.conn, p.to_server), StreamSplitter()).feed(p.data)
        dicts = []
        for rec in records:
            if rec[0] == "frame":
                f = frame_fields(rec[1])
                link_frames(p.conn, rec[1], number, pending, f)
            else:
                f = broken_fields(rec[1])
            dicts.append(f)
        per_packet.append((dicts, records))
    out = []
    for dicts, records in per_packet:
        merged = {}
        for f in dicts:
            for name, values in f.items():
                merged.setdefault(name, []).extend(values)
        out.append({n: AGG.join(v) for n, v in merged.items()} | {"_records": records})
    return out


def link_frames(conn, frame, number, pending, f):
    """Links a response to the latest request of its connection with the
    same type and id, both ways."""
    kind, typ = frame[3], frame[4]
    key = (conn, typ, int.from_bytes(frame[8:12], "big"))
    if kind == REQUEST:
        pending[key] = (number, f)
    elif kind == RESPONSE and key in pending:
        req_number, req_fields = pending.pop(key)
        put(f, "sockchat.request_in", req_number)
        put(req_fields, "sockchat.response_in", number)


def run_tshark(tools, lua, pcap, fields, extra=()):
    """tshark -T fields, two passes; returns (rows, stderr), a row per
    packet: field -> text."""
    argv = [tools["tshark"], "-n", "-2", "-X", f"lua_script:{lua}", "-r", pcap,
            "-T", "fields", "-E", "header=n", "-E", "quote=n", "-E", "occurrence=a",
            "-E", f"aggregator={AGG}", "-E", "separator=/t", *extra]
    for name in fields:
        argv += ["-e", name]
    r = run(argv)
    rows = []
    for line in r.stdout.split("\n")[:-1]:
        cols = line.split("\t")
        if len(cols) != len(fields):
            fail(f"tshark printed {len(cols)} columns, expected {len(fields)}: {line!r}")
        rows.append(dict(zip(fields, cols)))
    return rows, r.stderr


def lua_stderr_problems(stderr):
    """Lines of tshark's stderr that are not the usual root warning."""
    return [l for l in stderr.splitlines()
            if l.strip() and "could be dangerous" not in l and not set(l) <= {"-"}]


# Lua errors, malformed packets and expert severities, per packet.
HEALTH_FIELDS = ["_ws.lua.error", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message"]
SEVERITY_ERROR = "8388608"  # PI_ERROR


def check_health(rows, stderr, what, broken=frozenset()):
    """No Lua error and nothing on stderr; nothing malformed and no expert
    info of severity Error either, except in the packets numbered in
    `broken` (which must be flagged malformed)."""
    for number, row in enumerate(rows, start=1):
        if row["_ws.lua.error"]:
            fail(f"{what}: packet {number}: Lua error: {row['_ws.lua.error']!r}")
        if number in broken:
            if not row["_ws.malformed"]:
                fail(f"{what}: packet {number}: broken bytes not flagged malformed")
            continue
        if row["_ws.malformed"]:
            fail(f"{what}: packet {number}: Lua error or malformed: {row}")
        if SEVERITY_ERROR in row["_ws.expert.severity"].split(AGG):
            fail(f"{what}: packet {number}: expert error: {row['_ws.expert.message']!r}")
    problems = lua_stderr_problems(stderr)
    if problems:
        fail(f"{what}: tshark stderr:\n" + "\n".join(problems))


def compare(rows, expected, what):
    """Compares tshark's rows with the expected packets field by field;
    returns the number of checked values that were present."""
    if len(rows) != len(expected):
        fail(f"{what}: tshark shows {len(rows)} packets, the capture has {len(expected)}")
    errors, checked = [], 0
    for number, (row, exp) in enumerate(zip(rows, expected), start=1):
        for name in FIELDS:
            want, got = exp.get(name, ""), row.get(name, "")
            if want != got:
                errors.append(f"packet {number} {name}: expected {want!r}, tshark shows {got!r}")
            elif want:
                checked += 1
    if errors:
        fail(f"{what}: {len(errors)} mismatches:\n  " + "\n  ".join(errors[:40]))
    # No packets, or none with a field to compare, would agree vacuously.
    if checked == 0:
        fail(f"{what}: no field values to compare ({len(rows)} packets)")
    return checked


def tools_from_argv(argv):
    """argv: LUA TSHARK TEXT2PCAP MERGECAP [...]; skips when a tool is missing."""
    if len(argv) < 5:
        fail("usage: LUA TSHARK TEXT2PCAP MERGECAP ...")
    lua, tshark, text2pcap, mergecap = argv[1:5]
    for name, path in (("tshark", tshark), ("text2pcap", text2pcap), ("mergecap", mergecap)):
        if not path or not os.access(path, os.X_OK):
            skip(f"{name} not found (Debian packages tshark, wireshark-common)")
    return lua, {"tshark": tshark, "text2pcap": text2pcap, "mergecap": mergecap}
