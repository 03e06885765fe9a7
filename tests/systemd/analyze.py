#!/usr/bin/env python3
"""The installed units pass `systemd-analyze verify` without a word and
`systemd-analyze security --offline=yes` scores sockchatd.service at 2.0 or
lower.

The build is installed into a temporary DESTDIR and verify runs with
--root=DESTDIR, so it checks the unit files exactly as installed, including
that ExecStart= names the installed server (verify refuses a command that
does not exist).  systemd's own targets (network.target, sockets.target,
...) are copied into that root so the units' dependencies resolve.  The
Documentation= man pages are checked against the installed ones (MANPATH);
a page man/ should have installed but did not is a failure.

usage: analyze.py MESON BUILD_ROOT PREFIX SBINDIR MANDIR
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import fail, skip  # noqa: E402

UNITS = ("sockchatd.service", "sockchatd.socket")
MAN_PAGES = ("man8/sockchatd.8", "man7/sockchat-protocol.7")
MAX_EXPOSURE = 2.0


def run(argv, **kw):
    print("$ " + " ".join(argv) + "".join(f"  [{k}={v}]" for k, v in kw.pop("show", {}).items()))
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kw)


def install(meson, build_root, destdir):
    r = run([meson, "install", "-C", build_root, "--no-rebuild", "--destdir", destdir])
    if r.returncode != 0:
        fail(f"meson install failed:\n{r.stdout}\n{r.stderr}")


def add_host_targets(root):
    """Copies the host's .target and .slice units (not their .wants/
    directories) into root, for the units' After=/WantedBy= to resolve,
    and the host's /bin/kill for ExecReload=."""
    dest = os.path.join(root, "usr/lib/systemd/system")
    os.makedirs(dest, exist_ok=True)
    found = glob.glob("/usr/lib/systemd/system/*.target") + \
        glob.glob("/usr/lib/systemd/system/*.slice")
    if not found:
        fail("no systemd targets in /usr/lib/systemd/system to verify against")
    for path in found:
        target = os.path.join(dest, os.path.basename(path))
        if not os.path.exists(target):
            shutil.copy(path, target)
    # ExecReload= runs the system's /bin/kill (procps), not one of ours;
    # verify looks for it under the root too.
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    shutil.copy("/bin/kill", os.path.join(root, "bin", "kill"))


def exec_start(service_path):
    with open(service_path, encoding="utf-8") as f:
        m = re.search(r"^ExecStart=(\S+)", f.read(), re.M)
    if not m:
        fail(f"{service_path} has no ExecStart=")
    return m.group(1)


def verify(root, unit_paths, mandir):
    env = dict(os.environ)
    # man/meson.build installs the pages unconditionally, so a missing one
    # is a failure, not a reason to leave Documentation= unchecked.
    missing = [p for p in MAN_PAGES if not os.path.exists(os.path.join(mandir, p))]
    if missing:
        fail(f"man pages named by Documentation= not installed under {mandir}: {missing}")
    env["MANPATH"] = mandir
    r = run(["systemd-analyze", "verify", "--man=yes", f"--root={root}", *unit_paths],
            env=env, show={"MANPATH": env.get("MANPATH", "(unset)")})
    out = (r.stdout + r.stderr).strip()
    if r.returncode != 0 or out:
        fail(f"systemd-analyze verify: exit {r.returncode}\n{out}")
    print("verify: clean")


def security(service_path):
    r = run(["systemd-analyze", "security", "--offline=yes",
             f"--threshold={int(MAX_EXPOSURE * 10)}", service_path])
    m = re.search(r"Overall exposure level for sockchatd\.service: ([0-9.]+)", r.stdout)
    if not m:
        fail(f"no exposure level in the output:\n{r.stdout}\n{r.stderr}")
    exposure = float(m.group(1))
    print(f"security: exposure {exposure} (limit {MAX_EXPOSURE})")
    if r.returncode != 0 or exposure > MAX_EXPOSURE:
        print("\n".join(l for l in r.stdout.splitlines() if "✗" in l))
        fail(f"exposure {exposure} above {MAX_EXPOSURE} (exit {r.returncode})")


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    meson, build_root, prefix, sbindir, mandir = sys.argv[1:]
    if not shutil.which("systemd-analyze"):
        skip("systemd-analyze not installed (Debian package systemd)")
    with tempfile.TemporaryDirectory(prefix="sockchat-analyze-") as root:
        install(meson, build_root, root)
        unit_dir = root + os.path.join(prefix, "lib/systemd/system")
        unit_paths = [os.path.join(unit_dir, u) for u in UNITS]
        for p in unit_paths:
            if not os.path.isfile(p):
                fail(f"{p} not installed")
        security(unit_paths[0])
        want = os.path.join(prefix, sbindir, "sockchatd")
        if exec_start(unit_paths[0]) != want:
            fail(f"ExecStart={exec_start(unit_paths[0])}, want {want}")
        add_host_targets(root)
        verify(root, unit_paths, root + os.path.join(prefix, mandir))
    print("ok")


if __name__ == "__main__":
    main()
