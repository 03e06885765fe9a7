#!/usr/bin/env python3
"""sockchatd's command line: usage errors exit 2 with one line naming the
option and a hint, a port in use exits 1 with a clear message, and the edge
values of --max-payload are accepted or refused exactly.  Loopback only."""
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from scserver import Server, StartError  # noqa: E402

SERVER = sys.argv[1]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(*args, timeout=10):
    return subprocess.run([SERVER, *args], capture_output=True, text=True, timeout=timeout)


def usage_error(args, names):
    r = run(*args)
    lines = r.stderr.splitlines()
    check(r.returncode == 2, f"{args}: exit status 2 (got {r.returncode})")
    check(len(lines) == 2 and names in lines[0], f"{args}: first line names {names!r}: {lines[:1]}")
    check(lines[-1:] == ["Try 'sockchatd --help'."], f"{args}: usage hint: {lines[-1:]}")
    check(r.stdout == "", f"{args}: nothing on stdout")


def starts_and_stops(args):
    """The server must start listening with these options and exit 0 on SIGTERM."""
    try:
        server = Server(SERVER, "--log-level", "warn", *args)
    except StartError as e:
        check(False, f"{args}: server listening ({e})")
        return
    check(server.port > 0, f"{args}: server listening")
    rc = server.stop()
    check(rc == 0, f"{args}: exit status 0 after SIGTERM (got {rc}; log {server.read_log()!r})")


r = run("--version")
check(r.returncode == 0 and r.stdout.startswith("sockchatd "), f"--version: {r.stdout!r}")
r = run("--help")
check(r.returncode == 0 and "--max-payload" in r.stdout, "--help exits 0 and lists options")

usage_error(["--bogus"], "bogus")
usage_error(["--port", "abc"], "--port")
usage_error(["--port", "65536"], "--port")
usage_error(["--max-clients", "0"], "--max-clients")
usage_error(["--log-level", "loud"], "--log-level")
usage_error(["--max-payload", "63"], "--max-payload")
usage_error(["--max-payload", "16776193"], "--max-payload")
usage_error(["--heartbeat", "10", "--idle-timeout", "10"], "idle-timeout")
usage_error(["extra-argument"], "extra-argument")

starts_and_stops(["--max-payload", "64", "--sendq", "4096"])
starts_and_stops(["--max-payload", "16776192", "--sendq", "33554432"])

# A port somebody else holds: exit 1 with a message that says so.
holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
holder.bind(("127.0.0.1", 0))
holder.listen(1)
port = holder.getsockname()[1]
r = run("--bind", "127.0.0.1", "--port", str(port))
holder.close()
check(r.returncode == 1, f"port in use: exit status 1 (got {r.returncode})")
check("Address already in use" in r.stderr and str(port) in r.stderr,
      f"port in use: clear message: {r.stderr.strip()!r}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
