#!/usr/bin/env python3
"""Smoke run of bench/abuse against a real sockchatd: --quick (the connect
churn attack, about a second per phase) must finish, report figures for
every phase, and leave the victim connected.

    abuse_smoke.py ABUSE SOCKCHATD
"""
import json
import subprocess
import sys

TIMEOUT = 120.0


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def main():
    if len(sys.argv) != 3:
        fail("usage: abuse_smoke.py ABUSE SOCKCHATD")
    abuse, sockchatd = sys.argv[1:]
    cmd = [sys.executable, abuse, "--quick", "--json", "--sockchatd", sockchatd]
    print("+", " ".join(cmd))
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        fail(f"bench/abuse did not finish within {TIMEOUT:.0f} s")
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    try:
        result = json.loads(r.stdout)
    except json.JSONDecodeError as e:
        fail(f"--json output is not JSON ({e})")
    check(r.returncode == 0, f"exit status {r.returncode}, expected 0")
    reports = result["reports"]
    check([x["attack"] for x in reports] == ["churn"], f"attacks run: {[x['attack'] for x in reports]}")
    rep = reports[0]
    check(rep["victim_disconnected"] is None, f"victim disconnected: {rep['victim_disconnected']}")
    for name in ("before", "during", "after"):
        p = rep["phases"][name]
        check(p["sent"] >= 5, f"{name}: only {p['sent']} TIME probes sent in about a second")
        check(p["answered"] == p["sent"], f"{name}: {p['answered']} of {p['sent']} TIME probes answered")
        check(0 < p["p50_ms"] <= p["p99_ms"] <= p["max_ms"], f"{name}: latency figures {p}")
        check(p["rss_peak_mib"] and p["rss_peak_mib"] > 0, f"{name}: no server RSS: {p}")
        check(p["cpu_pct"] is not None and p["cpu_pct"] >= 0, f"{name}: no server CPU: {p}")
    check(rep["phases"]["during"]["cpu_pct"] > 0, "the server used no CPU during the churn")
    attacker = rep["attacker"]
    check(attacker.get("connects/s", 0) > 0, f"the attack did not run: {attacker}")
    print("ok")


if __name__ == "__main__":
    main()
