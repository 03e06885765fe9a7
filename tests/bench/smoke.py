#!/usr/bin/env python3
"""Smoke runs of sockchat-bench against a real sockchatd on a free loopback
port: each mode for a second or so, checking correctness (exit status 0, no
error of any kind in the --json output), not speed.

    smoke.py CASE SOCKCHAT_BENCH SOCKCHATD
    smoke.py abuse-quick BENCH/ABUSE SOCKCHATD

Cases: time, time-pipelined, send, connect, tls (every mode with --tls
against the server's TLS listener, a self-signed certificate made with the
openssl command), send-detects-errors (a server
that rate-limits SENDs: the bench must notice the RATE_LIMITED answers and
exit 1), no-server (nothing listening: exit 3), cluster (two
sockchatd --cluster nodes and a redis-server the script starts on a unix
socket; --host lists both: time, send across nodes and on the same node,
connect with LIST on the first node; exit 77 without redis-server); abuse-quick runs
bench/abuse --quick instead, which must report figures for every phase and
keep its victim connected.

Every wait is bounded; the server is stopped in a `finally` block.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import check, fail, skip  # noqa: E402
from sccerts import self_signed  # noqa: E402
from scredis import Redis  # noqa: E402
from scserver import Server, StartError, wait_for_port  # noqa: E402

BENCH_TIMEOUT = 120.0


def run_bench(bench, port, pid, args):
    return run_json([bench, "--host", "127.0.0.1", "--port", str(port), "--server-pid", str(pid),
                     "--json"] + args)


def run_json(cmd):
    """Runs cmd (which prints one JSON object); (exit status, the object)."""
    print("+", " ".join(cmd))
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        fail(f"{' '.join(cmd)} did not finish within {BENCH_TIMEOUT} s")
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    try:
        result = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        fail(f"--json output is not JSON ({e}): {r.stdout!r}")
    return r.returncode, result


def check_clean(rc, result):
    check(rc == 0, f"exit status {rc}, expected 0")
    check("setup_error" not in result, f"setup error: {result.get('setup_error')}")
    check(result["errors"]["total"] == 0, f"errors: {result['errors']}")


def check_load(rc, result, clients, depth):
    check_clean(rc, result)
    check(result["clients"] == clients and result["depth"] == depth, "options not echoed")
    check(result["completed"] > 0, "nothing completed")
    check(result["latency_us"]["count"] >= result["completed"], "latency not recorded per answer")
    check(result["server"]["after"]["threads"] >= 1, "server figures missing")


def case_time(bench, server, depth):
    rc, r = run_bench(bench, server.port, server.proc.pid,
                      ["--threads", "2", "time", "-c", "8", "-P", str(depth), "-d", "1"])
    check_load(rc, r, 8, depth)


def case_send(bench, server):
    rc, r = run_bench(bench, server.port, server.proc.pid,
                      ["send", "-c", "4", "-P", "4", "-d", "1", "-s", "100"])
    check_load(rc, r, 4, 4)
    check(r["bytes"] == 100, "message size not echoed")


def case_connect(bench, server):
    rc, r = run_bench(bench, server.port, server.proc.pid,
                      ["--threads", "2", "connect", "-n", "200", "-l", "5"])
    check_clean(rc, r)
    check(r["connections"] == 200, f"connections: {r['connections']}")
    check(r["list_latency_us"]["count"] == 5, "not every LIST was answered")
    s = r["server"]
    check(s["connected"]["threads"] >= s["baseline"]["threads"] + 200,
          f"server threads with 200 clients: {s['connected']['threads']}")
    check(s["released"], f"server did not return to its baseline: {s}")


def case_tls(bench, server, tls_port):
    """Every mode over TLS: the same checks as in plaintext."""
    def run(args):
        return run_bench(bench, tls_port, server.proc.pid, ["--tls"] + args)
    rc, r = run(["--threads", "2", "time", "-c", "8", "-P", "1", "-d", "1"])
    check_load(rc, r, 8, 1)
    rc, r = run(["time", "-c", "4", "-P", "16", "-d", "1"])
    check_load(rc, r, 4, 16)
    rc, r = run(["send", "-c", "4", "-P", "4", "-d", "1", "-s", "3000"])
    check_load(rc, r, 4, 4)
    rc, r = run(["connect", "-n", "50", "-l", "3"])
    check_clean(rc, r)
    check(r["connections"] == 50 and r["list_latency_us"]["count"] == 3, f"connect over TLS: {r}")


def case_send_detects_errors(bench, server):
    rc, r = run_bench(bench, server.port, server.proc.pid,
                      ["send", "-c", "1", "-P", "8", "-d", "1"])
    check(rc == 1, f"exit status {rc}, expected 1 (RATE_LIMITED answers are errors)")
    check(r["errors"]["wrong"] > 0, f"RATE_LIMITED answers not counted: {r['errors']}")


def case_no_server(bench):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    r = subprocess.run([bench, "--port", str(port), "time", "-d", "1"], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=BENCH_TIMEOUT)
    check(r.returncode == 3, f"exit status {r.returncode} with no server, expected 3")
    check("connect" in r.stderr, f"no reason given: {r.stderr!r}")


def case_cluster(bench, sockchatd, extra):
    """Two nodes through a real Redis: the connections are spread over both
    (each node's server figures show its share) and, in send mode, pairs
    cross nodes unless --same-node; every answer is checked as always."""
    if shutil.which("redis-server") is None:
        skip("redis-server is not installed (Debian package redis-server)")
    directory = tempfile.mkdtemp(prefix="sockchat-bench-cluster-")
    redis = Redis(directory)
    nodes = []
    try:
        for n in (1, 2):
            nodes.append(Server(sockchatd, "--log-level", "warn", "--cluster", "unix:" + redis.sock,
                                "--node-id", str(n), *extra))
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in nodes)
        run_cluster_modes(bench, hosts, nodes[1].proc.pid)
    finally:
        statuses = [n.stop() for n in nodes]
        redis.kill()
        shutil.rmtree(directory, ignore_errors=True)
    for n, status in zip(nodes, statuses):
        check(status == 0, f"node exit status {status}; log:\n{n.read_log()}")


def run_cluster_modes(bench, hosts, second_pid):
    def run(args):
        return run_json([bench, "--host", hosts, "--json"] + args)
    rc, r = run(["--threads", "2", "time", "-c", "8", "-P", "4", "-d", "1"])
    check_clean(rc, r)
    check(r["nodes"] == 2 and r["completed"] > 0, f"time over two nodes: {r}")
    for same in (False, True):
        rc, r = run((["--same-node"] if same else []) + ["send", "-c", "4", "-P", "4", "-d", "1"])
        check_clean(rc, r)
        check(r["nodes"] == 2 and r["same_node"] == same, f"send options not echoed: {r}")
        check(r["completed"] > 0, f"no message delivered (same node: {same})")
    # The second node's figures: half of the connections (a thread each) are
    # its; the bound is generous because its baseline may still count the
    # bench's probe connection, closed just before.
    rc, r = run(["--server-pid", str(second_pid), "connect", "-n", "100", "-l", "3"])
    check_clean(rc, r)
    check(r["connections"] == 100 and r["list_latency_us"]["count"] == 3,
          f"LIST on the first node did not show the clients of both: {r}")
    s = r["server"]
    check(s["connected"]["threads"] >= s["baseline"]["threads"] + 40,
          f"the second node did not get its half of the connections: {s}")


def case_abuse_quick(abuse, sockchatd):
    """bench/abuse --quick (issue 11): the connect churn attack for about a
    second per phase, beside the victim, against a sockchatd it starts."""
    rc, r = run_json([sys.executable, abuse, "--quick", "--json", "--sockchatd", sockchatd])
    check(rc == 0, f"exit status {rc}, expected 0")
    check([x["attack"] for x in r["reports"]] == ["churn"], "not the churn attack alone")
    rep = r["reports"][0]
    check(rep["victim_disconnected"] is None, f"victim disconnected: {rep['victim_disconnected']}")
    for name in ("before", "during", "after"):
        p = rep["phases"][name]
        check(p["sent"] >= 5, f"{name}: only {p['sent']} TIME probes sent in about a second")
        check(p["answered"] == p["sent"], f"{name}: {p['answered']} of {p['sent']} TIME probes answered")
        check(0 < p["p50_ms"] <= p["p99_ms"] <= p["max_ms"], f"{name}: latency figures {p}")
        check(p["rss_peak_mib"] and p["rss_peak_mib"] > 0, f"{name}: no server RSS: {p}")
        check(p["cpu_pct"] is not None and p["cpu_pct"] >= 0, f"{name}: no server CPU: {p}")
    check(rep["phases"]["during"]["cpu_pct"] > 0, "the server used no CPU during the churn")
    check(rep["attacker"].get("connects/s", 0) > 0, f"the attack did not run: {rep['attacker']}")


def main():
    if len(sys.argv) != 4:
        fail("usage: smoke.py CASE SOCKCHAT_BENCH SOCKCHATD")
    case, bench, sockchatd = sys.argv[1:]
    if case == "abuse-quick":  # bench is bench/abuse, which starts its own server
        case_abuse_quick(bench, sockchatd)
        print("ok")
        return
    if case == "no-server":
        case_no_server(bench)
        print("ok")
        return
    # Unlimited SENDs except where the rate limit is the point.
    # A benchmark measures the server, not its abuse limits: they are lifted
    # as for bench/compare-redis (Redis has none by default either).
    extra = ["--max-send-rate", "1" if case == "send-detects-errors" else "0",
             "--max-request-rate", "0", "--max-clients-per-ip", "0", "--max-connect-rate", "0"]
    certs = tempfile.TemporaryDirectory(prefix="sockchat-bench-tls-")
    if case == "tls":
        self_signed(certs.name, "bench")
        extra += ["--tls-cert", os.path.join(certs.name, "bench.pem"), "--tls-key",
                  os.path.join(certs.name, "bench.key"), "--tls-port", "0",
                  "--tls-port-file", os.path.join(certs.name, "tls-port")]
    if case == "cluster":
        case_cluster(bench, sockchatd, extra)
        print("ok")
        return
    try:
        server = Server(sockchatd, "--log-level", "warn", *extra)
    except StartError as e:
        fail(f"sockchatd did not start: {e}")
    try:
        if case == "time":
            case_time(bench, server, 1)
        elif case == "time-pipelined":
            case_time(bench, server, 16)
        elif case == "send":
            case_send(bench, server)
        elif case == "connect":
            case_connect(bench, server)
        elif case == "tls":
            case_tls(bench, server, wait_for_port(os.path.join(certs.name, "tls-port"), server.proc.poll))
        elif case == "send-detects-errors":
            case_send_detects_errors(bench, server)
        else:
            fail(f"unknown case {case}")
    finally:
        status = server.stop()
        certs.cleanup()
        if status != 0:
            print(server.read_log(), file=sys.stderr)
    check(status == 0, f"sockchatd exit status {status}")
    print("ok")


if __name__ == "__main__":
    main()
