#!/usr/bin/env python3
"""The client under load, in a real terminal (tmux), against a real
sockchatd: the figures README's "Client performance" quotes.

  paste   a 1 MB bracketed paste: time until its last word shows in the
          input line;
  burst   10,000 messages sent to the client as fast as the server takes
          them: time until the last one is answered delivered (it ends on
          screen, so it is ACKed after the paint that shows it), how many
          were on screen at all, and how long a key typed in the middle of
          the burst takes to show.  Paint is coalesced per turn, so most
          of a burst scrolls past unseen; "delivered means shown", so those
          are answered NOT_DELIVERED after the delivery window.

Asserts only what must hold on any machine (the whole paste arrives, every
message is answered, delivered or not delivered, the last one delivered,
the key shows); the times are printed, not judged: speed is for
benchmarks, not for tests.

Usage: bench_tui.py SOCKCHATD SOCKCHAT
Exit 77 when tmux is missing."""
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import skip  # noqa: E402
from scframes import REQUEST, RESPONSE, frame, read_frame  # noqa: E402
from scserver import Server  # noqa: E402
from sctmux import Failure, Tmux  # noqa: E402

SOCKCHATD, SOCKCHAT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
LIST, SEND = 3, 4
NOT_DELIVERED = 4
DELIVERY_TIMEOUT_S = 5  # the server's default: what scrolled past unseen is answered after it
MESSAGES = 10_000
PASTE_BYTES = 1_000_000
tmux = Tmux("bench")


def paste(pane):
    words = ["hello", "world", "paste", "sockchat", "\u00fcber", "\u674e\u96f7"]
    text, i = [], 0
    size = 0
    while size < PASTE_BYTES:
        w = words[i % len(words)] + str(i)
        text.append(w)
        size += len(w.encode()) + 1
        i += 1
    body = " ".join(text) + " ENDMARK"
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(body)
    try:
        tmux("load-buffer", f.name)
    finally:
        os.unlink(f.name)
    start = time.monotonic()
    tmux("paste-buffer", "-p", "-t", pane)  # -p: with the bracketed-paste markers
    tmux.wait_for(pane, r"ENDMARK$", "the last word of a %d-byte paste shows" % len(body.encode()),
                  timeout=120)
    took = time.monotonic() - start
    tmux.keys(pane, "C-u")
    tmux.wait_gone(pane, r"ENDMARK", "Ctrl-U clears it")
    return took


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    read_frame(s)  # HELLO
    return s


def client_id(s, nick):
    """The id of the client called nick, from LIST (PROTOCOL.md "entry")."""
    s.sendall(frame(REQUEST, LIST, 1))
    kind, mtype, status, _id, p = read_frame(s)
    if (kind, mtype, status) != (RESPONSE, LIST, 0):
        raise Failure("LIST failed: kind %d type %d status %d" % (kind, mtype, status))
    (count,), at = struct.unpack_from(">I", p), 4
    for _ in range(count):
        cid, fam = struct.unpack_from(">IB", p, at)
        at += 5 + (4 if fam == 4 else 16) + 2 + 8
        n = p[at]
        if p[at + 1:at + 1 + n].decode() == nick:
            return cid
        at += 1 + n
    raise Failure("%s is not in LIST" % nick)


def burst(pane, port):
    s = connect(port)
    target = client_id(s, "benchee")
    answers = {"ok": 0, "not_delivered": 0, "other": 0, "last_ok": None}
    last_id = 100 + MESSAGES - 1

    def read_answers():
        for _ in range(MESSAGES):
            kind, mtype, status, fid, _p = read_frame(s)
            if (kind, mtype) != (RESPONSE, SEND):
                answers["other"] += 1
            elif status == 0:
                answers["ok"] += 1
                if fid == last_id:
                    answers["last_ok"] = time.monotonic()
            else:
                answers["not_delivered" if status == NOT_DELIVERED else "other"] += 1

    reader = threading.Thread(target=read_answers)
    frames = b"".join(frame(REQUEST, SEND, 100 + i, struct.pack(">I", target) +
                            ("burst message %d" % i).encode()) for i in range(MESSAGES))
    start = time.monotonic()
    reader.start()
    s.sendall(frames)
    time.sleep(0.2)  # the burst is under way: does typing still show?
    typed_at = time.monotonic()
    tmux.typed(pane, "zqx")
    tmux.wait_for(pane, r"zqx", "a key typed during the burst shows", timeout=60)
    key_latency = time.monotonic() - typed_at
    reader.join(timeout=DELIVERY_TIMEOUT_S + 60)
    s.close()
    answered = answers["ok"] + answers["not_delivered"] + answers["other"]
    if reader.is_alive():
        raise Failure("only %d of %d SENDs were answered" % (answered, MESSAGES))
    if answers["other"]:
        raise Failure("%d of %d answers were neither delivered nor not delivered" % (answers["other"], MESSAGES))
    if answers["last_ok"] is None:
        raise Failure("the last message, on screen at the end, was not delivered")
    tmux.wait_for(pane, r"burst message %d" % (MESSAGES - 1), "the last message is on screen")
    return answers["last_ok"] - start, key_latency, answers["ok"]


def main():
    if shutil.which("tmux") is None:
        skip("tmux is not installed (scripts/test installs it)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Failure("terminated")))
    # One sender pipelines 10,000 SENDs: lift the per-client rate limits, so
    # the figure is the client's speed and not a limit's.
    server = Server(SOCKCHATD, "--log-level", "warn", "--max-send-rate", "0",
                    "--max-request-rate", "0", "--max-unacked", "1048576",
                    "--delivery-timeout", str(DELIVERY_TIMEOUT_S))
    try:
        tmux("new-session", "-d", "-s", "b", "-x", "120", "-y", "30",
             "%s --no-bell --nick benchee 127.0.0.1 %d" % (SOCKCHAT, server.port))
        tmux.wait_for("b", r"nick benchee", "client connected")
        paste_s = paste("b")
        burst_s, key_s, shown = burst("b", server.port)
        print("figure: 1 MB paste shown in %.2f s" % paste_s)
        print("figure: %d messages painted in %.2f s (%.0f/s), the last one acknowledged then; "
              "%d were on screen and acknowledged, the rest scrolled past unseen; "
              "a key typed during the burst showed after %.2f s"
              % (MESSAGES, burst_s, MESSAGES / burst_s, shown, key_s))
        print("0 failed")
        return 0
    except Failure as e:
        print("FAIL " + str(e))
        print("---- sockchatd log:\n" + server.read_log())
        return 1
    finally:
        tmux.kill()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
