#!/usr/bin/env python3
"""sockchatd wakes its connection threads with SIGURG (server/peer.hpp);
one sent from outside must do nothing (sockchatd(8), SIGNALS): clients stay
connected and served, and the server still stops cleanly on SIGTERM.
Loopback only."""
import os
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scserver import Server  # noqa: E402

SERVER = sys.argv[1]
HEADER = struct.Struct("!2sBBBBHII")  # magic version kind type status reserved id length
REQUEST, RESPONSE, INDICATION = 1, 2, 3
TIME, HELLO = 1, 64
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


def read_frame(sock):
    magic, version, kind, typ, status, _, ident, length = HEADER.unpack(read_exact(sock, HEADER.size))
    if magic != b"SC" or version != 1:
        raise ValueError(f"bad header: magic {magic!r} version {version}")
    return kind, typ, status, ident, read_exact(sock, length)


def time_request(sock, ident):
    sock.sendall(HEADER.pack(b"SC", 1, REQUEST, TIME, 0, 0, ident, 0))
    return read_frame(sock)


server = Server(SERVER, "--log-level", "warn")
try:
    clients = []
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        kind, typ, *_ = read_frame(c)
        check((kind, typ) == (INDICATION, HELLO), f"client {len(clients) + 1}: HELLO first")
        clients.append(c)
    pid = server.proc.pid
    threads = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    check(len(threads) >= 4, f"one thread per client besides the main one ({len(threads)} threads)")
    # Process-directed SIGURG reaches whichever thread does not block it:
    # the main thread, or a connection thread inside ppoll().
    for _ in range(50):
        os.kill(pid, signal.SIGURG)
    time.sleep(0.2)
    check(server.proc.poll() is None, "the server still runs after 50 SIGURG")
    for i, c in enumerate(clients, 1):
        kind, typ, status, ident, payload = time_request(c, 1000 + i)
        check((kind, typ, status, ident) == (RESPONSE, TIME, 0, 1000 + i) and len(payload) >= 13,
              f"client {i}: TIME still answered (kind {kind} type {typ} status {status} id {ident})")
    for c in clients:
        c.close()
finally:
    rc = server.stop()
check(rc == 0, f"exit status 0 after SIGTERM (got {rc}; log {server.read_log()!r})")
print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
