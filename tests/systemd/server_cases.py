#!/usr/bin/env python3
"""sockchatd under (simulated) systemd: notifications, watchdog, socket
activation and journal-style logging, each checked on the real binary.

usage: server_cases.py CASE PATH-TO-SOCKCHATD
"""
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time

from sdharness import (SANITIZER_VARS, TIMEOUT, Child, NotifySocket, base_env,
                       connect_and_read_hello, read_header, free_tcp_port, is_client_count,
                       read_port_file)
from sccheck import check, fail, skip  # tests/lib: sdharness put it on sys.path

TIME_OF_DAY = re.compile(r"\d\d:\d\d:\d\d")
PRIORITY = re.compile(r"^<[0-7]>")


def start(exe, tmp, env, extra_args=(), **kw):
    """sockchatd on a free loopback port; returns (child, port)."""
    port_file = os.path.join(tmp, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)  # left by an earlier run in the same case
    child = Child([exe, "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file,
                   *extra_args], env, **kw)
    try:
        return child, read_port_file(port_file, child)
    except BaseException:
        child.stop()
        raise


def check_exit(status):
    """Called after the `finally: status = child.stop()` of each run, so a
    failure inside the run is reported as itself, not as this."""
    check(status == 0, f"sockchatd exited with status {status} after SIGTERM (want 0)")


def notify_lifecycle(exe, tmp, abstract):
    """READY=1, STATUS= following the client count, STOPPING=1."""
    ns = NotifySocket(tmp, abstract=abstract)
    child, port = start(exe, tmp, base_env(NOTIFY_SOCKET=ns.env_value))
    try:
        ns.wait_line("READY=1")
        sock, _ = connect_and_read_hello(port)
        # The server may report at most once a second; the client stays
        # connected until its count has been reported.
        ns.wait_for(lambda l: is_client_count(l, 1), "STATUS= with 1 client")
        sock.close()
        ns.wait_for(lambda l: is_client_count(l, 0), "STATUS= with 0 clients")
        child.signal(signal.SIGTERM)
        ns.wait_line("STOPPING=1")
    finally:
        status = child.stop()
        ns.close()
    check_exit(status)
    print(f"received via {ns.env_value!r}: {ns.seen}")


def watchdog_pings(exe, tmp):
    """WATCHDOG_USEC=400000 -> a ping about every 200 ms, and also when
    WATCHDOG_PID names the server itself."""
    for pid_vars in ((), ("WATCHDOG_PID",)):
        ns = NotifySocket(tmp, abstract=True)
        env = base_env(NOTIFY_SOCKET=ns.env_value, WATCHDOG_USEC=400000)
        child, _ = start(exe, tmp, env, pid_vars=pid_vars)
        try:
            ns.wait_line("READY=1")
            times = [t for t, l in ns.collect(3.0) if l == "WATCHDOG=1"]
        finally:
            status = child.stop()
            ns.close()
        check_exit(status)
        gaps = [b - a for a, b in zip(times, times[1:])]
        label = "WATCHDOG_PID=<server pid>" if pid_vars else "no WATCHDOG_PID"
        print(f"{label}: {len(times)} pings in 3 s, gaps (s): "
              f"{[round(g, 3) for g in gaps]}")
        # Nominal: 15 pings 200 ms apart.  The bounds leave room for slow
        # sanitizer builds but not for a ping at the full timeout.
        check(len(times) >= 5, f"{label}: only {len(times)} WATCHDOG=1 in 3 s (want >= 5)")
        median = sorted(gaps)[len(gaps) // 2]
        check(median <= 0.3, f"{label}: median gap {median:.3f} s (want <= 0.3 s)")


def watchdog_other_pid(exe, tmp):
    """WATCHDOG_PID names another process: the watchdog is not ours."""
    ns = NotifySocket(tmp)
    env = base_env(NOTIFY_SOCKET=ns.env_value, WATCHDOG_USEC=400000, WATCHDOG_PID=1)
    child, _ = start(exe, tmp, env)
    try:
        ns.wait_line("READY=1")
        lines = [l for _, l in ns.collect(2.0)]
    finally:
        status = child.stop()
        ns.close()
    check_exit(status)
    check("WATCHDOG=1" not in lines, f"WATCHDOG=1 sent although WATCHDOG_PID=1: {lines}")
    print(f"no WATCHDOG=1 in 2 s with WATCHDOG_PID=1 (received {lines})")


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def activation_fork(exe, tmp):
    """A listening socket as fd 3 with LISTEN_FDS=1 and LISTEN_PID=<child>:
    the server serves it, does not bind its own, and says READY=1."""
    ns = NotifySocket(tmp)
    lsock = listening_socket()
    port = lsock.getsockname()[1]
    # No --port: a server that ignored fd 3 would bind 2555 and answer
    # nothing here, which the HELLO wait below turns into a failure.
    env = base_env(NOTIFY_SOCKET=ns.env_value, LISTEN_FDS=1)
    child = Child([exe], env, listen_fd=lsock.fileno(), pid_vars=("LISTEN_PID",))
    lsock.close()  # the server holds the only copy now
    try:
        ns.wait_line("READY=1")
        client_id = two_clients(port)
        check(not listens_elsewhere(child.pid, port),
              "server listens on a port of its own besides fd 3")
    finally:
        status = child.stop()
        ns.close()
    check_exit(status)
    print(f"HELLO (client id {client_id}) on the inherited socket, port {port}")


def two_clients(port):
    """HELLO for two clients in a row, the first still connected: the server
    keeps accepting on the inherited socket (which systemd passes blocking;
    a server that left it so would hang in accept()).  Returns the second
    client's id."""
    first, _ = connect_and_read_hello(port)
    try:
        second, client_id = connect_and_read_hello(port)
        second.close()
    finally:
        first.close()
    return client_id


def listens_elsewhere(pid, port):
    """True when pid owns a listening TCP socket on another port."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as f:
            for row in f.readlines()[1:]:
                cols = row.split()
                local_port = int(cols[1].rsplit(":", 1)[1], 16)
                if cols[3] == "0A" and cols[9] in inodes and local_port != port:
                    return True  # 0A: TCP_LISTEN
    return False


def activation_wrong_pid(exe, tmp):
    """LISTEN_PID of another process: fd 3 is not for us; the server binds
    its own port (and must not take over the socket)."""
    lsock = listening_socket()
    env = base_env(LISTEN_FDS=1, LISTEN_PID=1)
    port_file = os.path.join(tmp, "port")
    child = Child([exe, "--bind", "127.0.0.1", "--port", "0", "--port-file", port_file],
                  env, listen_fd=lsock.fileno())
    try:
        port = read_port_file(port_file, child)
        check(port != lsock.getsockname()[1], "server used fd 3 despite LISTEN_PID=1")
        sock, _ = connect_and_read_hello(port)
        sock.close()
    finally:
        status = child.stop()
        lsock.close()
    check_exit(status)
    print(f"LISTEN_PID=1 ignored; server bound its own port {port}")


def activation_tool(exe, tmp):
    """The same through systemd's own launcher, systemd-socket-activate."""
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        skip("systemd-socket-activate not installed (Debian package systemd)")
    ns = NotifySocket(tmp)
    passed = [f"--setenv=NOTIFY_SOCKET={ns.env_value}"]
    passed += [f"--setenv={v}={os.environ[v]}" for v in SANITIZER_VARS if v in os.environ]
    for _attempt in range(5):  # the free port may be taken before the tool binds it
        port = free_tcp_port()
        child = Child([tool, f"--listen=127.0.0.1:{port}", *passed, exe], base_env(),
                      stderr_path=os.path.join(tmp, "activate.log"))
        if wait_for_listener(port, child):
            break
        child.stop()
    else:
        fail("systemd-socket-activate never listened; see activate.log")
    try:
        # The tool execs the server when the first connection arrives; that
        # connection waits in the backlog for the server to accept it.
        client_id = two_clients(port)
        ns.wait_line("READY=1")
    finally:
        status = child.stop()
        ns.close()
    check_exit(status)
    print(f"HELLO (client id {client_id}) through systemd-socket-activate on port {port}")


def wait_for_listener(port, child, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        with open("/proc/net/tcp", encoding="ascii") as f:
            if any(row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A"
                   for row in f.readlines()[1:]):
                return True
        time.sleep(0.05)
    return False


def run_logging(exe, tmp, journal_stream):
    """Runs the server through start-up, one client, one client turned away
    (a warning) and shutdown, with stderr in a file; journal_stream(path)
    gives $JOURNAL_STREAM or None.  Returns the non-empty stderr lines."""
    log = os.path.join(tmp, "stderr.log")
    open(log, "w").close()
    value = journal_stream(log)
    env = base_env(JOURNAL_STREAM=value) if value else base_env()
    child, port = start(exe, tmp, env, extra_args=("--max-clients", "1"), stderr_path=log)
    try:
        sock, _ = connect_and_read_hello(port)
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as extra:
            kind, mtype, status = read_header(extra)
            check((kind, mtype, status) == (3, 68, 7),
                  f"second client with --max-clients 1 got kind {kind} type {mtype} "
                  f"status {status}, want ERROR SERVER_FULL")
        sock.close()
    finally:
        status = child.stop()
    check_exit(status)
    with open(log, encoding="utf-8", errors="replace") as f:
        lines = [l for l in f.read().splitlines() if l.strip()]
    check(lines, "the server logged nothing to stderr")
    print(f"JOURNAL_STREAM={value}:")
    print("\n".join("  " + l for l in lines[:8]))
    return lines


def dev_ino(path):
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def journal_format(exe, tmp):
    """stderr is the journal: "<N>" priority prefixes, no timestamps."""
    lines = run_logging(exe, tmp, dev_ino)
    for line in lines:
        check(PRIORITY.match(line), f"line without a <priority> prefix: {line!r}")
        check(not TIME_OF_DAY.search(line), f"timestamp in a journal line: {line!r}")
    check(any(l.startswith("<6>") for l in lines), "no info line (<6>) at all")
    check(any(l.startswith("<4>") for l in lines), "turning a client away logged no <4> warning")


def plain_format(exe, tmp):
    """stderr is not the journal (no $JOURNAL_STREAM, or one naming another
    file): ordinary lines with a time of day, no priority prefix."""
    other = os.path.join(tmp, "other")
    open(other, "w").close()
    for journal_stream in (lambda _log: None, lambda _log: dev_ino(other)):
        lines = run_logging(exe, tmp, journal_stream)
        for line in lines:
            check(not PRIORITY.match(line), f"priority prefix outside the journal: {line!r}")
        check(TIME_OF_DAY.search(lines[0]), f"no timestamp in {lines[0]!r}")


CASES = {
    "notify-path": lambda exe, tmp: notify_lifecycle(exe, tmp, abstract=False),
    "notify-abstract": lambda exe, tmp: notify_lifecycle(exe, tmp, abstract=True),
    "watchdog": watchdog_pings,
    "watchdog-other-pid": watchdog_other_pid,
    "activation-fork": activation_fork,
    "activation-wrong-pid": activation_wrong_pid,
    "activation-tool": activation_tool,
    "journal-format": journal_format,
    "plain-format": plain_format,
}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(CASES)}}} SOCKCHATD")
    with tempfile.TemporaryDirectory(prefix="sockchat-sd-") as tmp:
        CASES[sys.argv[1]](sys.argv[2], tmp)
    print("ok")


if __name__ == "__main__":
    main()
