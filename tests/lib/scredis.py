"""A real redis-server for the cluster tests (integration/cluster_test.py,
bench/smoke.py's cluster case): listening only on a unix socket in a
directory the caller owns (no TCP port, so tests run in parallel), no
persistence, logging to redis.log there.  kill() always reaps it.
"""
import os
import subprocess
import time

START_TIMEOUT = 10.0


class Redis:
    def __init__(self, directory, *extra):
        """extra: more redis-server options, e.g. "--requirepass", "pw"."""
        self.sock = os.path.join(directory, "redis.sock")
        self.log = open(os.path.join(directory, "redis.log"), "a")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--save", "",
             "--appendonly", "no"] + self.extra, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.sock) and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if os.path.exists(self.sock):
            os.unlink(self.sock)
