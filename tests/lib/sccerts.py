"""Certificates for TLS tests, made at test time with the openssl command
(tls_test.py and e2e_tmux.py), and the key fingerprint sockchat shows,
computed by openssl rather than by the code under test.

The openssl command is a test dependency (scripts/lib.sh's
SOCKCHAT_TEST_DEPS, debian/control's Build-Depends), so CI always has it: a
test that needs it and does not find it fails, rather than passing having
checked nothing."""
import shutil
import subprocess

from sccheck import fail

EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
OPENSSL_MISSING = ("the openssl command is not installed (a test dependency: "
                   "scripts/lib.sh SOCKCHAT_TEST_DEPS)")


def have_openssl():
    return shutil.which("openssl") is not None


def openssl(*args, cwd=None, data=None):
    """openssl's output; fails the test (sccheck.Failure) if openssl is missing."""
    if not have_openssl():
        fail(f"openssl {args[0] if args else ''}: {OPENSSL_MISSING}")
    return subprocess.run(["openssl", *args], cwd=cwd, input=data, capture_output=True, check=True,
                          timeout=60).stdout


def self_signed(cwd, tag, san="DNS:localhost,IP:127.0.0.1"):
    """TAG.pem and TAG.key in cwd: a self-signed certificate for san."""
    openssl("req", "-x509", *EC, "-keyout", tag + ".key", "-out", tag + ".pem", "-days", "2",
            "-subj", "/CN=" + tag, "-addext", "subjectAltName=" + san, cwd=cwd)


def spki_sha256(cert_path):
    """The raw SHA-256 of the certificate's DER SubjectPublicKeyInfo."""
    pub = openssl("x509", "-in", cert_path, "-pubkey", "-noout")
    der = openssl("pkey", "-pubin", "-outform", "der", data=pub)
    return openssl("dgst", "-sha256", "-binary", data=der)


def key_fingerprint(cert_path):
    """SHA256:BASE64 (unpadded), as sockchat shows and known_servers keeps it."""
    b64 = openssl("base64", "-A", data=spki_sha256(cert_path)).decode().strip()
    return "SHA256:" + b64.rstrip("=")
