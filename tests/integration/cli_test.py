#!/usr/bin/env python3
"""sockchatd's command line: usage errors exit 2 with one line naming the
option and a hint, a port in use or an unusable certificate or accounts
file exits 1 with a clear message, and the edge values of --max-payload are
accepted or refused exactly.  Loopback only."""
import os
import socket
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccerts import OPENSSL_MISSING, have_openssl  # noqa: E402
from sccheck import Tally  # noqa: E402
from scserver import Server, StartError  # noqa: E402

SERVER = sys.argv[1]
tally = Tally()
check = tally.check


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
# TLS options go together, and something must be served.
usage_error(["--tls-key", "/nonexistent.key"], "--tls-key")
usage_error(["--tls-cert", "/nonexistent.pem"], "--tls-cert")
usage_error(["--tls-port", "0"], "--tls-port")
usage_error(["--tls-port-file", "/tmp/x"], "--tls-port-file")
usage_error(["--plain", "off"], "--plain")
usage_error(["--plain", "maybe"], "--plain")
usage_error(["--tls-port", "65536"], "--tls-port")
usage_error(["--max-payload", "63"], "--max-payload")
usage_error(["--max-payload", "16776193"], "--max-payload")
usage_error(["--heartbeat", "10", "--idle-timeout", "10"], "idle-timeout")
usage_error(["extra-argument"], "extra-argument")
usage_error(["--allow-guests"], "--allow-guests")
usage_error(["--accounts", ""], "--accounts")
# --cluster: a URL it can use, a node id 1..255, and the two together.
usage_error(["--cluster", "redis://host", "--node-id", "1"], "--cluster")
usage_error(["--cluster", "redis://host:0", "--node-id", "1"], "--cluster")
usage_error(["--cluster", "rediss://host:6379", "--node-id", "1"], "no TLS")
usage_error(["--cluster", "redis://u:@host:6379", "--node-id", "1"], "empty password")
usage_error(["--cluster-password-file", "pw"], "--cluster-password-file needs --cluster")
usage_error(["--cluster", "redis://u:pw@host:6379", "--node-id", "1", "--cluster-password-file", "pw"],
            "give one")
usage_error(["--cluster", "unix:", "--node-id", "1"], "--cluster")
usage_error(["--cluster", "unix:/run/r.sock", "--node-id", "0"], "--node-id")
usage_error(["--cluster", "unix:/run/r.sock", "--node-id", "256"], "--node-id")
usage_error(["--cluster", "unix:/run/r.sock"], "--node-id")
usage_error(["--node-id", "3"], "--cluster")
usage_error(["--cluster", "unix:/run/r.sock", "--node-id", "1", "--node-ttl", "2"], "--node-ttl")
usage_error(["--node-ttl", "10"], "--cluster")
# No broker there: exit 1 at start, saying so.
r = run("--bind", "127.0.0.1", "--port", "0", "--cluster", "unix:/nonexistent/redis.sock",
        "--node-id", "1")
check(r.returncode == 1 and "cannot reach the cluster's Redis" in r.stderr,
      f"--cluster without a broker: exit 1 and a reason ({r.returncode}, {r.stderr.strip()!r})")

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

# A certificate that cannot be loaded: exit 1 with a message naming the file.
r = run("--bind", "127.0.0.1", "--port", "0", "--tls-cert", "/nonexistent/cert.pem",
        "--tls-key", "/nonexistent/key.pem", "--tls-port", "0")
check(r.returncode == 1, f"missing certificate: exit status 1 (got {r.returncode})")
check("/nonexistent/cert.pem" in r.stderr,
      f"missing certificate: message names the file: {r.stderr.strip()!r}")


def accounts_files():
    """--accounts: a file that cannot be used stops the start (exit 1) with a
    message naming file and line; a relative name is looked up in
    $CREDENTIALS_DIRECTORY; a file others may read starts, with a warning."""
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad")
        with open(bad, "w") as f:
            f.write("# md5crypt is refused\nalice:$1$abcdefgh$ZsWwyWEiN1bnHZOtsfn5e.\n")
        r = run("--bind", "127.0.0.1", "--port", "0", "--accounts", bad)
        check(r.returncode == 1, f"bad accounts file: exit status 1 (got {r.returncode})")
        check(f"{bad}:2: the hash is not yescrypt" in r.stderr,
              f"bad accounts file: message names file and line: {r.stderr.strip()!r}")
        missing = os.path.join(d, "missing")
        r = run("--bind", "127.0.0.1", "--port", "0", "--accounts", missing)
        check(r.returncode == 1 and f"cannot read accounts file {missing}" in r.stderr,
              f"missing accounts file: exit 1 naming it: {r.returncode} {r.stderr.strip()!r}")
        r = subprocess.run([SERVER, "--bind", "127.0.0.1", "--port", "0", "--accounts", "bad"],
                           capture_output=True, text=True, timeout=10,
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=d))
        check(r.returncode == 1 and f"{bad}:2:" in r.stderr,
              f"relative --accounts is read from $CREDENTIALS_DIRECTORY: {r.stderr.strip()!r}")
        if not have_openssl():
            check(False, "accounts file readable by others: " + OPENSSL_MISSING)
            return
        good = os.path.join(d, "good")
        h = subprocess.run(["openssl", "passwd", "-6", "pw"], capture_output=True, text=True,
                           check=True, timeout=30).stdout.strip()
        with open(good, "w") as f:
            f.write(f"alice:{h}\n")
        os.chmod(good, 0o644)
        try:
            server = Server(SERVER, "--accounts", good)
        except StartError as e:
            check(False, f"accounts file readable by others: server starts ({e})")
            return
        rc = server.stop()
        log = server.read_log()
        check(rc == 0, f"accounts: exit status 0 after SIGTERM (got {rc})")
        check("readable by group or others" in log, f"accounts: mode 644 is warned about: {log!r}")
        check("1 account(s) from " + good in log, f"accounts: start logs the count: {log!r}")


accounts_files()


def plain_off():
    """--plain off: only the TLS listener; a TLS client gets HELLO with the
    ENCRYPTED flag, nothing listens on the plaintext port; openssl s_client
    cannot renegotiate."""
    import ssl
    import tempfile
    import time
    if not have_openssl():
        check(False, "--plain off: " + OPENSSL_MISSING)
        return
    with tempfile.TemporaryDirectory() as d:
        key, cert = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, check=True, timeout=30)
        pf, tpf = os.path.join(d, "port"), os.path.join(d, "tls-port")
        p = subprocess.Popen([SERVER, "--bind", "127.0.0.1", "--plain", "off", "--port-file", pf,
                              "--tls-cert", cert, "--tls-key", key, "--tls-port", "0",
                              "--tls-port-file", tpf], stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 10
            while not os.path.exists(tpf) and time.time() < deadline and p.poll() is None:
                time.sleep(0.02)
            check(os.path.exists(tpf), "--plain off: TLS port file written")
            check(not os.path.exists(pf), "--plain off: no plaintext port file")
            if not os.path.exists(tpf):
                return
            ctx = ssl.create_default_context(cafile=cert)
            ctx.set_alpn_protocols(["sockchat/1"])
            port = int(open(tpf).read())
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                    head = b""
                    while len(head) < 16:
                        chunk = tls.recv(16 - len(head))
                        if not chunk:
                            break
                        head += chunk
                    length = int.from_bytes(head[12:16], "big") if len(head) == 16 else 0
                    body = b""
                    while len(body) < length:
                        chunk = tls.recv(length - len(body))
                        if not chunk:
                            break
                        body += chunk
                    check(len(head) == 16 and head[4] == 64, f"--plain off: HELLO over TLS {head!r}")
                    check(len(body) == length and length > 0 and body[-1] & 0x02 != 0,
                          "--plain off: HELLO's last byte (flags) has ENCRYPTED")
            # openssl s_client over TLS 1.2 asking to renegotiate ("R"): refused.
            r = subprocess.run(f"(sleep 2; printf 'R\\n'; sleep 2) | openssl s_client -tls1_2 -connect "
                               f"127.0.0.1:{port} -CAfile {cert} -alpn sockchat/1 "
                               f"-servername localhost", shell=True, capture_output=True,
                               text=True, timeout=30)
            out = r.stdout + r.stderr
            check("RENEGOTIATING" in out and "no renegotiation" in out,
                  f"s_client -tls1_2: renegotiation refused: {out[-300:]!r}")
        finally:
            p.terminate()
            _, err = p.communicate(timeout=10)
            check(p.returncode == 0, f"--plain off: exit 0 on SIGTERM (got {p.returncode}; {err!r})")


plain_off()
sys.exit(tally.exit_status())
