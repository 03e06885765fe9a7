"""A private, detached tmux server for tests that drive programs the way a
person would: send-keys in, capture-pane out.  Each Tmux has its own socket
(-L), so tests never touch the user's tmux, and kill() ends every program
it started."""
import os
import re
import subprocess
import time

# Raised by the waits below; the scripts import it from here or sccheck.
from sccheck import Failure


class Tmux:
    WAIT = 10.0  # seconds per expectation: generous, CI machines are slow

    def __init__(self, name):
        self.socket = "sockchat-%s-%d-%d" % (name, os.getpid(), int(time.time() * 1000) % 100000)
        self.env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
        self.env.pop("TMUX", None)
        self.env.pop("NO_COLOR", None)

    def __call__(self, *args, check=True):
        p = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                           capture_output=True, env=self.env, timeout=20)
        if check and p.returncode != 0:
            raise Failure("tmux %s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
        return p.stdout.decode("utf-8", "replace")

    def capture(self, pane, escapes=False, history=False):
        return self("capture-pane", "-p", "-t", pane, *(["-e"] if escapes else []),
                    *(["-S", "-"] if history else []))

    def wait_for(self, pane, pattern, what, timeout=None, escapes=False, history=False):
        """Polls the pane until the regex matches; returns the match."""
        deadline = time.monotonic() + (timeout or self.WAIT)
        text = ""
        while time.monotonic() < deadline:
            text = self.capture(pane, escapes, history)
            m = re.search(pattern, text, re.M)
            if m:
                print("ok   " + what)
                return m
            time.sleep(0.1)
        raise Failure("%s: /%s/ not seen in pane %s within %.0f s; the pane:\n%s"
                      % (what, pattern, pane, timeout or self.WAIT, text))

    def wait_gone(self, pane, pattern, what, timeout=None):
        deadline = time.monotonic() + (timeout or self.WAIT)
        text = ""
        while time.monotonic() < deadline:
            text = self.capture(pane)
            if not re.search(pattern, text, re.M):
                print("ok   " + what)
                return
            time.sleep(0.1)
        raise Failure("%s: /%s/ still in pane %s; the pane:\n%s" % (what, pattern, pane, text))

    def keys(self, pane, *k):
        self("send-keys", "-t", pane, *k)

    def typed(self, pane, text):
        self("send-keys", "-t", pane, "-l", text)

    def kill(self):
        self("kill-server", check=False)
