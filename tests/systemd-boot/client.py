#!/usr/bin/env python3
"""A sockchat client for boot_test.py, run inside the container.

  client.py hello [PORT]   connect, print "hello ID" (or "error STATUS TEXT"
                           when the server turns us away), exit 0
  client.py hold [PORT]    connect, print "hello ID", then PING every second
                           and print "pong N" for each answer until the
                           server sends SHUTDOWN ("shutdown REASON", exit 0),
                           closes ("closed", exit 1) or our stdin ends
                           (exit 0: that is how the test stops us)

Lines are flushed at once: the test reads them while we run.
"""
import os
import select
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import scframes as sf  # noqa: E402


def say(line):
    print(line, flush=True)


def greet(sock):
    kind, mtype, status, _id, payload = sf.read_frame(sock)
    if kind == sf.INDICATION and mtype == sf.HELLO:
        say(f"hello {int.from_bytes(payload[:4], 'big')}")
        return True
    if kind == sf.INDICATION and mtype == sf.ERROR:
        say(f"error {status} {payload.decode(errors='replace')}")
        return False
    say(f"unexpected first frame kind {kind} type {mtype}")
    return False


def hold(sock):
    n = 0
    next_ping = 0.0
    while True:
        if time.monotonic() >= next_ping:
            n += 1
            sock.sendall(sf.frame(sf.REQUEST, sf.PING, n, b"x"))
            next_ping = time.monotonic() + 1.0
        # Wait for a frame's first byte here, so that a whole frame is then
        # read with the socket's long timeout, never cut in two.
        readable, _, _ = select.select([sock, sys.stdin], [], [], 0.2)
        if sys.stdin in readable and not sys.stdin.readline():
            return 0
        if sock not in readable:
            continue
        try:
            kind, mtype, _status, frame_id, payload = sf.read_frame(sock)
        except (ConnectionError, OSError):
            say("closed")
            return 1
        if kind == sf.RESPONSE and mtype == sf.PING:
            say(f"pong {frame_id}")
        elif kind == sf.INDICATION and mtype == sf.SHUTDOWN:
            say(f"shutdown {payload.decode(errors='replace')}")
            return 0


def main():
    mode = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 2555
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        if not greet(sock):
            return 0
        return hold(sock) if mode == "hold" else 0


if __name__ == "__main__":
    sys.exit(main())
