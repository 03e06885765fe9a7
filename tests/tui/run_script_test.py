#!/usr/bin/env python3
"""README's first command, scripts/run, as a person uses it (issue: the
first run): in tmux, it builds (nothing to do here: meson built the
programs), prints one line naming the port and the second-client command,
opens the client; the same command in a second terminal joins the first
server instead of starting another on some other port; a port held by
something else stops it with a clear message; quitting the first client
stops the server.

Usage: run_script_test.py SOURCE_ROOT BUILD_DIR
Exit 77 when tmux is missing.  Every exit path kills the tmux server (and
with it both scripts and the server they started)."""
import os
import re
import shutil
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import skip  # noqa: E402
from sctmux import Failure, Tmux  # noqa: E402

SOURCE, BUILD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PROMPT = "RUN-PROMPT$ "
tmux = Tmux("run")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shell(name):
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "30",
         "-c", SOURCE, "env PS1='%s' sh" % PROMPT)
    tmux.wait_for(name, re.escape(PROMPT.strip()), "shell prompt in " + name)


def run(pane, port, args):
    tmux.typed(pane, "SOCKCHAT_BUILD_DIR=%s SOCKCHAT_PORT=%d scripts/run %s; echo EXIT=$?"
               % (BUILD, port, args))
    tmux.keys(pane, "Enter")


def listening(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def two_clients_one_server():
    port = free_port()
    shell("a")
    shell("b")
    run("a", port, "--nick alice --no-bell")
    tmux.wait_for("a", r"connected to 127\.0\.0\.1:%d" % port, "first client connected")
    run("b", port, "--nick bob --no-bell")
    tmux.wait_for("b", r"connected to 127\.0\.0\.1:%d" % port, "second client joined the same port")
    tmux.wait_for("b", r"alice", "the second client lists the first")
    tmux.keys("a", "F10")
    tmux.wait_for("a", r"EXIT=0", "first client quit", timeout=20)
    text = tmux.capture("a", history=True).replace("\n", "")
    line = "sockchatd listens on 127.0.0.1:%d (log " % port
    second = "a second client: SOCKCHAT_PORT=%d scripts/run --nick bob" % port
    if line not in text or second not in text:
        raise Failure("the one line with port and second-client command is missing:\n" + text)
    print("ok   one line: where the server listens and the second-client command")
    for _ in range(100):
        if not listening(port):
            break
        time.sleep(0.1)
    else:
        raise Failure("the server still listens after its client quit")
    print("ok   quitting the first client stopped the server")
    tmux.wait_for("b", r"disconnected: the server shut down", "the joined client is told", timeout=20)
    tmux.keys("b", "F10")
    tmux.wait_for("b", r"EXIT=0", "second client quit", timeout=20)
    text = tmux.capture("b", history=True)
    if "already listens on 127.0.0.1:%d: joining it" % port not in text.replace("\n", ""):
        raise Failure("the second run did not say it joins:\n" + text)
    print("ok   the second run says it joins the running server")



def foreign_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        shell("c")
        run("c", port, "--nick carol")
        tmux.wait_for("c", r"EXIT=1", "a port held by another program stops the script", timeout=60)
        text = tmux.capture("c", history=True).replace("\n", "")
        for want in ("sockchatd did not start on 127.0.0.1:%d" % port, "Address already in use",
                     "SOCKCHAT_PORT=%d scripts/run" % (port + 1)):
            if want not in text:
                raise Failure("missing %r in:\n%s" % (want, text))
        print("ok   it names the port, the reason and a way out")


def main():
    if shutil.which("tmux") is None:
        skip("tmux is not installed (scripts/test installs it)")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Failure("terminated")))
    try:
        two_clients_one_server()
        foreign_port()
        print("0 failed")
        return 0
    except Failure as e:
        print("FAIL " + str(e))
        return 1
    finally:
        tmux.kill()


if __name__ == "__main__":
    sys.exit(main())
