"""Shared by the client's test scripts: a sockchatd on a free loopback port.

The server is started with --port 0 --port-file, so tests can run in
parallel, and is always stopped (SIGTERM, then SIGKILL) by stop()."""
import os
import signal
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
