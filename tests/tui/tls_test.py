#!/usr/bin/env python3
"""sockchat --plain over TLS against the real sockchatd: CA verification,
wrong CA, wrong host, expired, --tls-fingerprint, trust on first use with
known_servers, SSLKEYLOGFILE.  Every refusal must say why.  The
certificates are made here, at test time, with the openssl command, in a
private temp dir.  Usage: tls_test.py SOCKCHATD SOCKCHAT"""
import os
import re
import socket
import ssl
import stat
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import Tally  # noqa: E402
from scserver import Server, wait_for_port  # noqa: E402
from sccerts import (EC, OPENSSL_MISSING, have_openssl, key_fingerprint, openssl,  # noqa: E402
                     self_signed, spki_sha256)

SOCKCHATD, SOCKCHAT = sys.argv[1], sys.argv[2]
tally = Tally()
check = tally.check


class Pki:
    """Two CAs; server certificates signed by the first: good (SAN
    localhost and 127.0.0.1), wrong host (SAN wrong.example), expired (in
    2020); and a self-signed one."""

    def __init__(self, d):
        self.d = d
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", *EC, "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2",
                    "-subj", "/CN=sockchat-test-" + ca, cwd=d)
        self.ca, self.other_ca = self.path("ca.pem"), self.path("other-ca.pem")
        self.signed("good", "DNS:localhost,IP:127.0.0.1")
        self.signed("wronghost", "DNS:wrong.example")
        self.signed("expired", "DNS:localhost,IP:127.0.0.1", dates=("20200101000000Z", "20200102000000Z"))
        self_signed(d, "self")

    def path(self, name):
        return os.path.join(self.d, name)

    def signed(self, tag, san, dates=None):
        with open(self.path(tag + ".ext"), "w") as f:
            f.write("subjectAltName=" + san + "\n")
        openssl("req", *EC, "-keyout", tag + ".key", "-out", tag + ".csr", "-subj", "/CN=" + tag, cwd=self.d)
        if dates is None:
            openssl("x509", "-req", "-in", tag + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "2", "-extfile", tag + ".ext", "-out", tag + ".pem", cwd=self.d)
            return
        # openssl x509 cannot set dates in the past; openssl ca can.
        os.makedirs(self.path("db"), exist_ok=True)
        open(self.path("index.txt"), "w").close()
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=db\nserial=serial\n"
                    "default_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n")
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in",
                tag + ".csr", "-out", tag + ".pem", "-startdate", dates[0], "-enddate", dates[1],
                "-extfile", tag + ".ext", cwd=self.d)

    def key_fingerprint(self, tag):
        return key_fingerprint(self.path(tag + ".pem"))


class TlsServer:
    def __init__(self, pki, tag, *extra, name=None):
        name = name or tag
        self.tls_port_file = os.path.join(pki.d, name + ".tls-port")
        self.server = Server(SOCKCHATD, "--name", "tls-" + name, "--log-level", "warn",
                             "--tls-cert", pki.path(tag + ".pem"), "--tls-key", pki.path(tag + ".key"),
                             "--tls-port", "0", "--tls-port-file", self.tls_port_file, *extra)
        self.plain_port = self.server.port
        self.port = wait_for_port(self.tls_port_file, self.server.proc.poll)

    def stop(self):
        self.server.stop()


def run(args, env_extra=None, stdin_text="/name\n", timeout=60):
    env = dict(os.environ, LC_ALL="C.UTF-8", USER="tlsuser")
    env.pop("SSLKEYLOGFILE", None)
    env.update(env_extra or {})
    p = subprocess.run([SOCKCHAT, "--plain", *args], input=stdin_text.encode(), capture_output=True,
                       timeout=timeout, env=env)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    # A refusal exits 1 as an ASan report does: look for the report itself.
    if "Sanitizer" in out or "runtime error:" in out:
        check(False, "no sanitizer report from sockchat %s" % " ".join(args), out)
    return p.returncode, out


def accepted(rc, out, trust, name):
    return (rc == 0 and re.search(r"^security TLSv1\.[23] \S+, %s$" % re.escape(trust), out, re.M) is not None
            and re.search(r"^name %s$" % re.escape(name), out, re.M) is not None)


def refused(rc, out, why):
    return rc == 1 and re.search(r"^connect failed: refused .*" + why, out, re.M) is not None


def test_ca(pki, good):
    p = str(good.port)
    rc, out = run(["--tls-ca", pki.ca, "localhost", p])
    check(accepted(rc, out, "verified (CA)", "tls-good"), "--tls-ca: verified by the CA, host name", out)
    rc, out = run(["--tls-ca", pki.ca, "127.0.0.1", p])
    check(accepted(rc, out, "verified (CA)", "tls-good"), "--tls-ca: verified by the CA, IP address", out)
    # Many pipelined requests: the UI thread encrypts while the receiver
    # decrypts the answers, the one SSL shared under its lock (TSan runs
    # this too).
    rc, out = run(["--tls-ca", pki.ca, "localhost", p], stdin_text="/time 3000\n/name\n")
    check(rc == 0 and re.search(r"^3000/3000 responses in ", out, re.M) is not None
          and re.search(r"^name tls-good$", out, re.M) is not None, "TLS: 3000 pipelined requests all answered",
          out[-2000:])
    rc, out = run(["--tls-ca", pki.other_ca, "localhost", p])
    check(refused(rc, out, re.escape("certificate verification failed: unable to get local issuer certificate "
                                     "(no chain to the CA in " + pki.other_ca + ")")),
          "wrong CA: refused, says there is no chain to that CA", out)
    # SSL_CERT_FILE stands in for the system store: the same CA, no --tls-ca.
    rc, out = run(["--tls", "localhost", p], {"SSL_CERT_FILE": pki.ca})
    check(accepted(rc, out, "verified (CA)", "tls-good"), "--tls: verified by the (system) CA store", out)


def test_wrong_host_and_expired(pki, wronghost, expired):
    rc, out = run(["--tls-ca", pki.ca, "localhost", str(wronghost.port)])
    check(refused(rc, out, re.escape("hostname mismatch (the certificate is not for localhost)")),
          "wrong host name: refused, says which host", out)
    rc, out = run(["--tls-ca", pki.ca, "127.0.0.1", str(wronghost.port)])
    check(refused(rc, out, re.escape("IP address mismatch (the certificate is not for 127.0.0.1)")),
          "wrong IP address: refused, says which address", out)
    rc, out = run(["--tls-ca", pki.ca, "localhost", str(expired.port)])
    check(refused(rc, out, "certificate has expired"), "expired: refused, says it expired", out)
    # A CA the client trusts signed it: never offered for trust on first use,
    # even with the key remembered.
    with tempfile.TemporaryDirectory() as xdg:
        os.makedirs(os.path.join(xdg, "sockchat"))
        with open(os.path.join(xdg, "sockchat", "known_servers"), "w") as f:
            f.write("localhost:%d %s\n" % (expired.port, pki.key_fingerprint("expired")))
        rc, out = run(["--tls", "localhost", str(expired.port)], {"SSL_CERT_FILE": pki.ca, "XDG_DATA_HOME": xdg})
        check(refused(rc, out, "certificate has expired; a CA signed it, so it is not offered for trust on "
                               "first use"), "expired CA-signed certificate: TOFU never overrides it", out)


def test_fingerprint(pki, good, selfsigned):
    fp = pki.key_fingerprint("self")
    rc, out = run(["--tls-fingerprint", fp, "localhost", str(selfsigned.port)])
    check(accepted(rc, out, "verified (pinned key)", "tls-self"), "--tls-fingerprint right: accepted", out)
    hexfp = spki_sha256(pki.path("self.pem")).hex()
    rc, out = run(["--tls-fingerprint", hexfp, "127.0.0.1", str(selfsigned.port)])
    check(accepted(rc, out, "verified (pinned key)", "tls-self"), "--tls-fingerprint in hex: accepted", out)
    wrong = pki.key_fingerprint("good")
    rc, out = run(["--tls-fingerprint", wrong, "localhost", str(selfsigned.port)])
    check(refused(rc, out, re.escape("the server's key %s is not the one given with --tls-fingerprint (%s)"
                                     % (fp, wrong))), "--tls-fingerprint wrong: refused, both keys named", out)
    rc, out = run(["--tls-fingerprint", "SHA256:nonsense", "localhost", "1"])
    check(rc == 2 and "--tls-fingerprint takes" in out, "--tls-fingerprint malformed: usage error", out)


def known_servers(xdg):
    return os.path.join(xdg, "sockchat", "known_servers")


def test_tofu(pki, selfsigned, good):
    fp = pki.key_fingerprint("self")
    server = "localhost:%d" % selfsigned.port
    with tempfile.TemporaryDirectory() as xdg:
        env = {"XDG_DATA_HOME": xdg}
        rc, out = run(["--tls", "localhost", str(selfsigned.port)], env)
        check(refused(rc, out, re.escape("cannot verify the server's certificate (self-signed certificate); its "
                                         "key is %s.  To trust it, connect with --tls-fingerprint %s" % (fp, fp))),
              "TOFU in --plain: an unknown self-signed key is refused, naming the key and the options", out)
        check(not os.path.exists(known_servers(xdg)), "--plain writes nothing to known_servers")
        os.makedirs(os.path.join(xdg, "sockchat"))
        with open(known_servers(xdg), "w") as f:
            f.write("# keys I checked\n%s %s\n" % (server, fp))
        rc, out = run(["--tls", "localhost", str(selfsigned.port)], env)
        check(accepted(rc, out, "verified (known key)", "tls-self"), "TOFU: a matching known_servers line accepts",
              out)
        # The CA-signed server's key under the self-signed server's name: changed.
        with open(known_servers(xdg), "w") as f:
            f.write("# keys I checked\n\nlocalhost:%d %s\n" % (selfsigned.port, pki.key_fingerprint("good")))
        rc, out = run(["--tls", "localhost", str(selfsigned.port)], env)
        where = "line 3 of " + known_servers(xdg)
        check(refused(rc, out, re.escape("THE SERVER'S KEY HAS CHANGED: %s now presents key %s, but %s remembers "
                                         "another one." % (server, fp, where)) + ".*" +
                      re.escape("remove " + where + " and connect again.")),
              "TOFU: a changed key is refused loudly, naming the file and line", out)
        # The same key under another port is another server: unknown.
        rc, out = run(["--tls", "localhost", str(good.port)], env)
        check(refused(rc, out, "cannot verify the server's certificate \\(unable to get local issuer certificate\\)"),
              "TOFU: a CA-signed chain with an unknown CA counts as unknown, refused in --plain", out)


def test_keylog_and_plaintext_port(pki, good):
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "keys.log")
        rc, out = run(["--tls-ca", pki.ca, "localhost", str(good.port)], {"SSLKEYLOGFILE": log})
        check(rc == 0, "SSLKEYLOGFILE: the connection works", out)
        text = open(log).read() if os.path.exists(log) else ""
        check(re.search(r"^(CLIENT_TRAFFIC_SECRET_0|CLIENT_RANDOM) [0-9a-f]{64} [0-9a-f]+$", text, re.M)
              is not None, "SSLKEYLOGFILE: NSS key log lines written", text)
        check(os.path.exists(log) and stat.S_IMODE(os.stat(log).st_mode) == 0o600,
              "SSLKEYLOGFILE: the file is private (0600)")
        before = len(text)
        run(["--tls-ca", pki.ca, "localhost", str(good.port)], {"SSLKEYLOGFILE": log})
        check(len(open(log).read()) > before and open(log).read().startswith(text),
              "SSLKEYLOGFILE: appended to, never truncated")
    rc, out = run(["--tls-ca", pki.ca, "localhost", str(good.plain_port)])
    check(rc == 1 and "not speaking TLS" in out, "--tls to the plaintext port: says the server is not speaking TLS",
          out)


def private_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def test_sign_in(pki):
    """--user and --password-file against the real server's --accounts (a
    sha512crypt hash made by the openssl command), over TLS and over
    plaintext on loopback; a wrong password is refused in plain words."""
    hashed = openssl("passwd", "-6", "-stdin", data=b"correct horse\n").decode().strip()
    accounts = private_file(os.path.join(pki.d, "accounts"), "alice:%s\n" % hashed)
    good_pw = private_file(os.path.join(pki.d, "good-pw"), "correct horse\n")
    bad_pw = private_file(os.path.join(pki.d, "bad-pw"), "battery staple\n")
    server = TlsServer(pki, "good", "--accounts", accounts, name="accounts")
    try:
        tls = ["--tls-ca", pki.ca, "--user", "alice"]
        rc, out = run([*tls, "--password-file", good_pw, "localhost", str(server.port)], stdin_text="/list\n")
        check(rc == 0 and re.search(r"^signed in as alice$", out, re.M) is not None
              and re.search(r"^clients 1\b|^ *\d+ alice\b", out, re.M) is not None,
              "sign-in over TLS: signed in as alice, then the list is answered", out)
        rc, out = run([*tls, "--password-file", bad_pw, "localhost", str(server.port)])
        check(re.search(r"^sign-in as alice failed: .*wrong account name or password", out, re.M) is not None,
              "a wrong password: refused in plain words", out)
        rc, out = run(["--user", "alice", "--password-file", good_pw, "127.0.0.1", str(server.plain_port)])
        check(re.search(r"^signed in as alice$", out, re.M) is not None,
              "sign-in over plaintext from loopback is allowed", out)
    finally:
        server.stop()


def test_no_password_option():
    for arg in (["--password", "hunter2"], ["--password=hunter2"]):
        rc, out = run(arg)
        check(rc == 2 and "there is no --password" in out and "hunter2" not in out,
              "%s is refused without repeating the password" % arg[0], out)


def test_password_file_mode():
    with tempfile.TemporaryDirectory() as d:
        pw = os.path.join(d, "pw")
        with open(pw, "w") as f:
            f.write("secret\n")
        os.chmod(pw, 0o644)
        rc, out = run(["--user", "alice", "--password-file", pw], stdin_text="")
        check(rc == 0 and "warning: others can read the password file " + pw in out and "secret" not in out,
              "--password-file readable by others: a warning, never the password", out)
        os.chmod(pw, 0o600)
        rc, out = run(["--user", "alice", "--password-file", pw], stdin_text="")
        check(rc == 0 and "warning" not in out, "--password-file 0600: no warning", out)


def test_turned_away(pki):
    """A server at --max-clients tells a TLS client SERVER_FULL right after
    its handshake, then close_notify, usually in one read: the ERROR must be
    shown, not only the closed connection."""
    full = TlsServer(pki, "good", "--max-clients", "1", name="full")
    try:
        ctx = ssl.create_default_context(cafile=pki.ca)
        ctx.set_alpn_protocols(["sockchat/1"])
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", full.port), timeout=30),
                             server_hostname="localhost") as holder:
            check(len(holder.recv(1)) == 1, "turned away: the first TLS client gets its HELLO")
            for attempt in range(3):
                rc, out = run(["--tls-ca", pki.ca, "127.0.0.1", str(full.port)], stdin_text="")
                check(rc == 0 and re.search(r"^server error SERVER_FULL: server full \(1 clients\)$", out, re.M)
                      is not None and "disconnected: server error SERVER_FULL" in out,
                      "turned away over TLS (%d): the ERROR text is shown" % attempt, out)
    finally:
        full.stop()


def main():
    test_no_password_option()
    test_password_file_mode()
    if not have_openssl():
        # A failure, not a skip: openssl is a test dependency, and a skip
        # here would also hide the verdicts of the two cases above.
        tally.check(False, "TLS client cases: " + OPENSSL_MISSING)
        return tally.exit_status()
    with tempfile.TemporaryDirectory(prefix="sockchat-tls-client-") as d:
        pki = Pki(d)
        servers = {}
        try:
            for tag in ("good", "wronghost", "expired", "self"):
                servers[tag] = TlsServer(pki, tag)
            test_ca(pki, servers["good"])
            test_wrong_host_and_expired(pki, servers["wronghost"], servers["expired"])
            test_fingerprint(pki, servers["good"], servers["self"])
            test_tofu(pki, servers["self"], servers["good"])
            test_keylog_and_plaintext_port(pki, servers["good"])
            test_sign_in(pki)
            test_turned_away(pki)
        finally:
            for s in servers.values():
                s.stop()
    return tally.exit_status()


if __name__ == "__main__":
    sys.exit(main())
