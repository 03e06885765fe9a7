#!/usr/bin/env python3
"""sockchatd wakes its connection threads with SIGURG (server/peer.hpp);
one sent from outside must do nothing (sockchatd(8), SIGNALS): clients stay
connected and served, and the server still stops cleanly on SIGTERM.
Loopback only."""
import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scframes import HELLO, INDICATION, REQUEST, RESPONSE, frame, read_frame  # noqa: E402
from sccheck import Tally  # noqa: E402
from scserver import Server  # noqa: E402

SERVER = sys.argv[1]
TIME = 1
tally = Tally()
check = tally.check


def time_request(sock, ident):
    sock.sendall(frame(REQUEST, TIME, ident))
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
sys.exit(tally.exit_status())
