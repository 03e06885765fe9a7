"""Shared pieces of the systemd tests: start sockchatd the way systemd would
(environment, inherited fds, stderr), listen for its sd_notify datagrams and
read the HELLO a connection gets.

Every wait is bounded in time; every child started here is stopped by
Child.stop(), which the tests call in `finally` blocks.
"""
import os
import re
import secrets
import signal
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import scserver  # noqa: E402
from sccheck import check, fail  # noqa: E402
from scframes import HEADER, recv_exact  # noqa: E402

TIMEOUT = 15.0  # generous: sanitizer builds on a busy 2-core machine are slow

# Sanitizer settings are passed on explicitly where a launcher drops the
# environment (systemd-socket-activate keeps only what -E names).
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS")


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, tmpdir, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        if abstract:
            name = f"sockchat-test-{os.getpid()}-{secrets.token_hex(6)}"
            self.sock.bind("\0" + name)
            self.env_value = "@" + name
        else:
            path = os.path.join(tmpdir, "notify.sock")
            self.sock.bind(path)
            self.env_value = path
        self.seen = []  # every assignment received so far, in order

    def close(self):
        self.sock.close()

    def receive(self, timeout):
        """One datagram as its list of assignments, or None on timeout."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        lines = [l for l in data.decode("utf-8", "replace").split("\n") if l]
        self.seen.extend(lines)
        return lines

    def wait_for(self, predicate, what, timeout=TIMEOUT):
        """Receives until an assignment satisfies predicate; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.receive(deadline - time.monotonic())
            for line in lines or []:
                if predicate(line):
                    return line
        fail(f"no {what} within {timeout:.0f} s; received {self.seen[-20:]}")

    def wait_line(self, exact, timeout=TIMEOUT):
        return self.wait_for(lambda l: l == exact, exact, timeout)

    def collect(self, seconds):
        """Everything received during `seconds`, with arrival times."""
        out = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            lines = self.receive(deadline - time.monotonic())
            now = time.monotonic()
            out.extend((now, l) for l in lines or [])
        return out


class Child:
    """A process started with fork/exec so that the child can see its own
    pid in its environment (LISTEN_PID, WATCHDOG_PID) and inherit fd 3."""

    def __init__(self, argv, env, listen_fd=None, pid_vars=(), stderr_path=None):
        self.argv = argv
        self.status = None
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            self._exec_child(argv, env, listen_fd, pid_vars, stderr_path, w)
        os.close(w)
        # The pipe closes on exec; bytes in it mean exec failed.
        err = os.read(r, 512)
        os.close(r)
        self.pid = pid
        if err:
            self.wait(TIMEOUT)
            fail(f"cannot exec {argv[0]}: {err.decode()}")

    @staticmethod
    def _exec_child(argv, env, listen_fd, pid_vars, stderr_path, errpipe):
        try:
            if errpipe == 3 and listen_fd is not None:
                errpipe = os.dup(errpipe)  # fd 3 is about to be replaced
            env = dict(env)
            for var in pid_vars:
                env[var] = str(os.getpid())
            if stderr_path:
                fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(fd, 2)
                os.close(fd)
            if listen_fd is not None:
                if listen_fd != 3:
                    os.dup2(listen_fd, 3)  # the copy is inheritable
                os.set_inheritable(3, True)
            os.execve(argv[0], argv, env)
        except BaseException as e:  # noqa: BLE001 - report anything, then leave
            os.write(errpipe, str(e).encode())
        os._exit(127)

    def poll(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.status

    def signal(self, sig):
        if self.poll() is None:
            os.kill(self.pid, sig)

    def stop(self):
        """SIGTERM, then SIGKILL if it lingers; always reaps."""
        self.signal(signal.SIGTERM)
        if self.wait(TIMEOUT) is None:
            self.signal(signal.SIGKILL)
            self.wait(TIMEOUT)
        return self.status


def base_env(**extra):
    """The test's environment without anything systemd-related, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
                        "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def read_port_file(path, child, timeout=TIMEOUT):
    """The port the server wrote to its --port-file; fails when the child
    ends first or `timeout` seconds pass."""
    try:
        return scserver.wait_for_port(path, child.poll, timeout)
    except scserver.StartError as e:
        fail(str(e))


def read_header(sock):
    """The next frame's (kind, type, status); its payload is left unread."""
    kind, mtype, status, _length = read_header_and_length(sock)
    return kind, mtype, status


def read_header_and_length(sock):
    header = recv_exact(sock, HEADER.size)
    magic, version, kind, mtype, status, _res, _id, length = HEADER.unpack(header)
    check(magic == b"SC" and version == 1, f"not a sockchat v1 header: {header.hex()}")
    return kind, mtype, status, length


def connect_and_read_hello(port, host="127.0.0.1", timeout=TIMEOUT):
    """Connects and returns (socket, client id) once HELLO arrived."""
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        kind, mtype, _status, length = read_header_and_length(sock)
        check(kind == 3 and mtype == 64, f"first frame is not HELLO: kind {kind} type {mtype}")
        check(length >= 4, f"HELLO payload too short: {length}")
        payload = recv_exact(sock, length)
        (client_id,) = struct.unpack(">I", payload[:4])
        return sock, client_id
    except BaseException:
        sock.close()
        raise


def free_tcp_port():
    """A port that was free a moment ago, for tools that must be told one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_client_count(line, count):
    """True for a STATUS= line that reports `count` connected clients as
    "<count> client(s)" (a number inside an address such as 127.0.0.1 does
    not count)."""
    return line.startswith("STATUS=") and bool(
        re.search(rf"(?:^|[^\d.]){count} clients?\b", line[len("STATUS="):]))
