#!/usr/bin/env python3
"""A real session with sockchatd, recorded and decoded by the dissector.

Starts sockchatd on 127.0.0.1 (free port), drives three raw-socket clients
through every request type, every indication and a protocol error, and
records each connection's bytes per direction in the order they were sent
and received.  The recording becomes a capture with text2pcap (one TCP
connection per client, -D direction markers), once as recorded and once cut
into 3-byte segments.  tshark with the dissector must show, for every packet
and field, what this test's own decoder (wstest.py, checked against the
protocol vectors by test_vectors.py) reads from the same bytes, plus the
values the test knows it sent.

usage: test_session.py LUA TSHARK TEXT2PCAP MERGECAP SOCKCHATD
Set SOCKCHAT_WS_KEEP=DIR to keep the captures in DIR.
"""
import collections
import datetime
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import wstest as W  # noqa: E402
from scframes import frame  # noqa: E402
from scserver import Server, StartError  # noqa: E402

SERVER_NAME = "ws-test-server"
STEP_TIMEOUT = 10.0  # seconds for any one expected frame
UNKNOWN_TYPE = 200


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Recorder:
    def __init__(self):
        self.packets = []

    def add(self, conn, to_server, data):
        self.packets.append(W.Packet(conn, to_server, data, now()))


class Client:
    """One raw TCP connection; every byte sent or received is recorded."""

    def __init__(self, rec, index, port):
        self.rec, self.index = rec, index
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.splitter = W.StreamSplitter()
        self.inbox = collections.deque()
        self.next_id = 1
        self.closed = False

    def send(self, data):
        self.sock.sendall(data)
        self.rec.add(self.index, True, data)

    def receive(self):
        try:
            data = self.sock.recv(16384)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return
        self.rec.add(self.index, False, data)
        for rec in self.splitter.feed(data):
            if rec[0] != "frame":
                W.fail(f"client {self.index}: server sent bytes that are not a frame: {rec}")
            self.inbox.append(rec[1])

    def wait_for(self, what, match):
        """The first received frame for which match(frame) holds."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            for f in self.inbox:
                if match(f):
                    self.inbox.remove(f)
                    return f
            if self.closed:
                break
            self.receive()
        W.fail(f"client {self.index}: no {what} within {STEP_TIMEOUT} s")

    def wait_closed(self):
        deadline = time.monotonic() + STEP_TIMEOUT
        while not self.closed and time.monotonic() < deadline:
            self.receive()
        if not self.closed:
            W.fail(f"client {self.index}: server did not close the connection")
        self.sock.close()

    def start(self, typ, payload=b""):
        """Sends a request without waiting; returns its id."""
        ident = self.next_id
        self.next_id += 1
        self.send(frame(W.REQUEST, typ, ident, payload))
        return ident

    def response(self, typ, ident, status=W.OK):
        """Waits for the response; `status` is the one expected, or a tuple
        of those allowed."""
        f = self.wait_for(f"response to type {typ} id {ident}",
                          lambda f: f[3] == W.RESPONSE and f[4] == typ and f[8:12] == struct.pack(">I", ident))
        if f[5] not in (status if isinstance(status, tuple) else (status,)):
            W.fail(f"client {self.index}: type {typ} id {ident}: status {f[5]}, expected {status}: {f[16:]!r}")
        return f[16:]

    def request(self, typ, payload=b"", status=W.OK):
        return self.response(typ, self.start(typ, payload), status)

    def indication(self, typ, what, match=lambda f: True):
        return self.wait_for(what, lambda f: f[3] == W.INDICATION and f[4] == typ and match(f))


def presence(event, client_id):
    def match(f):
        return f[16] == event and f[18:22] == struct.pack(">I", client_id)
    return match


def hello(c):
    f = c.indication(W.HELLO, "HELLO")
    return struct.unpack(">I", f[16:20])[0]


def chat(a, b, b_id):
    """SEND delivered (MESSAGE, ACK), SEND not delivered, SEND to nobody."""
    sent = a.start(W.SEND, struct.pack(">I", b_id) + "hi bob, 你好".encode())
    msg = b.indication(W.MESSAGE, "MESSAGE")
    b.request(W.ACK, msg[8:12])
    if a.response(W.SEND, sent) != msg[8:12]:
        W.fail("SEND OK does not carry the MESSAGE's id")
    lost = a.start(W.SEND, struct.pack(">I", b_id) + b"are you there?")
    b.indication(W.MESSAGE, "second MESSAGE")  # not acknowledged
    a.response(W.SEND, lost, status=W.NOT_DELIVERED)
    a.request(W.SEND, struct.pack(">I", 999999) + b"anyone?", status=3)   # NO_SUCH_CLIENT
    b.request(W.ACK, struct.pack(">I", 424242), status=12)              # NO_SUCH_MESSAGE


def drive(rec, port, proc):
    """The session; returns the client ports."""
    a = Client(rec, 0, port)
    hello(a)
    a.request(W.SUBSCRIBE, b"\x01")
    # Two requests in one segment, answered in order.
    t, n = a.next_id, a.next_id + 1
    a.next_id += 2
    a.send(frame(W.REQUEST, W.TIME, t) + frame(W.REQUEST, W.NAME, n))
    a.response(W.TIME, t)
    if a.response(W.NAME, n) != SERVER_NAME.encode():
        W.fail("NAME response is not the --name given")
    a.request(W.NICK, b"alice")

    b = Client(rec, 1, port)
    b_id = hello(b)
    a.indication(W.PRESENCE, "PRESENCE JOINED", presence(1, b_id))
    b.request(W.NICK, b"bob")
    a.indication(W.PRESENCE, "PRESENCE RENAMED", presence(3, b_id))
    b.request(W.NICK, b"bad nick", status=1)   # BAD_REQUEST
    b.request(W.LIST)
    chat(a, b, b_id)
    a.request(W.PING, b"abc\x00\xff")
    a.request(UNKNOWN_TYPE, b"??", status=2)   # UNKNOWN_TYPE
    b.request(W.BYE)
    b.wait_closed()
    a.indication(W.PRESENCE, "PRESENCE LEFT", presence(2, b_id))

    c = Client(rec, 2, port)
    hello(c)
    # No accounts on this server: UNKNOWN_TYPE while sockchatd has no
    # sign-in, AUTH_FAILED once it has (loopback, so no ENCRYPTION_REQUIRED).
    c.request(W.AUTH, b"\x05alice" + b"correct horse", status=(2, 14))
    c.send(b"HELLO, SERVER!!!")               # not "SC": bad magic
    c.indication(W.ERROR, "ERROR BAD_FRAME", lambda f: f[5] == 9)
    c.wait_closed()

    proc.send_signal(signal.SIGTERM)
    a.indication(W.SHUTDOWN, "SHUTDOWN")
    a.wait_closed()
    return {0: a.port, 1: b.port, 2: c.port}


def check_coverage(expected):
    """The session holds every request type and its response, every
    indication and every presence event."""
    seen, events = set(), set()
    for exp in expected:
        for rec in exp["_records"]:
            if rec[0] == "frame":
                f = rec[1]
                seen.add((f[3], f[4]))
                if f[3] == W.INDICATION and f[4] == W.PRESENCE:
                    events.add(f[16])
    want = ({(W.REQUEST, t) for t in W.REQUEST_TYPES + (UNKNOWN_TYPE,)}
            | {(W.RESPONSE, t) for t in W.REQUEST_TYPES + (UNKNOWN_TYPE,)}
            | {(W.INDICATION, t) for t in W.INDICATION_TYPES})
    if want - seen or {1, 2, 3} - events:
        W.fail(f"session lacks {sorted(want - seen)}, presence events {sorted({1, 2, 3} - events)}")


def column(rows, field):
    return [v for row in rows for v in row[field].split(W.AGG) if row[field]]


def check_known_values(rows):
    """Values the test sent or chose, found in tshark's output directly."""
    checks = [
        ("sockchat.hello.server_name", SERVER_NAME, 3), ("sockchat.name", SERVER_NAME, 1),
        ("sockchat.nick", "alice", 1), ("sockchat.nick", "bob", 1),
        ("sockchat.nick", "bad nick", 1), ("sockchat.text", "hi bob, 你好", 2),
        ("sockchat.text", "are you there?", 2), ("sockchat.list.count", "2", 1),
        ("sockchat.send.target", "999999", 1), ("sockchat.ping.data", "61626300ff", 2),
        ("sockchat.type", str(UNKNOWN_TYPE), 2), ("sockchat.subscribe.flags", "0x01", 1),
        ("sockchat.status", "4", 1), ("sockchat.status", "9", 1),
    ]
    for field, value, count in checks:
        got = column(rows, field).count(value)
        if got < count:
            W.fail(f"{field} == {value!r} shown {got} times, expected at least {count}")
    if "bob" not in column(rows, "sockchat.entry.nick"):
        W.fail("LIST/PRESENCE entries never show nick 'bob'")
    if not any(a.startswith("127.0.0.1:") for a in column(rows, "sockchat.entry.addr")):
        W.fail("no entry address shown as 127.0.0.1:port")


def check(lua, tools, workdir, packets, ports, name):
    pcap = os.path.join(workdir, name + ".pcap")
    W.write_capture(packets, pcap, workdir, tools, ports)
    expected = W.expected_packets(packets)
    check_coverage(expected)
    fields = W.FIELDS + W.HEALTH_FIELDS + ["sockchat.expert.bad_magic"]
    rows, stderr = W.run_tshark(tools, lua, pcap, fields)
    checked = W.compare(rows, expected, name)
    broken = {n for n, exp in enumerate(expected, start=1)
              if any(r[0] == "broken" for r in exp["_records"])}
    W.check_health(rows, stderr, name, broken=broken)
    for n in broken:
        if not rows[n - 1]["sockchat.expert.bad_magic"]:
            W.fail(f"{name}: packet {n} (bad magic) is not flagged")
    check_known_values(rows)
    print(f"{name}: {len(rows)} packets, {checked} field values match, "
          f"{len(broken)} bad-magic packets flagged")
    return pcap


def main():
    if len(sys.argv) != 6:
        W.fail("usage: test_session.py LUA TSHARK TEXT2PCAP MERGECAP SOCKCHATD")
    lua, tools = W.tools_from_argv(sys.argv)
    exe = sys.argv[5]
    rec = Recorder()
    with tempfile.TemporaryDirectory(prefix="sockchat-ws-") as workdir:
        try:
            server = Server(exe, "--name", SERVER_NAME, "--delivery-timeout", "1")
        except StartError as e:
            W.fail(f"sockchatd did not start: {e}")
        try:
            ports = drive(rec, server.port, server.proc)
        finally:
            server.stop()
        print(f"recorded {len(rec.packets)} segments on 3 connections")
        whole = check(lua, tools, workdir, list(rec.packets), ports, "session")
        split = check(lua, tools, workdir, W.split_packets(rec.packets, 3), ports,
                      "session-3-byte-segments")
        keep = os.environ.get("SOCKCHAT_WS_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            shutil.copy(whole, keep)
            shutil.copy(split, keep)
    print("OK: the recorded session decodes field by field")


if __name__ == "__main__":
    main()
