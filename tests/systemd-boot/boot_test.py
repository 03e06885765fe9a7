#!/usr/bin/env python3
"""The Debian packages under a real systemd.

A container boots systemd as its PID 1 from an overlay of this machine's
own root (systemd-nspawn, private network), the built .debs are installed
into it, and these are checked against that systemd, in order:

  install      the socket is enabled and listening, the service is not
               started until a client connects through it (socket activation)
  status       `systemctl status` shows the server's notify STATUS= line
  reload       `systemctl reload` keeps the server and its client
  restart      a connected client gets SHUTDOWN and can reconnect
  journal      journald stores the server's lines with the priority mapped
               from the spdlog level (a warning at 4, an info line at 6)
  hardening    a dynamic user, no writes outside the private /tmp, and
               `systemd-analyze security` scores the live unit as offline
  watchdog     a SIGSTOPped server is killed and restarted by systemd
  stop         `systemctl stop` exits 0 within 2 s
  upgrade      installing a newer version restarts a running server: its
               client gets SHUTDOWN with a reason and reconnects
  purge        `apt-get purge` leaves no unit enabled, no file, no listener

Never boots systemd in namespaces that share this machine's files (its
tmpfiles setup would empty the host's /tmp): the container's root is an
overlay whose writes land in a scratch directory, removed at the end with
the container stopped and the overlay unmounted, whatever happened.

usage: boot_test.py DEB_DIR      (root only; exits 77 when it cannot run)
       boot_test.py --installed  the checks from activation to stop against
                                 the packages installed on this machine and
                                 its running systemd (debian/tests/control)
"""
import glob
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from sccheck import Failure, check, skip  # noqa: E402

CLIENT = os.path.join(HERE, "client.py")
PACKAGES = ("sockchatd", "sockchat", "sockchat-wireshark")
WATCHDOG_SEC = 30   # sockchatd.service
RESTART_SEC = 2
MARGIN = 30         # generous: a busy 2-core machine


def log(msg):
    print(msg, flush=True)


class Container:
    """systemd-nspawn -b over an overlay of / in a scratch directory."""

    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="sockchat-boot-", dir="/var/tmp")
        self.upper, self.work, self.root = (os.path.join(self.scratch, d) for d in ("U", "W", "M"))
        for d in (self.upper, self.work, self.root):
            os.mkdir(d)
        self.name = f"sockchat-boot-{os.getpid()}"
        self.nspawn = None
        self.pid1 = None
        self.console = open(os.path.join(self.scratch, "console.log"), "w+b")

    def start(self):
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir=/,upperdir={self.upper},workdir={self.work}", self.root], check=True)
        # This image's Docker-style policy-rc.d forbids packages to start
        # services; removed inside the overlay only (a whiteout in U).
        rc_policy = os.path.join(self.root, "usr/sbin/policy-rc.d")
        if os.path.lexists(rc_policy):
            os.remove(rc_policy)
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-D", self.root, "--private-network", "--register=no",
             "--keep-unit", "-M", self.name, "--console=pipe", "-b"],
            stdin=subprocess.DEVNULL, stdout=self.console, stderr=subprocess.STDOUT)
        self.pid1 = self._find_init(60)
        # Until systemd's bus is up, systemctl cannot even ask.  Generous:
        # the whole machine boots, on a busy 2-core host.
        r = wait_for("the container's systemd bus", lambda: (lambda r: r if r.stdout.strip() else None)(
            self.run(["systemctl", "is-system-running", "--wait"], timeout=300)), 300)
        log(f"container booted: {r.stdout.strip()}")
        check(r.stdout.strip() in ("running", "degraded"), f"container did not boot: {r.stdout}{r.stderr}")
        if r.stdout.strip() == "degraded":
            log(self.run(["systemctl", "--failed", "--no-legend"]).stdout)

    def _find_init(self, timeout):
        """The container's systemd: nspawn's child or grandchild (depending
        on the systemd version and console mode)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            check(self.nspawn.poll() is None, f"systemd-nspawn exited: {self.console_text()}")
            for child in children(self.nspawn.pid):
                for pid in (child, *children(child)):
                    if read(f"/proc/{pid}/comm").strip() == "systemd":
                        return pid
            time.sleep(0.2)
        raise Failure("the container's systemd did not appear")

    def console_text(self):
        self.console.seek(0)
        return self.console.read().decode(errors="replace")[-3000:]

    def cmd(self, argv):
        return ["nsenter", "-t", str(self.pid1), "-a", "--", *argv]

    def run(self, argv, timeout=120, check_rc=False):
        r = subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout, check=False,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
                                "DEBIAN_FRONTEND": "noninteractive", "SYSTEMD_PAGER": "",
                                "SYSTEMD_COLORS": "0"})
        if check_rc and r.returncode != 0:
            raise Failure(f"{' '.join(argv)}: exit {r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))

    def stop(self):
        if self.nspawn is not None and self.nspawn.poll() is None:
            # SIGTERM asks nspawn to shut the container down cleanly.
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(60)
            except subprocess.TimeoutExpired:
                self.nspawn.kill()
                self.nspawn.wait()
        if os.path.ismount(self.root):
            if subprocess.run(["umount", self.root], check=False).returncode != 0:
                subprocess.run(["umount", "-l", self.root], check=False)
        self.console.close()
        if not os.path.ismount(self.root):
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            print(f"warning: {self.root} still mounted, {self.scratch} left behind", file=sys.stderr)


class Host:
    """This machine's own systemd, for --installed (autopkgtest)."""

    def cmd(self, argv):
        return list(argv)

    run = Container.run

    def path(self, inside):
        return inside


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class HeldClient:
    """client.py hold inside the container; its lines arrive in a queue."""

    def __init__(self, box):
        # Its stdin is how close() stops it: killing nsenter would leave
        # the client inside the container running.
        self.proc = subprocess.Popen(box.cmd(["python3", CLIENT, "hold"]), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read)
        self.reader.start()
        self.expect(r"hello \d+", "HELLO")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, pattern, what, timeout=30):
        """The first line matching pattern; fails on end of output or time."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise Failure(f"client: no {what} within {timeout} s") from None
            if line is None:
                raise Failure(f"client: ended before {what}")
            if re.fullmatch(pattern, line):
                return line
            if not line.startswith("pong"):
                log(f"client: {line}")
            if time.monotonic() > deadline:
                raise Failure(f"client: no {what} within {timeout} s")

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(30)


def show(box, unit, prop):
    return box.run(["systemctl", "show", "-P", prop, unit]).stdout.strip()


def journal(box, priorities):
    """The server's own journal entries (not systemd's about it) at the
    given priorities, as dicts."""
    out = box.run(["journalctl", "-u", "sockchatd", "-p", priorities, "-o", "json", "--no-pager",
                   "_COMM=sockchatd"]).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def main_pid(box):
    return int(show(box, "sockchatd.service", "MainPID") or 0)


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise Failure(f"{what}: not within {timeout} s")


def hello(box):
    r = box.run(["python3", CLIENT, "hello"], timeout=60)
    return r.stdout.strip() + r.stderr.strip()


# ---- the checks -------------------------------------------------------------

def install(box, debs):
    r = box.run(["apt-get", "install", "-y", *debs], timeout=300)
    check(r.returncode == 0, f"apt-get install: exit {r.returncode}\n{r.stdout}{r.stderr}")
    for unit, enabled, active in (("sockchatd.socket", "enabled", "active"),
                                  ("sockchatd.service", "disabled", "inactive")):
        got = (box.run(["systemctl", "is-enabled", unit]).stdout.strip(),
               box.run(["systemctl", "is-active", unit]).stdout.strip())
        check(got == (enabled, active), f"{unit} after install: {got}, want {(enabled, active)}")
    log("ok install: sockchatd.socket enabled and listening, sockchatd.service not started")


def activation_and_status(box):
    client = HeldClient(box)
    check(box.run(["systemctl", "is-active", "sockchatd.service"]).stdout.strip() == "active",
          "the service is not active after a connection to the socket")
    status = wait_for("STATUS= in systemctl status", lambda: re.search(
        r'Status: "Listening on [^"]*; 1 client"',
        box.run(["systemctl", "status", "--no-pager", "sockchatd.service"]).stdout), 15)
    log(f"ok activation: a client got HELLO through the socket; {status.group(0)}")
    return client


def reload(box, client):
    before = main_pid(box)
    box.run(["systemctl", "reload", "sockchatd.service"], check_rc=True)
    wait_for("the SIGHUP log line", lambda: "received SIGHUP" in box.run(
        ["journalctl", "-u", "sockchatd", "-o", "cat", "--no-pager"]).stdout, 15)
    # Still the same server, still answering the same connection.
    line = client.expect(r"pong \d+|shutdown .*|closed", "a PING answer after reload")
    check(line.startswith("pong"), f"client after reload: {line}")
    check(main_pid(box) == before, f"reload changed the server: pid {before} -> {main_pid(box)}")
    log("ok reload: same server process, the client still gets answers")


def restart(box, client):
    before = main_pid(box)
    box.run(["systemctl", "restart", "sockchatd.service"], check_rc=True)
    line = client.expect(r"shutdown .+|closed", "SHUTDOWN on restart")
    check(line.startswith("shutdown "), f"client on restart: {line}")
    client.close()
    again = hello(box)
    check(again.startswith("hello "), f"reconnect after restart: {again}")
    check(main_pid(box) not in (0, before), "restart kept the old server process")
    log(f"ok restart: client got '{line}', reconnected ({again})")


def journal_priorities(box):
    # One client at most, so that a second one is turned away, which the
    # server logs at warn level.
    conffile = box.path("/etc/default/sockchatd")
    original = read(conffile)
    write(conffile, 'SOCKCHATD_OPTS="--max-clients 1"\n')
    try:
        check_priorities(box)
    finally:
        write(conffile, original)
    box.run(["systemctl", "restart", "sockchatd.service"], check_rc=True)
    log("ok journal: 'turned away' at priority 4 (warning), 'connected from' at 6 (info)")


def check_priorities(box):
    box.run(["systemctl", "restart", "sockchatd.service"], check_rc=True)
    first = HeldClient(box)
    second = hello(box)
    check(second.startswith("error "), f"second client with --max-clients 1: {second}")
    first.close()
    # journald stores the lines a moment after the server wrote them.
    def turned_away():
        entries = journal(box, "warning")
        hit = any(e.get("PRIORITY") == "4" and "turned away" in e.get("MESSAGE", "") for e in entries)
        return entries if hit else None
    warnings = wait_for("a 'turned away' line at priority 4 in journalctl -p warning", turned_away, 15)
    check(not any("connected from" in e.get("MESSAGE", "") for e in warnings),
          "an info line is in journalctl -p warning")
    infos = journal(box, "info..info")
    check(any(e.get("PRIORITY") == "6" and "connected from" in e.get("MESSAGE", "") for e in infos),
          "no 'connected from' line at priority 6")
    check(not any(re.match(r"<\d>", e.get("MESSAGE", "")) for e in warnings + infos),
          "a syslog priority prefix was left in a message")


def hardening(box):
    client = HeldClient(box)
    pid = main_pid(box)
    user = box.run(["ps", "-o", "user=", "-p", str(pid)]).stdout.strip()
    uid = int(box.run(["ps", "-o", "uid=", "-p", str(pid)]).stdout.strip())
    gid = int(box.run(["ps", "-o", "gid=", "-p", str(pid)]).stdout.strip())
    check(user == "sockchatd" and 61184 <= uid <= 65519,
          f"the server runs as {user} ({uid}), not as the dynamic user sockchatd")
    # Inside the server's own namespaces, with its ids: where can it write?
    # (PrivateUsers= maps the dynamic ids to themselves in its namespace.)
    inside = ["nsenter", "-t", str(pid), "-a", "-S", str(uid), "-G", str(gid), "--"]
    for path in ("/etc/sockchat-probe", "/var/lib/sockchat-probe", "/root/sockchat-probe",
                 "/home/sockchat-probe", "/usr/sockchat-probe", "/run/sockchat-probe"):
        r = box.run([*inside, "sh", "-c", f": > {path}"])
        check(r.returncode != 0, f"the service could write {path}")
    # PrivateTmp=: its /tmp and /var/tmp are writable and its own.
    for path in ("/tmp/sockchat-probe", "/var/tmp/sockchat-probe"):
        r = box.run([*inside, "sh", "-c", f": > {path}"])
        check(r.returncode == 0, f"the probe could not write the private {path}: {r.stderr}")
        check(not os.path.exists(box.path(path)), f"{path} is not private to the service")
    client.close()
    live = box.run(["systemd-analyze", "security", "--no-pager", "sockchatd.service"]).stdout
    offline = box.run(["systemd-analyze", "security", "--no-pager", "--offline=yes",
                       "/lib/systemd/system/sockchatd.service"]).stdout
    score = r"Overall exposure level for sockchatd\.service: ([0-9.]+)"
    m_live, m_off = re.search(score, live), re.search(score, offline)
    check(m_live and m_off, f"no exposure level:\n{live}\n{offline}")
    check(m_live.group(1) == m_off.group(1), f"exposure live {m_live.group(1)} != offline {m_off.group(1)}")
    log(f"ok hardening: runs as {user} ({uid}), writes only its private /tmp and /var/tmp, "
        f"exposure {m_live.group(1)} live and offline")


def watchdog(box):
    client = HeldClient(box)
    before = main_pid(box)
    box.run(["kill", "-STOP", str(before)], check_rc=True)
    started = time.monotonic()
    limit = WATCHDOG_SEC + RESTART_SEC + MARGIN
    wait_for("a restart after the watchdog fired", lambda: main_pid(box) not in (0, before)
             and box.run(["systemctl", "is-active", "sockchatd.service"]).stdout.strip() == "active", limit)
    took = time.monotonic() - started
    journal = box.run(["journalctl", "-u", "sockchatd", "--no-pager", "-o", "cat"]).stdout
    check("Watchdog timeout" in journal, "no 'Watchdog timeout' from systemd in the journal")
    client.close()
    again = hello(box)
    check(again.startswith("hello "), f"connect after the watchdog restart: {again}")
    log(f"ok watchdog: frozen server killed and restarted after {took:.0f} s "
        f"(WatchdogSec={WATCHDOG_SEC}, limit {limit} s)")


def stop(box):
    HeldClient(box).close()
    started = time.monotonic()
    r = box.run(["systemctl", "stop", "sockchatd.service"])
    took = time.monotonic() - started
    check(r.returncode == 0, f"systemctl stop: exit {r.returncode} {r.stderr}")
    check(took < 2.0, f"systemctl stop took {took:.1f} s")
    result = show(box, "sockchatd.service", "Result")
    check(result == "success", f"the service stopped with result {result}")
    log(f"ok stop: exit 0 in {took:.2f} s, result {result}")


def repack(deb, version, out_dir):
    """deb with its Version: replaced, written into out_dir."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tree:
        subprocess.run(["dpkg-deb", "-R", deb, tree], check=True)
        control = os.path.join(tree, "DEBIAN", "control")
        text = re.sub(r"^Version: .*$", f"Version: {version}", read(control), flags=re.M)
        write(control, text)
        out = os.path.join(out_dir, f"sockchatd_{version}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", tree, out], check=True,
                       stdout=subprocess.DEVNULL)
        return out


def upgrade(box, deb_dir_inside):
    old = box.run(["dpkg-query", "-W", "-f", "${Version}", "sockchatd"]).stdout.strip()
    new = old + "+boottest1"
    repack(glob.glob(box.path(deb_dir_inside) + "/sockchatd_*.deb")[0], new, box.path(deb_dir_inside + "/new"))
    client = HeldClient(box)
    before = main_pid(box)
    r = box.run(["apt-get", "install", "-y", f"{deb_dir_inside}/new/sockchatd_{new}.deb"],
                timeout=300)
    check(r.returncode == 0, f"upgrade: exit {r.returncode}\n{r.stdout}{r.stderr}")
    line = client.expect(r"shutdown .+|closed", "SHUTDOWN on upgrade")
    check(line.startswith("shutdown "), f"client on upgrade: {line}")
    client.close()
    check(box.run(["dpkg-query", "-W", "-f", "${Version}", "sockchatd"]).stdout.strip() == new, "version not upgraded")
    check(box.run(["systemctl", "is-active", "sockchatd.service"]).stdout.strip() == "active",
          "the server is not running after the upgrade")
    check(main_pid(box) not in (0, before), "the upgrade did not restart the server")
    again = hello(box)
    check(again.startswith("hello "), f"reconnect after upgrade: {again}")
    log(f"ok upgrade: {old} -> {new} restarted the server; client got '{line}', reconnected")


def purge(box):
    files = []
    for p in PACKAGES:
        listed = box.run(["dpkg-query", "-L", p]).stdout.split("\n")
        files += [f for f in listed if f and os.path.isfile(box.path(f))]
    check("/etc/default/sockchatd" in files, "/etc/default/sockchatd is not in the package")
    HeldClient(box).close()
    r = box.run(["apt-get", "purge", "-y", *PACKAGES], timeout=300)
    check(r.returncode == 0, f"apt-get purge: exit {r.returncode}\n{r.stdout}{r.stderr}")
    left = [f for f in files if os.path.lexists(box.path(f))]
    check(not left, f"left after purge: {left}")
    leftovers = glob.glob(box.path("/etc/systemd/system/**/sockchatd*"), recursive=True) + \
        glob.glob(box.path("/var/lib/systemd/deb-systemd-helper-*/**/sockchatd*"), recursive=True)
    check(not leftovers, f"unit state left after purge: {leftovers}")
    for unit in ("sockchatd.socket", "sockchatd.service"):
        state = box.run(["systemctl", "is-active", unit]).stdout.strip()
        check(state in ("inactive", "unknown"), f"{unit} is {state} after purge")
    check(box.run(["pgrep", "-x", "sockchatd"]).returncode == 1, "a sockchatd process is left")
    gone = hello(box)
    check("refused" in gone.lower(), f"port 2555 still answers after purge: {gone[-200:]}")
    log(f"ok purge: {len(files)} files, the units' enablement and the listener are gone")


def diagnose(box):
    """What systemd says about the units, for a failure's log."""
    if isinstance(box, Container) and box.pid1 is None:
        print(f"--- container console (tail):\n{box.console_text()}", file=sys.stderr)
        return
    for argv in (["systemctl", "status", "--no-pager", "-n", "0", "sockchatd.socket", "sockchatd.service"],
                 ["journalctl", "-u", "sockchatd.service", "-u", "sockchatd.socket", "-n", "40", "--no-pager"]):
        try:
            r = box.run(argv, timeout=30)
            print(f"--- {' '.join(argv)}\n{r.stdout}{r.stderr}", file=sys.stderr)
        except subprocess.SubprocessError as e:
            print(f"--- {' '.join(argv)}: {e}", file=sys.stderr)


def smoke(box):
    """The checks that need no package operation, against box's systemd."""
    if not os.path.isdir("/run/systemd/system"):
        skip("systemd is not running here")
    try:
        box.run(["systemctl", "stop", "sockchatd.service"], check_rc=True)
        service_checks(box)
    except (Failure, subprocess.SubprocessError, OSError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        diagnose(box)
        return 1
    log("ok")
    return 0


def service_checks(box):
    """From the first connection to stop: no package operation."""
    client = activation_and_status(box)
    reload(box, client)
    restart(box, client)
    journal_priorities(box)
    hardening(box)
    watchdog(box)
    stop(box)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    if os.geteuid() != 0:
        skip("needs root (overlay mount and systemd-nspawn, or changing the installed service)")
    if sys.argv[1] == "--installed":
        return smoke(Host())
    deb_dir = os.path.abspath(sys.argv[1])
    for tool in ("systemd-nspawn", "nsenter", "dpkg-deb"):
        if not shutil.which(tool):
            skip(f"{tool} not installed")
    debs = {p: sorted(glob.glob(os.path.join(deb_dir, f"{p}_*.deb"))) for p in PACKAGES}
    if not all(debs.values()):
        skip(f"the .deb packages are not built in {deb_dir} yet (scripts/deb builds them)")

    # meson stops a test that runs too long with SIGTERM: clean up then too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated"))
    box = Container()
    try:
        box.start()
        inside = "/root/sockchat-debs"
        os.makedirs(box.path(inside + "/new"))
        names = []
        for p in PACKAGES:
            shutil.copy(debs[p][-1], box.path(inside))
            names.append(f"{inside}/{os.path.basename(debs[p][-1])}")
        install(box, names)
        service_checks(box)
        upgrade(box, inside)
        purge(box)
    except (Failure, subprocess.SubprocessError, OSError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        diagnose(box)
        return 1
    finally:
        box.stop()
    log("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
