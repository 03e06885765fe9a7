#!/usr/bin/env python3
"""sockchat --plain through pipes: commands on stdin, one event per line on
stdout, exit statuses.  Usage: plain_test.py SOCKCHATD SOCKCHAT, with
SOCKCHAT_VERSION (project()'s version) in the environment, as meson runs it."""
import os
import re
import signal
import socket
import subprocess
import stat
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import Tally  # noqa: E402
from scserver import Server, hanging_port  # noqa: E402

SOCKCHATD, SOCKCHAT = sys.argv[1], sys.argv[2]
VERSION = os.environ["SOCKCHAT_VERSION"]
# The name the checks below expect; warnings only in the log.
SERVER_ARGS = ("--name", "tui-test-server", "--log-level", "warn")
ENV = dict(os.environ, LC_ALL="C.UTF-8", USER="plainuser")
tally = Tally()
check = tally.check


def run(args, stdin_text="", timeout=30):
    p = subprocess.run([SOCKCHAT, *args], input=stdin_text.encode(), capture_output=True,
                       timeout=timeout, env=ENV)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def free_port():
    # A port nobody listens on: bind, read the number, close.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_options():
    rc, out, _ = run(["--version"])
    check(rc == 0 and out.strip() == "sockchat " + VERSION, "--version")
    rc, out, _ = run(["--help"])
    check(rc == 0 and all(o in out for o in ["-n, --nick NAME", "--no-color", "--no-bell", "--plain",
                                              "-h, --help", "-V, --version", "[HOST [PORT]]"]),
          "--help lists every option", out)
    rc, out, err = run(["--frobnicate"])
    lines = err.strip().splitlines()
    check(rc == 2 and len(lines) == 2 and lines[1] == "Try 'sockchat --help'." and out == "",
          "bad option: one line, the hint, exit 2", err)
    rc, _, err = run(["a", "1", "extra"])
    check(rc == 2 and "Try 'sockchat --help'." in err, "too many arguments: exit 2", err)


def test_connect_failure():
    rc, out, _ = run(["--plain", "127.0.0.1", str(free_port())])
    check(rc == 1 and "connect failed" in out, "connection refused with HOST given: exit 1", out)


def test_one_client(server):
    script = "\n".join([
        "/time", "/name", "/list", "/nick plainy", "/send 999 nobody there",
        "/time 100", "/bogus", "/time 0", "/send 1",
    ]) + "\n"
    rc, out, err = run(["--plain", "127.0.0.1", str(server.port)], script)
    check(rc == 0, "exit 0 after EOF on stdin", out + err)
    check(re.search(r"^connected to 127\.0\.0\.1:%d as client (\d+) \(server tui-test-server\)$"
                    % server.port, out, re.M) is not None, "connected line", out)
    check(re.search(r"^nick plainuser$", out, re.M) is not None, "nick defaults to $USER", out)
    check(re.search(r"^time \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \(UTC[+-]\d\d:\d\d(:\d\d)?\)$",
                    out, re.M) is not None, "time line with zone and offset", out)
    check(re.search(r"^name tui-test-server$", out, re.M) is not None, "name line", out)
    check(re.search(r"^clients 1$", out, re.M) is not None and
          re.search(r"^client \d+ plainuser 127\.0\.0\.1:\d+ \(you\)$", out, re.M) is not None,
          "list: count and own entry marked", out)
    check(re.search(r"^nick plainy$", out, re.M) is not None, "/nick accepted", out)
    check(re.search(r"^not delivered to 999: no such client \(", out, re.M) is not None,
          "send to an unknown id: 'no such client'", out)
    check(re.search(r"^100/100 responses in [\d.]+ ms \(rtt min/median/max [\d.]+/[\d.]+/[\d.]+ ms\)$",
                    out, re.M) is not None, "/time 100 summary", out)
    check(re.search(r"^error: unknown command /bogus", out, re.M) is not None, "unknown command", out)
    check(re.search(r"^error: N must be a number from 1 to 10000$", out, re.M) is not None,
          "/time 0 refused", out)
    check(re.search(r"^error: usage: /send NICK\|ID TEXT", out, re.M) is not None, "/send usage", out)
    check(out.rstrip().endswith("disconnected"), "says goodbye at EOF", out)


def test_two_clients(server):
    # The receiver keeps its stdin open until the test is done with it.
    rx = subprocess.Popen([SOCKCHAT, "--plain", "--nick", "rx", "127.0.0.1", str(server.port)],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
    os.set_blocking(rx.stdout.fileno(), False)
    got = b""
    rx_id = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and rx_id is None:
        time.sleep(0.05)
        got += rx.stdout.read() or b""
        m = re.search(rb"as client (\d+)", got)
        rx_id = m and int(m.group(1))
    check(rx_id is not None, "receiver connected", got.decode("utf-8", "replace"))
    if rx_id is None:
        rx.kill()
        rx.wait()
        return
    evil = "\x1b[31mred\x1b[0m \x9b2J bell\x07 tab\t \u4f60\u597d"  # C0, C1 (U+009B), wide
    script = "/send %d hello there\n/send %d %s\n/send %d %s\n" % (
        rx_id, rx_id, evil, rx_id, "x" * 70000)
    rc, out, err = run(["--plain", "--nick", "tx", "127.0.0.1", str(server.port)], script)
    check(rc == 0, "sender exits 0", out + err)
    delivered = re.findall(r"^delivered (\d+) to %d$" % rx_id, out, re.M)
    check(len(delivered) == 2, "both messages delivered (the receiver ACKed)", out)
    check(re.search(r"^error: message is 70000 bytes; the server accepts at most \d+", out, re.M)
          is not None, "an oversized message is refused before sending", out)
    os.set_blocking(rx.stdout.fileno(), True)
    try:
        rx_out, _ = rx.communicate(input=b"", timeout=15)
    except subprocess.TimeoutExpired:
        rx.kill()
        rx_out, _ = rx.communicate()
    text = (got + rx_out).decode("utf-8", "replace")
    check(rx.returncode == 0, "receiver exits 0 at EOF", text)
    check(re.search(r"^message from \d+ \(tx\) 127\.0\.0\.1:\d+: hello there$", text, re.M) is not None,
          "message line with sender id, nick, address", text)
    line = [l for l in text.splitlines() if "red" in l]
    check(len(line) == 1 and line[0].endswith(
        ": ^[[31mred^[[0m M-^[2J bell^G tab^I \u4f60\u597d"), "controls in caret notation", text)
    raw = got + rx_out
    check(b"\x1b" not in raw and b"\x07" not in raw and b"\xc2\x9b" not in raw,
          "no raw control bytes on stdout")
    check(re.search(r"^joined \d+ tx 127\.0\.0\.1:\d+$|^joined \d+ - 127\.0\.0\.1:\d+$", text, re.M)
          is not None and re.search(r"^left \d+ tx \(said goodbye\)$", text, re.M) is not None,
          "presence: joined and left", text)


def test_commands_before_connect(server):
    script = "/time\n/connect 127.0.0.1 %d\n/time\n/disconnect\n/name\n/quit\n/time\n" % server.port
    rc, out, err = run(["--plain"], script)
    lines = out.splitlines()
    check(rc == 0, "no HOST: exit 0", out + err)
    check(len(lines) > 0 and lines[0].startswith("error: Get time needs a connection"),
          "a request while disconnected says why", out)
    check(sum(1 for l in lines if l.startswith("time 2")) == 1, "/connect then /time in a script", out)
    check(any(l.startswith("error: Get server name needs a connection") for l in lines),
          "after /disconnect requests are refused again", out)
    check(lines[-1] != "" and not any(l.startswith("time 2") for l in lines[lines.index("disconnected"):]),
          "/quit stops reading commands", out)


def test_connect_cancelled():
    """A connect that hangs is cut short by SIGTERM: the receiver thread,
    still connecting, is joined at once."""
    with hanging_port() as port:
        p = subprocess.Popen([SOCKCHAT, "--plain", "127.0.0.1", str(port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
        time.sleep(1.0)
        still_connecting = p.poll() is None
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            out = p.communicate(timeout=10)[0].decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0].decode("utf-8", "replace")
        took = time.monotonic() - start
    check(still_connecting and out.startswith("connecting to 127.0.0.1:") and
          "connected to" not in out, "a hanging connect is still in progress after 1 s", out)
    check(p.returncode == 128 + signal.SIGTERM and took < 2.0,
          "SIGTERM while connecting: status 143 in %.2f s (under 2 s)" % took, out)


def test_sigterm(server):
    p = subprocess.Popen([SOCKCHAT, "--plain", "127.0.0.1", str(server.port)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, env=ENV)
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM)
    try:
        p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    check(p.returncode == 128 + signal.SIGTERM, "SIGTERM ends --plain with status 143")


class Live:
    """A --plain client whose stdin stays open; its output is read as it comes."""

    def __init__(self, port, *args):
        self.p = subprocess.Popen([SOCKCHAT, "--plain", *args, "127.0.0.1", str(port)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
        os.set_blocking(self.p.stdout.fileno(), False)
        self.out = b""

    def text(self):
        if not self.p.stdout.closed:
            self.out += self.p.stdout.read() or b""
        return self.out.decode("utf-8", "replace")

    def wait(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text(), re.M):
                return True
            time.sleep(0.05)
        return False

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.text()
        self.p.stdout.close()
        return self.p.returncode


def test_liveness():
    # Heartbeat 1 s, idle timeout 4 s: PINGs must keep an idle client alive;
    # a server that stops answering (SIGSTOP) is reported as lost.
    server = Server(SOCKCHATD, *SERVER_ARGS, "--heartbeat", "1", "--idle-timeout", "4")
    c = None
    try:
        c = Live(server.port)
        check(c.wait(r"^connected to"), "liveness client connected", c.text())
        time.sleep(6)
        check("lost" not in c.text() and "IDLE_TIMEOUT" not in c.text(),
              "PINGs keep an idle client connected past the idle timeout", c.text())
        server.proc.send_signal(signal.SIGSTOP)
        try:
            check(c.wait(r"^connection lost: nothing from the server for 4 s$", timeout=15),
                  "a silent server is reported as 'connection lost'", c.text())
        finally:
            server.proc.send_signal(signal.SIGCONT)
        check(c.close() == 0, "exit 0 at EOF after the loss", c.text())
    finally:
        if c is not None and c.p.poll() is None:
            c.p.kill()
            c.p.wait()
        server.stop()


def test_server_shutdown():
    server = Server(SOCKCHATD, *SERVER_ARGS)
    c = None
    try:
        c = Live(server.port)
        check(c.wait(r"^connected to"), "shutdown client connected", c.text())
        server.proc.send_signal(signal.SIGTERM)
        check(c.wait(r"^server shutting down: .+$") and c.wait(r"^disconnected: the server shut down$"),
              "SHUTDOWN indication shown with its text", c.text())
        check(c.close() == 0, "exit 0 at EOF after the shutdown", c.text())
    finally:
        if c is not None and c.p.poll() is None:
            c.p.kill()
            c.p.wait()
        server.stop()


def run_env(args, env, stdin_text=""):
    p = subprocess.run([SOCKCHAT, *args], input=stdin_text.encode(), capture_output=True, timeout=30, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_config_file(server):
    """Plain `sockchat` connects where the config file says; the command
    line overrides it; a bad line stops it naming FILE:LINE; log = on
    writes a private day file with the lines as --plain prints them."""
    with tempfile.TemporaryDirectory(prefix="sockchat-config-") as d:
        os.makedirs(os.path.join(d, "config", "sockchat"))
        conf = os.path.join(d, "config", "sockchat", "config")
        with open(conf, "w") as f:
            f.write("# where the tests chat\nhost = 127.0.0.1\nport = %d\nnick = fromfile\nlog = on\n" % server.port)
        env = dict(ENV, XDG_CONFIG_HOME=os.path.join(d, "config"), XDG_STATE_HOME=os.path.join(d, "state"))
        rc, out, err = run_env(["--plain"], env, "/list\n")
        check(rc == 0 and re.search(r"^connected to 127\.0\.0\.1:%d " % server.port, out, re.M)
              and re.search(r"^nick fromfile$", out, re.M), "sockchat alone connects where the config says",
              out + err)
        rc, out, err = run_env(["--plain", "--nick", "fromcli", "--no-log"], env, "/list\n")
        check(rc == 0 and re.search(r"^nick fromcli$", out, re.M), "--nick overrides the file's nick", out + err)
        logs = os.path.join(d, "state", "sockchat", "logs")
        files = sorted(os.listdir(logs)) if os.path.isdir(logs) else []
        check(len(files) >= 1 and all(re.fullmatch(r"\d{4}-\d\d-\d\d\.log", n) for n in files),
              "log = on writes YYYY-MM-DD.log", repr(files))
        text = "".join(open(os.path.join(logs, n)).read() for n in files)
        check(re.search(r"^\d\d:\d\d:\d\d nick fromfile$", text, re.M) is not None
              and "fromcli" not in text, "the log has the first run's lines, not the --no-log run's", text)
        modes = [stat.S_IMODE(os.stat(p).st_mode) for p in [logs] + [os.path.join(logs, n) for n in files]]
        check(modes[0] == 0o700 and all(m == 0o600 for m in modes[1:]), "log directory 0700, files 0600",
              repr([oct(m) for m in modes]))
        with open(conf, "a") as f:
            f.write("nik = typo\n")
        rc, out, err = run_env(["--plain"], env)
        check(rc == 2 and "%s:6: unknown key 'nik'" % conf in err and out == "",
              "a bad config line: FILE:LINE on stderr, exit 2", err)
        rc, out, err = run_env(["--plain", "--no-config"], env)
        check(rc == 0 and "connected" not in out, "--no-config skips the file", out + err)


def main():
    test_options()
    test_connect_failure()
    test_connect_cancelled()
    server = Server(SOCKCHATD, *SERVER_ARGS)
    try:
        test_one_client(server)
        test_two_clients(server)
        test_commands_before_connect(server)
        test_sigterm(server)
        test_config_file(server)
    finally:
        server.stop()
    test_liveness()
    test_server_shutdown()
    return tally.exit_status()


if __name__ == "__main__":
    sys.exit(main())
