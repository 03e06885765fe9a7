"""What bench/abuse (sockchatd) and bench/abuse-irc (ngircd, InspIRCd) share:
source addresses on 127.0.0.0/8, the /proc sampler, the phase runner that
puts a victim beside an attack, and the report.

One run of an attack has three phases: *before* (victim alone, attack
connections set up but quiet), *during* (the attack) and *after* (attack
connections closed, background clients still there).  The victim and the
attack each run in a child process of their own, so that neither the
attack's Python loop nor the sampler delays the victim's round trips; the
parent samples the server's /proc files every 100 ms and stops the attack
early when the server's RSS passes a cap (this machine is shared).
"""
import multiprocessing
import os
import selectors
import socket
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
SAMPLE_INTERVAL = 0.1
DRAIN_TIMEOUT = 2.0  # how long the victim waits for late answers at the end

# Source address blocks: 127.BLOCK.x.y.  The victim uses 127.0.0.1.
BLOCK_BACKGROUND = 1
BLOCK_ATTACK = 2
BLOCK_NEWCOMER = 3


def source_addr(block, i):
    """The i-th address of a block, 127.block.(i // 250).(i % 250 + 1)."""
    return f"127.{block}.{i // 250}.{i % 250 + 1}"


def connect_from(src, target, timeout=3.0):
    """A blocking TCP socket to `target` from address `src` (port chosen at
    connect time, so thousands of sources do not each reserve a port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((src, 0))
        s.settimeout(timeout)
        s.connect(target)
        return s
    except OSError:
        s.close()
        raise


def spread(block, count, per_addr):
    """Source addresses for `count` connections, `per_addr` on each, so that
    per-address limits (16 by default in sockchatd) do not hit them."""
    return [source_addr(block, i // per_addr) for i in range(count)]


class Tally(dict):
    """Counts by name: what the attack got back."""

    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n


# --- the server's /proc -----------------------------------------------------

def proc_sample(pid):
    """(monotonic time, VmRSS KiB, VmHWM KiB, utime+stime ticks), or None
    once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    # comm may hold spaces: the fields after it follow the last ')'.
    rest = stat[stat.rindex(")") + 2:].split()
    ticks = int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
    return time.monotonic(), fields.get("VmRSS", 0), fields.get("VmHWM", 0), ticks


def phase_server_stats(samples, t_from, t_to):
    """Peak RSS (MiB) and CPU % of one core between two instants."""
    inside = [s for s in samples if t_from <= s[0] <= t_to]
    if len(inside) < 2:
        return {"rss_peak_mib": None, "hwm_mib": None, "cpu_pct": None}
    first, last = inside[0], inside[-1]
    dt = last[0] - first[0]
    return {
        "rss_peak_mib": round(max(s[1] for s in inside) / 1024, 1),
        "hwm_mib": round(last[2] / 1024, 1),
        "cpu_pct": round(100.0 * (last[3] - first[3]) / CLK_TCK / dt, 1) if dt > 0 else None,
    }


# --- latency -----------------------------------------------------------------

def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def phase_victim_stats(probes, t_from, t_to):
    """probes: [(sent_at, rtt seconds or None)].  Round trips of the probes
    sent in [t_from, t_to): p50, p99, max in ms, answered/sent."""
    rtts, sent = [], 0
    for at, rtt in probes:
        if t_from <= at < t_to:
            sent += 1
            if rtt is not None:
                rtts.append(rtt * 1000)
    r = lambda x: None if x is None else round(x, 2)  # noqa: E731
    return {"sent": sent, "answered": len(rtts), "p50_ms": r(percentile(rtts, 50)),
            "p99_ms": r(percentile(rtts, 99)), "max_ms": r(max(rtts) if rtts else None)}


# --- the phase runner --------------------------------------------------------

def _child(target, conn, args):
    try:
        target(conn, *args)
    except Exception as e:  # report it to the parent instead of hanging it
        conn.send(("failed", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def _recv(conn, what, timeout):
    if not conn.poll(timeout):
        raise RuntimeError(f"{what}: no word within {timeout:.0f} s")
    msg = conn.recv()
    if msg[0] == "failed":
        raise RuntimeError(f"{what} failed: {msg[1]}")
    return msg


def run_attack(name, victim, victim_args, attack, attack_args, pid, phases, rss_cap_mib,
               kill_server=None):
    """Runs one attack beside a victim and returns its report.

    victim(conn, stop, *victim_args): connects, sends ("ready", info), probes
    until `stop` is set, then sends ("done", {"probes": [...], "disconnect":
    None or a description, ...}).
    attack(conn, go, stop, duration, victim_info, *attack_args): sets up,
    sends ("ready", None), waits for `go`, attacks for `duration` seconds or
    until `stop`, closes the attack connections, sends ("done", outcome),
    then waits for `finish` (sent through conn) before closing background
    clients and returning.
    phases: (before, during, after) in seconds.
    Past rss_cap_mib the attack is stopped; past 1.5 times that (a server
    still growing on requests it already read) kill_server(), when given,
    ends the server: this machine is shared."""
    ctx = multiprocessing.get_context("fork")
    before, during, after = phases
    stop_victim, go, stop_attack = ctx.Event(), ctx.Event(), ctx.Event()
    a_parent, a_child = ctx.Pipe()
    v_parent, v_child = ctx.Pipe()
    samples = []
    notes = []
    attacking, killed = [False], [False]
    setup_timeout = 120.0

    def sample():
        if pid is None:
            return
        s = proc_sample(pid)
        if s is None:
            if "server died" not in notes:
                notes.append("server died")
            return
        samples.append(s)
        if rss_cap_mib and s[1] > rss_cap_mib * 1024 and not stop_attack.is_set():
            notes.append(f"RSS passed the {rss_cap_mib} MiB cap"
                         + (": attack stopped early" if attacking[0] else " after the attack"))
            stop_attack.set()
        if rss_cap_mib and kill_server and s[1] > rss_cap_mib * 1536 and not killed[0]:
            notes.append(f"RSS passed {rss_cap_mib * 3 // 2} MiB: server killed")
            killed[0] = True
            kill_server()

    def wait_sampling(seconds, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sample()
            if until is not None and until.poll(0):
                return True
            time.sleep(SAMPLE_INTERVAL)
        return False

    procs = []
    try:
        # The victim connects first: the SEND flood needs its client id.
        # The attack's background clients (LIST's idle ones) then join
        # before the "before" phase starts, so their arrival is not measured.
        vp = ctx.Process(target=_child, args=(victim, v_child, (stop_victim,) + tuple(victim_args)))
        vp.start()
        procs.append(vp)
        _, victim_info = _recv(v_parent, "victim", setup_timeout)
        ap = ctx.Process(target=_child, args=(attack, a_child, (go, stop_attack, during, victim_info) + tuple(attack_args)))
        ap.start()
        procs.append(ap)
        _recv(a_parent, "attack set-up", setup_timeout)
        t0 = time.monotonic()
        wait_sampling(before)
        t1 = time.monotonic()
        go.set()
        attacking[0] = True
        # The attack reports once it has closed its connections.
        limit = during + 60.0
        while not wait_sampling(limit, until=a_parent):
            notes.append("attack did not end in time")
            stop_attack.set()
            limit = 30.0
        _, outcome = _recv(a_parent, "attack", 1)
        t2 = time.monotonic()
        attacking[0] = False
        wait_sampling(after)
        t3 = time.monotonic()
        stop_victim.set()
        _, vres = _recv(v_parent, "victim", DRAIN_TIMEOUT + 30)
        a_parent.send(("finish",))
        sample()
    finally:
        stop_victim.set()
        stop_attack.set()
        go.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
                p.join()
    report = {"attack": name, "phases": {}, "attacker": outcome, "notes": notes,
              "victim_disconnected": vres["disconnect"], "victim": vres.get("counts", {})}
    for phase, (a, b) in (("before", (t0, t1)), ("during", (t1, t2)), ("after", (t2, t3))):
        report["phases"][phase] = {**phase_victim_stats(vres["probes"], a, b),
                                   **phase_server_stats(samples, a, b)}
    report["phases"]["during"]["seconds"] = round(t2 - t1, 2)
    return report


# --- output ------------------------------------------------------------------

def _fmt(v, unit=""):
    return "-" if v is None else f"{v}{unit}"


def table(reports):
    """The reports as a plain-text table, one line per attack and phase."""
    head = ("attack", "phase", "victim p50", "p99", "max", "answered", "RSS peak", "CPU")
    rows = [head]
    for r in reports:
        for phase in ("before", "during", "after"):
            p = r["phases"][phase]
            rows.append((r["attack"] if phase == "before" else "", phase,
                         _fmt(p["p50_ms"], " ms"), _fmt(p["p99_ms"], " ms"), _fmt(p["max_ms"], " ms"),
                         f"{p['answered']}/{p['sent']}", _fmt(p["rss_peak_mib"], " MiB"),
                         _fmt(p["cpu_pct"], " %")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in reports:
        lines.append(f"{r['attack']}: victim {'DISCONNECTED: ' + r['victim_disconnected'] if r['victim_disconnected'] else 'stayed connected'}"
                     f"; victim read {summarise(r['victim'])}"
                     f"; attacker got {summarise(r['attacker'])}"
                     + "".join(f"; {n}" for n in r["notes"]))
    return "\n".join(lines)


def markdown(reports):
    """The reports as a Markdown table (bench/README.md), then one line per
    attack saying what the victim and the attacker got."""
    lines = ["| attack | phase | victim p50 | p99 | max | answered | server RSS peak | server CPU |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in reports:
        for phase in ("before", "during", "after"):
            p = r["phases"][phase]
            lines.append(f"| {r['attack'] if phase == 'before' else ''} | {phase} | {_fmt(p['p50_ms'], ' ms')} | "
                         f"{_fmt(p['p99_ms'], ' ms')} | {_fmt(p['max_ms'], ' ms')} | {p['answered']}/{p['sent']} | "
                         f"{_fmt(p['rss_peak_mib'], ' MiB')} | {_fmt(p['cpu_pct'], ' %')} |")
    lines.append("")
    for r in reports:
        lines.append(f"- **{r['attack']}**: victim "
                     + (f"**disconnected** ({r['victim_disconnected']})" if r["victim_disconnected"] else "stayed connected")
                     + f" and read {summarise(r['victim'])}; attacker got {summarise(r['attacker'])}" + "".join(f"; {n}" for n in r["notes"]) + ".")
    return "\n".join(lines)


def summarise(outcome):
    return ", ".join(f"{k} {v}" for k, v in outcome.items())


def machine():
    """What the figures were measured on."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "note": "server, victim and attackers share these CPUs"}


# --- non-blocking connections for the attacks ---------------------------------

class Conn:
    """A non-blocking socket in a Loop: an output buffer flushed as the
    kernel takes it, and a handler told about what arrives.

    handler.on_data(conn, data), handler.on_close(conn, why) and, when
    present, handler.on_writable(conn) (called whenever the output buffer
    runs dry, so a flooder can refill it).  reading=False never reads: the
    attacker that lets the server's answers pile up."""

    def __init__(self, loop, sock, handler, reading=True):
        sock.setblocking(False)
        self.loop, self.sock, self.handler = loop, sock, handler
        self.reading = reading
        self.out = bytearray()
        self.closed = False
        self.failing = False
        self.sent_bytes = 0
        self.recv_bytes = 0
        self.registered = 0
        loop.conns.add(self)
        self.update()

    def send(self, data):
        if self.failing:
            return
        self.out += data
        self.flush()

    def flush(self):
        while self.out and not self.closed:
            try:
                n = self.sock.send(self.out)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self.fail(f"send: {e.strerror}")
                return
            del self.out[:n]
            self.sent_bytes += n
        self.update()

    def wants_write(self):
        return bool(self.out) or hasattr(self.handler, "on_writable")

    def update(self):
        if self.closed:
            return
        ev = (selectors.EVENT_READ if self.reading else 0) | \
             (selectors.EVENT_WRITE if self.wants_write() else 0)
        if ev == self.registered:
            return
        if self.registered and ev:
            self.loop.sel.modify(self.sock, ev, self)
        elif ev:
            self.loop.sel.register(self.sock, ev, self)
        else:
            self.loop.sel.unregister(self.sock)
        self.registered = ev

    def readable(self):
        try:
            data = self.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.close(f"recv: {e.strerror}")
            return
        if not data:
            self.close("closed by the server")
            return
        self.recv_bytes += len(data)
        self.handler.on_data(self, data)

    def writable(self):
        if not self.out and hasattr(self.handler, "on_writable"):
            self.handler.on_writable(self)
        self.flush()

    def fail(self, why):
        """A send failed (the server reset the connection): read what it
        said before, often an ERROR indication naming the reason, then close."""
        if self.closed or self.failing:
            return
        self.failing = True
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    break
                self.handler.on_data(self, data)
        except OSError:
            pass
        self.close(why)

    def close(self, why=None):
        if self.closed:
            return
        if self.registered:
            self.loop.sel.unregister(self.sock)
            self.registered = 0
        self.closed = True
        self.sock.close()
        self.loop.conns.discard(self)
        if why is not None:
            self.handler.on_close(self, why)


class Loop:
    """One selector over many Conns."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.conns = set()

    def run(self, deadline, stop=None, tick=None, interval=0.01):
        """Serve the connections until `deadline` (monotonic) or `stop` (an
        Event) is set, calling tick() every `interval` seconds."""
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            for key, ev in self.sel.select(interval):
                conn = key.data
                if ev & 1 and not conn.closed:
                    conn.readable()
                if ev & 2 and not conn.closed:
                    conn.writable()
            if tick is not None:
                tick()

    def close_all(self):
        for c in list(self.conns):
            c.close()
        self.sel.close()


def read_sample(loop, conns, n, tally):
    """What the first n still-open flooders (which never read) got back:
    reads them for DRAIN_TIMEOUT seconds, their handlers tallying into a
    fresh Tally each, added to `tally` as "read by n: ..."; the others are
    closed unread (all of it could be gigabytes)."""
    sample = [c for c in conns if not c.closed][:n]
    for c in conns:
        if c not in sample:
            c.close()
    for c in sample:
        c.handler.tally = Tally()
        c.reading = True
        c.update()
    loop.run(time.monotonic() + DRAIN_TIMEOUT)
    tally.add(f"read by {len(sample)} in {DRAIN_TIMEOUT:.0f} s: KiB", sum(c.recv_bytes for c in sample) // 1024)
    for c in sample:
        for k, v in c.handler.tally.items():
            tally.add(f"read by {len(sample)}: {k}", v)


def attack_child(conn, go, stop, duration, setup, run):
    """The life of an attack process: setup() returns (background sockets,
    state); run(state, deadline, stop) attacks, closes its connections and
    returns the outcome.  Background sockets live until the parent's
    "finish" (the after phase is measured with them)."""
    background, state = setup()
    conn.send(("ready", None))
    go.wait()
    if stop.is_set():
        outcome = {"aborted": 1}
    else:
        outcome = run(state, time.monotonic() + duration, stop)
    conn.send(("done", outcome))
    try:
        conn.recv()
    except EOFError:
        pass
    for s in background:
        s.close()


class Victim:
    """The well-behaved client: a probe (a request with a cheap answer)
    every `interval` seconds, reading everything, or with read_rate at most
    read_rate bytes/s.  A protocol subclass provides connect() (blocking
    handshake: (socket, info for the attack)), greet() (what it sends once
    connected), probe(i) (the bytes of probe i), on_data() (calling
    answered(i, ok) and setting self.disconnect) and may override
    explain_disconnect()."""

    def __init__(self, target, read_rate, interval):
        self.target, self.read_rate, self.interval = target, read_rate, interval
        self.sent = {}  # probe id -> sent at
        self.probes = []  # (sent at, round trip or None)
        self.next_id = 1
        self.disconnect = None
        self.counts = Tally()

    def take_id(self):
        self.next_id += 1
        return self.next_id - 1

    def run(self, conn, stop):
        self.loop = Loop()
        sock, info = self.connect()
        self.conn = Conn(self.loop, sock, self)
        self.greet()
        conn.send(("ready", info))
        self.tokens, self.last_refill = 0.0, time.monotonic()
        next_probe = time.monotonic()
        while not stop.is_set() and not self.conn.closed:
            now = time.monotonic()
            if now >= next_probe:
                i = self.take_id()
                self.sent[i] = now
                self.conn.send(self.probe(i))
                next_probe += self.interval
            self.loop.run(min(next_probe, now + 0.01), tick=self.refill)
        # Late answers still count, for a bounded time.
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.sent and not self.conn.closed and time.monotonic() < deadline:
            self.loop.run(min(deadline, time.monotonic() + 0.01), tick=self.refill)
        self.probes += [(at, None) for at in self.sent.values()]
        if self.conn.closed:
            self.explain_disconnect()
        self.loop.close_all()
        conn.send(("done", {"probes": self.probes, "disconnect": self.disconnect,
                            "counts": dict(self.counts)}))

    def answered(self, i, ok):
        at = self.sent.pop(i, None)
        if at is not None:
            self.probes.append((at, time.monotonic() - at if ok else None))

    def explain_disconnect(self):
        pass

    def refill(self):
        """The slow reader's token bucket: pause reading when it is empty."""
        if not self.read_rate or self.conn.closed:
            return
        now = time.monotonic()
        self.tokens = min(self.read_rate * 0.1, self.tokens + (now - self.last_refill) * self.read_rate)
        self.last_refill = now
        want = self.tokens >= 1024
        if want != self.conn.reading:
            self.conn.reading = want
            self.conn.update()

    def account(self, data):
        """Called by on_data first: counts the bytes against the budget."""
        self.counts.add("bytes", len(data))
        if self.read_rate:
            self.tokens -= len(data)
            self.refill()

    def on_close(self, conn, why):
        if self.disconnect is None:
            self.disconnect = why
