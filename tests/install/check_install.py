#!/usr/bin/env python3
"""`meson install --destdir TMP` puts exactly the expected files in their
standard places under the configured prefix, and writes nothing outside
DESTDIR.  A second configuration of the same sources with another --prefix
(configured only, not built) must plan every file under that prefix, with
the service's ExecStart= following it.

The expected list is kept here: every file of it must be installed and
nothing else may be.

usage: check_install.py MESON BUILD_ROOT SOURCE_ROOT
"""
import json
import os
import stat
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import fail  # noqa: E402

EXECUTABLE = 0o755
DATA = 0o644


def meson_json(meson, build_root, what):
    r = subprocess.run([meson, "introspect", build_root, what], capture_output=True,
                       text=True, timeout=60, check=False)
    if r.returncode != 0:
        fail(f"meson introspect {what} failed: {r.stderr}")
    return json.loads(r.stdout)


def directories(meson, build_root):
    """The directory options (prefix, bindir, ...) of this build."""
    return {o["name"]: o["value"] for o in meson_json(meson, build_root, "--buildoptions")
            if o["section"] == "directory"}


def expected_files(dirs):
    """{path relative to prefix: mode} of every file the build installs."""
    units = "lib/systemd/system"
    out = {
        f"{dirs['sbindir']}/sockchatd": EXECUTABLE,
        f"{dirs['bindir']}/sockchat": EXECUTABLE,
        f"{units}/sockchatd.service": DATA,
        f"{units}/sockchatd.socket": DATA,
        f"{dirs['datadir']}/doc/sockchat/examples/sockchatd.default": DATA,
        f"{dirs['datadir']}/doc/sockchat/examples/sockchat.conf.example": DATA,
        # Wireshark's global Lua plugin folder is <libdir>/wireshark/plugins.
        f"{dirs['libdir']}/wireshark/plugins/sockchat.lua": DATA,
    }
    for page in ("sockchat.1", "sockchatd.8", "sockchat-protocol.7"):
        section = page.rsplit(".", 1)[1]
        out[f"{dirs['mandir']}/man{section}/{page}"] = DATA
    return out


def install(meson, build_root, destdir):
    r = subprocess.run([meson, "install", "-C", build_root, "--no-rebuild",
                        "--destdir", destdir], capture_output=True, text=True,
                       timeout=120, check=False)
    if r.returncode != 0:
        fail(f"meson install failed:\n{r.stdout}\n{r.stderr}")
    # Every "Installing X to Y" must land under DESTDIR.
    for line in r.stdout.splitlines():
        if line.startswith("Installing ") and " to " in line:
            dest = line.rsplit(" to ", 1)[1]
            if not dest.startswith(destdir + "/"):
                fail(f"installed outside DESTDIR: {line}")
    return r.stdout


def installed_files(destdir):
    """{absolute path inside DESTDIR: mode bits} of every file installed."""
    out = {}
    for dirpath, _dirs, files in os.walk(destdir):
        for name in files:
            full = os.path.join(dirpath, name)
            out["/" + os.path.relpath(full, destdir)] = stat.S_IMODE(os.lstat(full).st_mode)
    return out


def check_other_prefix(meson, source_root):
    prefix = "/opt/sockchat-prefix-test"
    with tempfile.TemporaryDirectory(prefix="sockchat-prefix-") as build:
        r = subprocess.run([meson, "setup", build, source_root, f"--prefix={prefix}",
                            "-Dtests=false"], capture_output=True, text=True,
                           timeout=120, check=False)
        if r.returncode != 0:
            fail(f"meson setup --prefix={prefix} failed:\n{r.stdout}\n{r.stderr}")
        dirs = directories(meson, build)
        want = {os.path.join(prefix, p) for p in expected_files(dirs)}
        planned = set(meson_json(meson, build, "--installed").values())
        with open(os.path.join(build, "systemd", "sockchatd.service"), encoding="utf-8") as f:
            unit = f.read()
    if planned != want:
        fail(f"with --prefix={prefix}:\n"
             + "".join(f"  missing    {p}\n" for p in sorted(want - planned))
             + "".join(f"  unexpected {p}\n" for p in sorted(planned - want)))
    exec_start = f"ExecStart={prefix}/{dirs['sbindir']}/sockchatd "
    if exec_start not in unit:
        fail(f"the unit built with --prefix={prefix} lacks '{exec_start}'")
    print(f"--prefix={prefix}: {len(planned)} files planned under it, {exec_start.strip()}")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    meson, build_root, source_root = sys.argv[1:]
    dirs = directories(meson, build_root)
    prefix = dirs["prefix"]
    want = {os.path.join(prefix, p): mode
            for p, mode in expected_files(dirs).items()}
    with tempfile.TemporaryDirectory(prefix="sockchat-install-") as destdir:
        install(meson, build_root, destdir)
        have = installed_files(destdir)
    print(f"prefix {prefix}; installed:")
    print("\n".join(f"  {oct(m)} {p}" for p, m in sorted(have.items())))
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong_mode = sorted(f"{p}: {oct(have[p])}, want {oct(want[p])}"
                        for p in set(want) & set(have) if have[p] != want[p])
    if missing or extra or wrong_mode:
        fail("install tree differs from the expected list:\n"
             + "".join(f"  missing   {p}\n" for p in missing)
             + "".join(f"  unexpected {p}\n" for p in extra)
             + "".join(f"  mode      {p}\n" for p in wrong_mode))
    print(f"ok: {len(have)} files, exactly as expected")
    check_other_prefix(meson, source_root)


if __name__ == "__main__":
    main()
