#!/usr/bin/env python3
"""Checks of the manual pages in man/.

usage:
  check_man.py lint PAGE        mandoc -Tlint and groff -ww print nothing
  check_man.py render PAGE      `man -l PAGE` works and fits 80 columns
  check_man.py options PAGE EXE the long options of `EXE --help` and of the
                                page's OPTIONS section are the same sets

Exit status 0 pass, 1 fail, 77 skip (a needed tool is not installed).
"""
import os
import re
import shutil
import subprocess
import sys
import unicodedata

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from sccheck import fail, skip  # noqa: E402

# Our own pages: a reference to one of them cannot be found while the pages
# are not installed, which is the only lint message we accept.
OWN_PAGES = {("sockchat", "1"), ("sockchatd", "8"), ("sockchat-protocol", "7")}
NOT_FOUND = re.compile(r"STYLE: referenced manual not found: Xr (\S+) (\S+)")
# mandoc reports on stderr how it found a referenced page when the system has
# no mandoc.db (Debian indexes pages with man-db instead).  That says the
# page *was* found; it is about the system's index, not about our page.
DB_NOTE = re.compile(r"^mandoc: outdated mandoc\.db lacks \S+ entry, run makewhatis ")
WIDTH = 80


def need(tool):
    path = shutil.which(tool)
    if path is None:
        skip(f"{tool} is not installed (Debian: scripts/test installs it)")
    return path


def run(argv, env=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          check=False, env=env)


def page_env():
    """A fixed environment: UTF-8 output, 80 columns, no pager.  man-db's
    seccomp sandbox is off: some containers refuse it, and the test is about
    our pages, not about the machine."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH=str(WIDTH), MANPAGER="cat",
               PAGER="cat", MAN_DISABLE_SECCOMP="1")
    env.pop("MANOPT", None)
    return env


def mandoc_findings(page):
    r = run([need("mandoc"), "-Tlint", page], env=page_env())
    bad = []
    for line in (r.stdout + r.stderr).splitlines():
        m = NOT_FOUND.search(line)
        if m and (m.group(1), m.group(2)) in OWN_PAGES:
            continue
        if DB_NOTE.match(line):
            continue
        bad.append(line)
    if r.returncode > 2 and not bad:
        bad.append(f"mandoc exited with status {r.returncode}")
    return bad


def groff_findings(page):
    # -mandoc picks mdoc or man macros by looking at the page.
    r = run([need("groff"), "-ww", "-z", "-mandoc", page], env=page_env())
    bad = r.stderr.splitlines()
    if r.returncode != 0:
        bad.append(f"groff exited with status {r.returncode}")
    return bad


def check_lint(page):
    bad = mandoc_findings(page)  # lines start with "mandoc: "
    bad += [f"groff: {l}" for l in groff_findings(page)]
    if bad:
        fail(f"{page} does not lint clean:\n  " + "\n  ".join(bad))
    print(f"ok: {os.path.basename(page)} lints clean (mandoc -Tlint, groff -ww)")


def columns(line):
    """Terminal columns of a rendered line (overstrike sequences removed)."""
    line = re.sub(r".\x08", "", line)
    width = 0
    for ch in line:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def check_render(page):
    r = run([need("man"), "-l", page], env=page_env())
    if r.returncode != 0 or r.stderr.strip():
        fail(f"man -l {page}: status {r.returncode}, stderr:\n{r.stderr}")
    lines = r.stdout.splitlines()
    if len(lines) < 20:
        fail(f"man -l {page} rendered only {len(lines)} lines")
    wide = [f"{columns(l)}: {l}" for l in lines if columns(l) > WIDTH]
    if wide:
        fail(f"{page} renders lines wider than {WIDTH} columns:\n  " + "\n  ".join(wide))
    print(f"ok: man -l renders {os.path.basename(page)}: {len(lines)} lines within {WIDTH} columns")


HELP_OPTION = re.compile(r"^\s{2,}(?:-([A-Za-z0-9]), )?--([a-z0-9][a-z0-9-]*)")


def help_options(exe):
    """{long name: short letter or None} from the option lines of --help."""
    r = run([exe, "--help"])
    if r.returncode != 0:
        fail(f"{exe} --help exited with status {r.returncode}: {r.stderr}")
    found = {}
    for line in r.stdout.splitlines():
        m = HELP_OPTION.match(line)
        if m:
            found[m.group(2)] = m.group(1)
    if not found:
        fail(f"no option lines found in `{exe} --help`:\n{r.stdout}")
    return found


def options_section(page):
    lines = open(page, encoding="utf-8").read().splitlines()
    try:
        start = lines.index(".Sh OPTIONS")
    except ValueError:
        fail(f"{page} has no '.Sh OPTIONS' section")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(".Sh ")),
               len(lines))
    return lines[start + 1:end]


def item_options(words):
    """Options named by the Fl macros of one mdoc .It line: [(short, long)]."""
    out, short, in_fl = [], None, False
    for w in words:
        if w == "Fl":
            in_fl = True
        elif re.fullmatch(r"[A-Z][a-z][a-z]?", w):  # another macro ends the Fl
            in_fl = False
        elif in_fl and w.startswith("-"):
            out.append((short, w[1:]))
            short = None
        elif in_fl and re.fullmatch(r"[A-Za-z0-9]", w):
            short = w
    return out


def man_options(page):
    """{long name: short letter or None} from the tags of the OPTIONS list."""
    found = {}
    depth = 0
    for line in options_section(page):
        words = line.split()
        if not words:
            continue
        if words[0] == ".Bl":
            depth += 1
        elif words[0] == ".El":
            depth -= 1
        elif words[0] == ".It" and depth == 1:
            for short, long in item_options(words[1:]):
                found[long] = short
    if not found:
        fail(f"no options found in the OPTIONS section of {page}")
    return found


def check_options(page, exe):
    helped = help_options(exe)
    documented = man_options(page)
    problems = []
    for name in sorted(set(helped) - set(documented)):
        problems.append(f"--{name} is in --help but not in {os.path.basename(page)}")
    for name in sorted(set(documented) - set(helped)):
        problems.append(f"--{name} is in {os.path.basename(page)} but not in --help")
    for name in sorted(set(helped) & set(documented)):
        if helped[name] != documented[name]:
            problems.append(f"--{name}: short option {helped[name]!r} in --help, "
                            f"{documented[name]!r} in the page")
    if problems:
        fail("options differ:\n  " + "\n  ".join(problems))
    print(f"ok: {len(helped)} options, the same in --help and {os.path.basename(page)}: "
          + " ".join(f"--{n}" for n in sorted(helped)))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    what, page = sys.argv[1], sys.argv[2]
    if what == "lint" and len(sys.argv) == 3:
        check_lint(page)
    elif what == "render" and len(sys.argv) == 3:
        check_render(page)
    elif what == "options" and len(sys.argv) == 4:
        check_options(page, sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
