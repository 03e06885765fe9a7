"""Verdicts for the Python test scripts, in the exit statuses meson reads:
0 passed, 1 failed, 77 skipped (the same convention as tests/lib/skip.hpp).

Two styles, one per kind of script:
  - check()/fail() end the run at the first broken expectation;
  - a Tally's check() records it and goes on, so that one run shows every
    broken expectation, and its exit_status() gives the verdict at the end.

Scripts import this module through a sys.path entry computed from their
own location (see scserver.py).
"""
import sys

SKIP = 77


class Failure(SystemExit):
    """A broken expectation.  Uncaught, it ends the script the way
    sys.exit("FAIL: why") does: the line on stderr, exit status 1.  It is a
    SystemExit so that no `except Exception` around a check swallows it; a
    script that must diagnose before it reports catches it by name (str()
    gives the reason alone)."""

    def __init__(self, why):
        super().__init__(f"FAIL: {why}")
        self.why = why

    def __str__(self):
        return str(self.why)


def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


class Tally:
    """Checks that print "ok   what" or "FAIL what" and go on."""

    def __init__(self):
        self.failures = []

    def check(self, cond, what, output=""):
        if cond:
            print("ok   " + what)
        else:
            print("FAIL " + what + ("\n---- output:\n" + output if output else ""))
            self.failures.append(what)

    def exit_status(self):
        """Prints the count of failures; 1 if there was any, else 0."""
        print(f"{len(self.failures)} failure(s)")
        return 1 if self.failures else 0
