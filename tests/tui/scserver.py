"""Shared by the client's test scripts: a sockchatd on a free loopback port.

The server is started with --port 0 --port-file, so tests can run in
parallel, and is always stopped (SIGTERM, then SIGKILL) by stop()."""
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time


class Server:
    def __init__(self, exe, *extra):
        self.tmp = tempfile.mkdtemp(prefix="sockchat-tui-test-")
        port_file = os.path.join(self.tmp, "port")
        self.log_path = os.path.join(self.tmp, "sockchatd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file,
             "--name", "tui-test-server", "--log-level", "warn", *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        self.port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("sockchatd did not report a port; log:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        for name in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, name))
        os.rmdir(self.tmp)


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
