#!/usr/bin/env python3
"""sockchatd --cluster (sockchatd(8) CLUSTER): three nodes on loopback and a
real redis-server this script starts on a unix socket in a temporary
directory (no TCP port, no persistence) and stops again.

usage: cluster_test.py SOCKCHATD nodes|broker|auth|guard
  nodes:  ids, HELLO's CLUSTERED flag, LIST identical on every node,
          presence once per event, cross-node SEND with the end-to-end ACK,
          1,000 pipelined SENDs in order beside 500 of a second sender,
          NOT_DELIVERED after the timeout,
          a node id in use refused, kill -9 of a node; nodes restarted
          (after kill -9 and after SIGTERM) hand out ids beyond their
          previous run's; counters at the top of their range wrap to 1;
          half a block of client ids moves the reservation at once
  broker: the broker killed (local service goes on, remote SEND fails at
          once) and restarted empty (the cluster converges, subscribers
          hear no spurious events, every node writes its ids hash back), a
          node frozen past its TTL comes back
  guard:  a Redis that refuses writes (OOM) for a moment: the node marks
          its link down and registers the client that joined meanwhile
          once Redis takes writes again; a node frozen past its TTL whose
          id another process took stops with exit 1
  auth:   a redis-server with --requirepass: no password, a wrong one
          (--cluster-password-file) and one in the URL refused at start
          with exit 1 and the password never shown; the right one serves
          two nodes, which AUTH again after the broker restarts
Exit 77 when redis-server is not installed.
"""
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scframes import HEADER, HELLO, INDICATION, REQUEST, RESPONSE, frame, recv_exact  # noqa: E402
from sccheck import Tally, skip  # noqa: E402
from scredis import Redis  # noqa: E402
from scserver import Server  # noqa: E402

SERVER, MODE = sys.argv[1], sys.argv[2]
LIST, SEND, NICK, ACK, SUBSCRIBE, BYE, AUTH = 3, 4, 6, 7, 8, 9, 10
MESSAGE, PRESENCE = 65, 66
OK, NOT_DELIVERED, NICK_IN_USE = 0, 4, 16
JOINED, LEFT, RENAMED = 1, 2, 3
SERVER_SHUTDOWN, NODE_DOWN = 5, 6
CLUSTERED = 0x04
TTL = 3
tally = Tally()
check = tally.check


def parse_entry(p, at):
    ident, fam = struct.unpack_from(">IB", p, at)
    at += 5 + (4 if fam == 4 else 16) + 2 + 8
    n = p[at]
    return ident, p[at + 1:at + 1 + n].decode(), at + 1 + n


class Client:
    """A raw-socket client; frames it is not waiting for are kept in order."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.backlog = []
        self.next_id = 1
        _k, _t, _s, _i, p = self.read_frame(10)
        self.id = struct.unpack_from(">I", p)[0]
        name_len = p[14]  # after id, heartbeat, idle, delivery, max payload
        self.flags = p[15 + name_len] if len(p) > 15 + name_len else 0

    def read_frame(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        magic, _v, kind, typ, status, _r, ident, length = HEADER.unpack(
            recv_exact(self.sock, HEADER.size))
        return kind, typ, status, ident, recv_exact(self.sock, length)

    def request(self, typ, payload=b""):
        rid = self.next_id
        self.next_id += 1
        self.sock.sendall(frame(REQUEST, typ, rid, payload))
        return rid

    def wait(self, pred, timeout=5.0):
        """The first frame (kept or new) for which pred holds, or None."""
        for i, f in enumerate(self.backlog):
            if pred(f):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            f = self.read_frame(deadline - time.monotonic())
            if f is None:
                return None
            if pred(f):
                return f
            self.backlog.append(f)
        return None

    def call(self, typ, payload=b"", timeout=5.0):
        rid = self.request(typ, payload)
        return self.wait(lambda f: f[0] == RESPONSE and f[3] == rid, timeout)

    def list_ids(self):
        f = self.call(LIST)
        if f is None or f[2] != OK:
            return None
        p = f[4]
        count, at, out = struct.unpack_from(">I", p)[0], 4, []
        for _ in range(count):
            ident, _nick, at = parse_entry(p, at)
            out.append(ident)
        return out

    def presence(self):
        """Every PRESENCE received so far as (event, reason, id)."""
        while self.read_frame_into_backlog():
            pass
        out = [(f[4][0], f[4][1], struct.unpack_from(">I", f[4], 2)[0])
               for f in self.backlog if f[0] == INDICATION and f[1] == PRESENCE]
        self.backlog = [f for f in self.backlog if not (f[0] == INDICATION and f[1] == PRESENCE)]
        return out

    def read_frame_into_backlog(self):
        f = self.read_frame(0.05)
        if f is not None:
            self.backlog.append(f)
        return f is not None

    def close(self):
        self.sock.close()


def start_node(redis, node, *extra, env_notify=None):
    # Many clients from 127.0.0.1 and pipelined SENDs: the per-address and
    # rate limits are lifted, they are not what this test is about.
    old = os.environ.pop("NOTIFY_SOCKET", None)
    if env_notify:
        os.environ["NOTIFY_SOCKET"] = env_notify
    try:
        return Server(SERVER, "--cluster", "unix:" + redis.sock, "--node-id", str(node),
                      "--node-ttl", str(TTL), "--delivery-timeout", "2", "--max-clients-per-ip",
                      "0", "--max-connect-rate", "0", "--max-send-rate", "0",
                      "--max-request-rate", "0", *extra)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        if old is not None:
            os.environ["NOTIFY_SOCKET"] = old


def wait_status(notify, text, timeout=5.0):
    """Whether a STATUS= datagram containing `text` arrives in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([notify], [], [], deadline - time.monotonic())
        if r and text in notify.recv(4096).decode(errors="replace"):
            return True
    return False


def converged(clients, expect, timeout=8.0):
    """Waits until every client's LIST is `expect`; the lists last seen."""
    deadline = time.monotonic() + timeout
    while True:
        lists = [c.list_ids() for c in clients]
        if all(sorted(expect) == lst for lst in lists) or time.monotonic() > deadline:
            return lists
        time.sleep(0.1)


def redis_call(redis, *args):
    """One command over RESP on the broker's socket (binary-safe): an
    integer reply as int, a bulk string as bytes (None for nil), a status
    as str."""
    args = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    cmd = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(redis.sock)
        s.sendall(cmd)
        reply = s.recv(65536)
    head, _, rest = reply.partition(b"\r\n")
    if head[:1] == b":":
        return int(head[1:])
    if head[:1] == b"+":
        return head[1:].decode()
    if head[:1] == b"$":
        n = int(head[1:])
        return None if n < 0 else rest[:n]
    raise AssertionError(f"unexpected Redis reply {reply!r}")


def redis_hget_int(redis, key, field):
    """HGET as a number; None when the field is absent."""
    reply = redis_call(redis, "HGET", key, field)
    return None if reply is None else int(reply)


def redis_publish(redis, channel, payload):
    """PUBLISH; the number of receivers."""
    return redis_call(redis, "PUBLISH", channel, payload)


def send(client, target, text):
    return client.request(SEND, struct.pack(">I", target) + text.encode())


def is_message(f):
    return f[0] == INDICATION and f[1] == MESSAGE


def acked_send(sender, target, text):
    """A SEND the target ACKs: its message id (the MESSAGE's and the OK's),
    or None when either is missing or they differ."""
    rid = send(sender, target.id, text)
    m = target.wait(is_message)
    if m is None:
        return None
    target.call(ACK, struct.pack(">I", m[3]))
    r = sender.wait(lambda f: f[0] == RESPONSE and f[3] == rid)
    ok = r is not None and r[2] == OK and struct.unpack(">I", r[4])[0] == m[3]
    return m[3] if ok else None


def receive_acking(clients, counts, timeout=20.0):
    """For each client, the last 5 characters of the texts of up to its
    count of MESSAGEs, each ACKed without waiting for the ACK's answer.
    Taken from all clients in turn, so that none waits for its ACKs longer
    than the others (the delivery timeout is 2 s)."""
    got = [[] for _ in clients]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(len(g) < n for g, n in zip(got, counts)):
        for client, g, n in zip(clients, got, counts):
            while len(g) < n:
                m = client.wait(is_message, 0.01)
                if m is None:
                    break
                g.append(m[4][-5:].decode())
                client.request(ACK, struct.pack(">I", m[3]))
    return got


def count_ok(client, rids):
    """How many of the SENDs `rids` were answered OK."""
    oks = 0
    for rid in rids:
        r = client.wait(lambda f, rid=rid: f[0] == RESPONSE and f[3] == rid, 10)
        oks += r is not None and r[2] == OK
    return oks


def low24(ident):
    return ident & 0xffffff


def check_restarted(redis, nodes, i, issued, message_id, how):
    """Starts node i + 1 again with its node id (its process has ended or
    is stopped here): a new client's id and a SEND's message id must lie
    beyond every one the previous run handed out (sockchatd(8) CLUSTER)."""
    nodes[i].stop()
    nodes[i] = start_node(redis, i + 1)
    x, y = Client(nodes[i].port), Client(nodes[i].port)
    check(x.id >> 24 == i + 1 and low24(x.id) > max(map(low24, issued)),
          f"{how}: node {i + 1}'s new client id {x.id:#x} is beyond its previous run's "
          f"{[hex(j) for j in issued]}")
    mid = acked_send(x, y, "after the restart")
    check(mid is not None and mid >> 24 == i + 1 and low24(mid) > low24(message_id),
          f"{how}: node {i + 1}'s new message id {mid and hex(mid)} is beyond its previous "
          f"run's {message_id and hex(message_id)}")
    x.close()
    y.close()


def check_wrap(redis, nodes):
    """Node 4 starts from counters at the top of their range, put into its
    ids hash: client and message ids go on at 1, never 0.  Its TTL is long,
    so that its next tick is 30 s away: half a block of connections must
    move its reservation at once."""
    redis_call(redis, "HSET", "sockchat:node:4:ids", "client", 0xfffffe, "message", 0xffffff)
    nodes.append(start_node(redis, 4, "--node-ttl", "90"))  # the last --node-ttl counts
    xs = [Client(nodes[-1].port) for _ in range(3)]
    got = [x.id for x in xs]
    check(got == [0x4fffffe, 0x4ffffff, 0x4000001], f"client ids wrap past 0xffffff to 1: {list(map(hex, got))}")
    got = [acked_send(xs[0], xs[1], "wrap") for _ in range(2)]
    check(got == [0x4ffffff, 0x4000001], f"message ids wrap past 0xffffff to 1: {[g and hex(g) for g in got]}")
    # 0xfffffe + 4096 wrapped (the start's write) up to 2 + 4096 (a tick's
    # after the third client): a block beyond what was handed out.
    stored = redis_hget_int(redis, "sockchat:node:4:ids", "client")
    check(4095 <= stored <= 4098, f"the reservation wrapped too: {stored}")
    for x in xs:
        x.close()

    # Half a block (2048 of 4096 client ids) since the last write wakes the
    # node's cluster thread, which writes next id + 4096: at least
    # 2047 + 4096.  Connections one after another, each closed after its
    # HELLO, so that --max-clients is never near.
    t0 = time.monotonic()
    hellos = 0
    for _ in range(2500):
        with socket.create_connection(("127.0.0.1", nodes[-1].port), timeout=10) as s:
            hellos += HEADER.unpack(recv_exact(s, HEADER.size))[3] == HELLO
    connects = time.monotonic() - t0
    check(hellos == 2500, f"every connection got its HELLO ({hellos})")
    deadline = time.monotonic() + 5
    while True:
        stored = redis_hget_int(redis, "sockchat:node:4:ids", "client")
        if stored >= 2047 + 4096 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(stored >= 2047 + 4096,
          f"half a block of ids moved the reservation before the tick: {stored} "
          f"({connects:.1f} s for 2500 connections)")


def test_nodes(redis, nodes):
    subs = [Client(n.port) for n in nodes]
    # Every node knows every subscriber before any subscribes: a JOINED for
    # a subscriber still on its way through Redis would be one event more.
    converged(subs, [s.id for s in subs])
    for s in subs:
        check(s.call(SUBSCRIBE, b"\x01")[2] == OK, f"subscriber {s.id:#x} subscribed")
    clients = [Client(n.port) for n in nodes for _ in range(2)]
    ids = [c.id for c in subs + clients]
    check(len(set(ids)) == len(ids), f"client ids unique across nodes: {[hex(i) for i in ids]}")
    check(all(c.id >> 24 == i // 2 + 1 for i, c in enumerate(clients)),
          "the node id is the high byte of each client id")
    check(all(c.flags & CLUSTERED for c in clients), "HELLO carries the CLUSTERED flag")
    lists = converged(subs, ids)
    check(all(lst == sorted(ids) for lst in lists), f"LIST identical on every node: {lists}")
    for s in subs:
        joined = [i for e, _r, i in s.presence() if e == JOINED]
        check(sorted(joined) == sorted(c.id for c in clients),
              f"subscriber {s.id:#x} heard each JOINED once ({len(joined)} events)")

    check(clients[0].call(NICK, b"alice")[2] == OK, "NICK alice on node 1")
    for s in subs:
        f = s.wait(lambda f: f[0] == INDICATION and f[1] == PRESENCE and f[4][0] == RENAMED)
        check(f is not None and struct.unpack_from(">I", f[4], 2)[0] == clients[0].id,
              f"subscriber {s.id:#x} heard the rename")
    r = clients[2].call(NICK, b"ALICE")
    check(r is not None and r[2] == NICK_IN_USE, "a nick held on another node is NICK_IN_USE")
    for s in subs:
        extra = s.presence()
        check(extra == [], f"subscriber {s.id:#x}: no second RENAMED: {extra}")

    a, b = clients[0], clients[2]  # node 1 -> node 2
    rid = send(a, b.id, "hello across")
    m = b.wait(is_message)
    check(m is not None and m[4].endswith(b"hello across"), "MESSAGE reaches the other node")
    check(a.wait(lambda f: f[0] == RESPONSE and f[3] == rid, 0.5) is None,
          "no SEND answer before the ACK")
    b.call(ACK, struct.pack(">I", m[3]))
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] == rid)
    check(r is not None and r[2] == OK and struct.unpack(">I", r[4])[0] == m[3],
          "SEND answered OK with the message id after the remote ACK")

    # A forged MESSAGE in b's node's inbox (a MESSAGE header, a payload that
    # is not one) is dropped there: b keeps its connection and its messages.
    body = struct.pack(">I", a.id) + b"\xff" * 3  # a's id as the sender, then no address
    bad = (b"SC\x01\x03" + bytes([MESSAGE, 0, 0, 0]) +
           struct.pack(">II", (a.id >> 24) << 24 | 77, len(body)) + body)
    heard = redis_publish(redis, f"sockchat:node:{b.id >> 24}:inbox", b"M" + struct.pack(">I", b.id) + bad)
    check(heard >= 1, f"the forged payload reached b's node ({heard} subscriber(s))")
    rid = send(a, b.id, "after the forgery")
    m = b.wait(is_message)
    check(m is not None and m[4].endswith(b"after the forgery"),
          "a malformed MESSAGE from the broker is dropped, the client keeps its connection")
    b.call(ACK, struct.pack(">I", m[3]))
    a.wait(lambda f: f[0] == RESPONSE and f[3] == rid)

    # Two senders on node 1 at once (a to b, a2 to b2 on node 2): their
    # client threads' PUBLISHes share batches on the node's one command
    # connection (server/publish_batch.hpp), and so do the ACKs' on node 2;
    # each sender's messages still arrive in order, each SEND is answered.
    a2, b2 = clients[1], clients[3]
    t0 = time.monotonic()
    rids, rids2 = [], []
    for i in range(1000):
        rids.append(send(a, b.id, f"m{i:04d}"))
        if i < 500:
            rids2.append(send(a2, b2.id, f"n{i:04d}"))
    got, got2 = receive_acking([b, b2], [1000, 500])
    oks, oks2 = count_ok(a, rids), count_ok(a2, rids2)
    check(got == [f"m{i:04d}" for i in range(1000)], f"1000 pipelined SENDs arrive in order ({len(got)})")
    check(got2 == [f"n{i:04d}" for i in range(500)],
          f"500 pipelined SENDs of a second sender at the same time arrive in order ({len(got2)})")
    check(oks == 1000 and oks2 == 500,
          f"1000 + 500 SENDs answered OK ({oks} + {oks2}) in {time.monotonic() - t0:.2f} s")
    print(f"figure: 1500 cross-node SEND+ACK round trips, two senders, in {time.monotonic() - t0:.2f} s")

    rid = send(a, clients[4].id, "never acknowledged")
    check(clients[4].wait(is_message) is not None, "the unacknowledging target got its MESSAGE")
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] == rid, 6)
    check(r is not None and r[2] == NOT_DELIVERED, "no ACK: NOT_DELIVERED after the timeout")

    dup = subprocess.run([SERVER, "--bind", "127.0.0.1", "--port", "0", "--cluster",
                          "unix:" + redis.sock, "--node-id", "2"],
                         capture_output=True, text=True, timeout=10)
    check(dup.returncode == 1 and "node id 2 is in use" in dup.stderr,
          f"a second node 2 refuses to start: {dup.returncode} {dup.stderr.strip()!r}")

    # A message id from nodes 2 and 3 each, for after their restarts.
    before = {i: acked_send(clients[2 * i - 2], clients[2 * i - 1], "before the restart") for i in (2, 3)}
    check(all(before.values()), f"SENDs on nodes 2 and 3 answered OK: {before}")

    gone = [subs[2].id, clients[4].id, clients[5].id]
    for c in subs + clients:
        c.presence()
    nodes[2].proc.kill()
    nodes[2].proc.wait()
    rid = send(a, clients[4].id, "to a dead node")
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] == rid, 1.0)
    check(r is not None and r[2] == NOT_DELIVERED, "SEND to a killed node's client fails at once")
    t0 = time.monotonic()
    alive = [i for i in ids if i not in gone]
    lists = converged(subs[:2], alive, TTL + 5)
    check(all(lst == sorted(alive) for lst in lists),
          f"killed node's clients leave LIST in {time.monotonic() - t0:.1f} s: {lists}")
    time.sleep(TTL / 3 + 0.5)  # another reap round: nothing more may come
    for s in subs[:2]:
        left = [(e, r, i) for e, r, i in s.presence()]
        check(sorted(left) == sorted((LEFT, NODE_DOWN, i) for i in gone),
              f"subscriber {s.id:#x}: one LEFT NODE_DOWN per client of the dead node: {left}")

    # Its clients were reaped, so its liveness key has expired (--node-ttl
    # after the kill): node 3 can start again with its id at once.
    check_restarted(redis, nodes, 2, gone, before[3], "after kill -9")
    rc = nodes[1].stop()
    check(rc == 0, f"node 2 stops on SIGTERM with status {rc}")
    check_restarted(redis, nodes, 1, [subs[1].id, clients[2].id, clients[3].id], before[2], "after SIGTERM")
    check_wrap(redis, nodes)
    for c in subs + clients:
        c.close()


def test_broker(redis, nodes, notify):
    sub = Client(nodes[0].port)
    sub.call(SUBSCRIBE, b"\x01")
    a, a2 = Client(nodes[0].port), Client(nodes[0].port)
    b = Client(nodes[1].port)
    c = Client(nodes[2].port)
    ids = [sub.id, a.id, a2.id, b.id, c.id]
    converged([sub, b, c], ids)
    sub.presence()
    redis.kill()
    time.sleep(0.3)
    for n in nodes:
        check(n.proc.poll() is None, f"node {n.port} survives the broker's death")
    rid = send(a, a2.id, "local")
    m = a2.wait(is_message)
    if m:
        a2.call(ACK, struct.pack(">I", m[3]))
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] == rid)
    check(r is not None and r[2] == OK, "same-node SEND works without the broker")
    t0 = time.monotonic()
    rid = send(a, b.id, "remote")
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] == rid, 2)
    check(r is not None and r[2] == NOT_DELIVERED and time.monotonic() - t0 < 1,
          "remote SEND without the broker: NOT_DELIVERED at once")
    check(sorted(ids) == a.list_ids(), "LIST still serves what is known")
    check(any("cluster link down" in n.read_log() for n in nodes[:1]), "the log says the link is down")
    check(wait_status(notify, "cluster link DOWN"), "systemd STATUS says the link is down")
    redis.start()
    t0 = time.monotonic()
    lists = converged([sub, b, c], ids, 10)
    check(all(lst == sorted(ids) for lst in lists), f"converged after a restart: {lists}")
    # The ids hashes went with the broker's data: each node writes its own
    # back once reconnected, beyond the ids it handed out.
    deadline = time.monotonic() + 10
    while True:
        stored = {n: redis_hget_int(redis, f"sockchat:node:{n}:ids", "client") for n in (1, 2, 3)}
        if all(stored.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(all(v is not None and v > max(low24(i) for i in ids if i >> 24 == n) for n, v in stored.items()),
          f"every node's ids are back in the restarted broker: {stored}")
    check(wait_status(notify, "cluster link up"), "systemd STATUS says the link is up again")
    # Until the link is back a SEND fails at once; the first MESSAGE that
    # arrives is ACKed, and its SEND (whichever it was) answers OK.
    deadline = time.monotonic() + 10
    rids, m = [], None
    while m is None and time.monotonic() < deadline:
        rids.append(send(a, b.id, "after restart"))
        m = b.wait(is_message, 1)
    if m:
        b.call(ACK, struct.pack(">I", m[3]))
    r = a.wait(lambda f: f[0] == RESPONSE and f[3] in rids and f[2] == OK)
    check(r is not None, f"cross-node SEND works again {time.monotonic() - t0:.1f} s after the restart")
    # The second look after reconnecting: --node-ttl, the 2 s longest
    # backoff and two timed-out tries later.
    time.sleep(TTL + 3)
    events = sub.presence()
    check(events == [], f"subscribers heard no event from the broker restart: {events}")

    # A node frozen past its TTL: reaped (one LEFT NODE_DOWN), then back.
    os.kill(nodes[2].proc.pid, signal.SIGSTOP)
    try:
        time.sleep(TTL + TTL / 3 + 1.5)
        events = sub.presence()
        check(events == [(LEFT, NODE_DOWN, c.id)], f"a frozen node's client left: {events}")
    finally:
        os.kill(nodes[2].proc.pid, signal.SIGCONT)
    lists = converged([sub, b], ids, TTL + 3)
    check(all(lst == sorted(ids) for lst in lists), f"the thawed node's client is back: {lists}")
    events = sub.presence()
    check(events == [(JOINED, 0, c.id)], f"and joined once: {events}")

    # Sequence numbers: a presence event older than the state a node holds
    # (what a snapshot read after a reconnect meets in the events queued
    # behind it) changes nothing.  c's record: flags, u64 seq, then entry.
    record = redis_call(redis, "HGET", "sockchat:clients", str(c.id))
    check(record is not None and len(record) > 9, f"c's record is in Redis: {record!r}")
    seq = struct.unpack_from(">Q", record, 1)[0]
    _i, _n, nick_at = parse_entry(record[9:], 0)
    before_nick = record[9:9 + nick_at - 1 - len(_n.encode())]  # the entry up to its nick
    stale = (b"P\x00" + record[:1] + struct.pack(">Q", seq - 1) + bytes([RENAMED, 0]) +
             before_nick + b"\x05stale")
    check(redis_publish(redis, "sockchat:presence", stale) >= 3, "an old RENAMED published")
    check(c.call(NICK, b"fresh")[2] == OK, "c renames itself for real")
    f = sub.wait(lambda f: f[0] == INDICATION and f[1] == PRESENCE and f[4][0] == RENAMED)
    check(f is not None and f[4].endswith(b"\x05fresh"),
          f"the first RENAMED heard is the real one, not the older state: {f and f[4]!r}")
    events = sub.presence()
    check(events == [], f"and nothing else: {events}")

    # A client that leaves while its node's link is down (the broker
    # frozen): the other nodes hear its LEFT with its own reason (BYE) once
    # the link is back, not the CLOSED that re-registering would guess.
    d = Client(nodes[2].port)
    converged([sub], ids + [d.id])
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        # d's rename waits 250 ms for the broker, then node 3 marks its link
        # down (the rename, already written, runs when the broker thaws).
        check(d.call(NICK, b"dee") is not None, "d renames itself while the broker is frozen")
        check("cluster link down" in nodes[2].read_log(), "node 3 knows its link is down")
        check(c.call(BYE) is not None, "then c says BYE")
        c.close()
        time.sleep(0.2)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    f = sub.wait(lambda f: f[0] == INDICATION and f[1] == PRESENCE and f[4][0] == LEFT, TTL + 2)
    check(f is not None and f[4][1] == 0 and struct.unpack_from(">I", f[4], 2)[0] == c.id,
          f"c's LEFT BYE heard once node 3's link is back: {f and f[4][:6]!r}")
    # A node that stops: its clients' LEFTs (SERVER_SHUTDOWN), once each,
    # and nothing of it left in Redis.
    converged([sub], ids[:-1] + [d.id])
    sub.presence()
    check(nodes[2].stop() == 0, "node 3 stops cleanly")
    f = sub.wait(lambda f: f[0] == INDICATION and f[1] == PRESENCE and f[4][0] == LEFT, TTL)
    check(f is not None and f[4][1] == SERVER_SHUTDOWN and struct.unpack_from(">I", f[4], 2)[0] == d.id,
          f"d's LEFT SERVER_SHUTDOWN: {f and f[4][:6]!r}")
    time.sleep(TTL / 3 + 0.5)  # a reap round: nothing more may come
    events = sub.presence()
    check(events == [], f"and nothing else: {events}")
    check(redis_call(redis, "HGET", "sockchat:clients", str(d.id)) is None and
          redis_call(redis, "EXISTS", "sockchat:node:3") == 0 and
          redis_call(redis, "EXISTS", "sockchat:node:3:clients") == 0,
          "node 3 left nothing behind in Redis")
    d.close()
    for x in (sub, a, a2, b):
        x.close()


def test_guard(redis, nodes):
    a = Client(nodes[0].port)
    converged([a], [a.id])
    # Redis refuses writes (OOM under a 1-byte maxmemory): node 2's write
    # of the JOINED fails, and it must not count as done.
    check(redis_call(redis, "CONFIG", "SET", "maxmemory", "1") is not None, "maxmemory 1")
    try:
        c = Client(nodes[1].port)
        time.sleep(0.6)
    finally:
        redis_call(redis, "CONFIG", "SET", "maxmemory", "0")
    check("Redis answered OOM" in nodes[1].read_log() or "presence write refused: OOM" in nodes[1].read_log(),
          "node 2's log says Redis refused the write")
    lists = converged([a], [a.id, c.id], 8)
    check(lists == [sorted([a.id, c.id])], f"the client that joined meanwhile reaches node 1: {lists}")

    # Node 2 frozen past its TTL; meanwhile another process takes node id 2.
    os.kill(nodes[1].proc.pid, signal.SIGSTOP)
    replacement = None
    try:
        deadline = time.monotonic() + TTL + 3
        while redis_call(redis, "EXISTS", "sockchat:node:2") and time.monotonic() < deadline:
            time.sleep(0.1)
        replacement = start_node(redis, 2)
    finally:
        os.kill(nodes[1].proc.pid, signal.SIGCONT)
    try:
        rc = nodes[1].proc.wait(timeout=TTL + 5)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 1 and "another process holds node id 2" in nodes[1].read_log(),
          f"the thawed node, its id taken, stops with exit 1: {rc}")
    d = Client(replacement.port)
    lists = converged([a], [a.id, d.id], 8)
    check(lists == [sorted([a.id, d.id])], f"the replacement serves node id 2 alone: {lists}")
    for x in (a, c, d):
        x.close()
    check(replacement.stop() == 0, "the replacement stops cleanly")


def refused(*args):
    """Runs a node that must not start; (exit status, stderr)."""
    r = subprocess.run([SERVER, "--bind", "127.0.0.1", "--port", "0", *args],
                       capture_output=True, text=True, timeout=10)
    return r.returncode, r.stderr.strip()


def auth_payload(account, password):
    return bytes([len(account)]) + account.encode() + password.encode()


def test_sign_in(a, b):
    """a on node 1 (which has the account carol), b a guest on node 2."""
    check(a.call(SUBSCRIBE, b"\x01")[2] == OK, "a subscribes")
    renamed = lambda f: f[0] == INDICATION and f[1] == PRESENCE and f[4][0] == RENAMED  # noqa: E731
    check(b.call(NICK, b"carol")[2] == OK, "a guest on node 2 calls itself carol")
    check(a.wait(renamed) is not None, "node 1 heard the rename")
    r = a.call(AUTH, auth_payload("carol", "pw-carol"))
    check(r is not None and r[2] == NICK_IN_USE,
          f"signing in as carol on node 1 while node 2's guest holds the name: NICK_IN_USE ({r and r[2]})")
    check(b.call(NICK, b"bob")[2] == OK, "the guest renames itself")
    check(a.wait(renamed) is not None, "node 1 heard that rename too")
    check(b.call(SUBSCRIBE, b"\x01")[2] == OK, "b subscribes")
    r = a.call(AUTH, auth_payload("carol", "pw-carol"))
    check(r is not None and r[2] == OK, f"then carol signs in ({r and r[2]})")
    f = b.wait(lambda f: renamed(f) and struct.unpack_from(">I", f[4], 2)[0] == a.id)
    check(f is not None, "node 2 heard the sign-in")
    r = b.call(NICK, b"Carol")
    check(r is not None and r[2] == NICK_IN_USE, "and node 2's guests cannot take the name back")
    a.presence()
    b.presence()


def test_auth(directory):
    password = "s3cret-Pa55"
    redis = Redis(directory, "--requirepass", password)
    good, bad = os.path.join(directory, "good"), os.path.join(directory, "bad")
    with open(good, "w") as f:
        f.write(password + "\n")
    with open(bad, "w") as f:
        f.write("not-" + password + "\n")
    nodes = []
    try:
        url = "unix:" + redis.sock
        rc, err = refused("--cluster", url, "--node-id", "1")
        check(rc == 1 and "NOAUTH" in err, f"no password: exit 1 with Redis's reason: {rc} {err!r}")
        rc, err = refused("--cluster", url, "--node-id", "1", "--cluster-password-file",
                          os.path.join(directory, "missing"))
        check(rc == 1 and "cannot read --cluster-password-file" in err,
              f"a missing password file: exit 1 and why: {rc} {err!r}")
        rc, err = refused("--cluster", url, "--node-id", "1", "--cluster-password-file", bad)
        check(rc == 1 and "refused the password" in err and password not in err,
              f"wrong password: exit 1, a clear reason, no password shown: {rc} {err!r}")
        rc, err = refused("--cluster", f"redis://u:{password}@127.0.0.1:1", "--node-id", "1")
        check(rc == 1 and "redis://u:***@127.0.0.1:1" in err and password not in err,
              f"a password in the URL is never shown: {rc} {err!r}")
        rc, err = refused("--cluster", f"redis://u:{password}@nowhere", "--node-id", "1")
        check(rc == 2 and password not in err, f"a bad URL's password is not echoed: {rc} {err!r}")
        # Node 1 has an account carol (guests allowed), node 2 none: a guest
        # there may call itself carol, which must keep carol from signing
        # in on node 1 while it does, as on one server.
        hashed = subprocess.run(["openssl", "passwd", "-6", "-salt", "clustert", "pw-carol"],
                                capture_output=True, text=True, check=True).stdout.strip()
        accounts = os.path.join(directory, "accounts")
        with open(accounts, "w") as f:
            f.write(f"carol:{hashed}\n")
        nodes = [start_node(redis, 1, "--cluster-password-file", good, "--accounts", accounts,
                            "--allow-guests"),
                 start_node(redis, 2, "--cluster-password-file", good)]
        a, b = Client(nodes[0].port), Client(nodes[1].port)
        lists = converged([a, b], [a.id, b.id])
        check(lists == [sorted([a.id, b.id])] * 2, f"two nodes with a password: {lists}")
        test_sign_in(a, b)
        redis.kill()
        redis.start()
        # LIST alone would still show a and b from the replica: a client
        # that joins node 2 after the restart reaches node 1's LIST only
        # through Redis, on connections that had to AUTH again.
        c = Client(nodes[1].port)
        lists = converged([a], [a.id, b.id, c.id], 10)
        check(lists == [sorted([a.id, b.id, c.id])], f"AUTH again after a broker restart: {lists}")
        c.close()
        for n in nodes:
            check(password not in n.read_log(), "the log never shows the password")
        a.close()
        b.close()
    finally:
        for n in nodes:
            rc = n.stop()
            check(rc == 0, f"node exit status {rc}; log:\n{n.read_log()}")
        redis.kill()


def main():
    if shutil.which("redis-server") is None:
        skip("redis-server is not installed (Debian package redis-server)")
    directory = tempfile.mkdtemp(prefix="sockchat-cluster-")
    if MODE == "auth":
        try:
            test_auth(directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        sys.exit(tally.exit_status())
    redis = Redis(directory)
    nodes = []
    # Node 1's systemd notifications (READY, STATUS=) come here.
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(directory, "notify"))
    try:
        nodes = [start_node(redis, n, env_notify=os.path.join(directory, "notify") if n == 1 else None)
                 for n in ((1, 2) if MODE == "guard" else (1, 2, 3))]
        if MODE == "nodes":
            test_nodes(redis, nodes)
        elif MODE == "guard":
            test_guard(redis, nodes)
        else:
            test_broker(redis, nodes, notify)
    finally:
        for n in nodes:
            rc = n.stop()
            if n.proc.returncode not in (0, -9) and not (MODE == "guard" and n is nodes[1]):
                check(False, f"node exit status {rc}; log:\n{n.read_log()}")
        redis.kill()
        notify.close()
        shutil.rmtree(directory, ignore_errors=True)
    sys.exit(tally.exit_status())


main()
