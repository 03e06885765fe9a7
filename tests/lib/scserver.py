"""sockchatd on a free loopback port, shared by the test scripts of several
suites (bench, tui, wireshark; systemd uses wait_for_port with its own
fork/exec launcher).

The server is started with --bind 127.0.0.1 --port 0 --port-file, so tests
can run in parallel, and Server.stop() always stops and reaps it (SIGTERM,
then SIGKILL after a bounded wait).

Scripts import this module through a sys.path entry computed from their
own __file__ (tests/lib next to their folder), so it works with any build
directory; they set sys.dont_write_bytecode first so that no __pycache__
lands in the source tree.
"""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# Generous: sanitizer builds on a busy 2-core machine start and stop slowly.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class StartError(RuntimeError):
    """sockchatd ended, or wrote no port in time, before it listened."""


def wait_for_port(path, exit_status, timeout=START_TIMEOUT):
    """The port sockchatd wrote to its --port-file `path`.  exit_status()
    is None while the server runs and its exit status once it ended (Popen.poll
    or an equivalent).  Raises StartError when the server ends first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = exit_status()
        if status is not None:
            raise StartError(f"the server exited with status {status} before it wrote its port")
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
            if text:
                return int(text)
        except (FileNotFoundError, ValueError):
            pass  # not written yet, or caught half-written
        time.sleep(0.05)
    raise StartError(f"the server wrote no port to {path} within {timeout:.0f} s")


class Server:
    """`exe --bind 127.0.0.1 --port 0 --port-file F *args`, stdout and
    stderr in a log file.  F and the log go into `workdir`, or into a
    temporary directory of the server's own that stop() removes.

    proc is the Popen object (tests signal it), port the port it listens on.
    Raises StartError, with the server's log, when it does not start; the
    process is stopped and reaped by then."""

    def __init__(self, exe, *args, workdir=None, start_timeout=START_TIMEOUT,
                 stop_timeout=STOP_TIMEOUT):
        self.own_dir = workdir is None
        self.dir = tempfile.mkdtemp(prefix="sockchatd-test-") if self.own_dir else workdir
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "sockchatd.log")
        self.stop_timeout = stop_timeout
        self.killed = False
        self.final_log = None
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", "0", "--port-file", self.port_file, *args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self.port = wait_for_port(self.port_file, self.proc.poll, start_timeout)
        except StartError as e:
            self.stop()
            raise StartError(f"{e}; its log:\n{self.read_log()}") from None

    def read_log(self):
        """Everything the server wrote so far (all of it after stop())."""
        if self.final_log is not None:
            return self.final_log
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """SIGTERM, a bounded wait, SIGKILL as a last resort; always reaps.
        Returns the exit status, or "killed" when SIGKILL was needed.  May
        be called again; read_log() still works afterwards."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.killed = True
        if not self.log.closed:
            self.log.close()
            self.final_log = self.read_log()
            if self.own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)
        return "killed" if self.killed else self.proc.returncode


@contextlib.contextmanager
def hanging_port():
    """A loopback port where connect() hangs until its timeout: a listener
    whose accept queue is full, so the kernel drops further SYNs.  Yields
    the port number."""
    lst = socket.socket()
    fillers = []
    try:
        lst.bind(("127.0.0.1", 0))
        lst.listen(0)
        for _ in range(3):
            f = socket.socket()
            fillers.append(f)
            f.setblocking(False)
            f.connect_ex(lst.getsockname())
        time.sleep(0.3)
        yield lst.getsockname()[1]
    finally:
        for f in fillers:
            f.close()
        lst.close()
