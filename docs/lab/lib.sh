# Shared by the lab experiments (docs/lab/NN-*.sh).  Sourced, not executed.
#
# Every experiment runs in one command from a fresh checkout: it installs
# what the build needs (scripts/lib.sh), builds into build/ when the
# binaries are missing, starts what it needs, prints what it observed and
# why, and removes everything it started on exit, even on Ctrl-C.
#
# Modes: plain (for people: observations and explanations) and --check (for
# the test suite: the same run, and each `check` that fails makes the
# script exit 1).  Exit 77 means "skipped" (missing root or tool), which
# meson reports as SKIP.
#
# Environment (set by tests/lab/meson.build; optional by hand):
#   SOCKCHATD, SOCKCHAT     the server and client binaries
#   SOCKCHAT_LAB_LISTEN     the listen-pause helper (docs/lab/listen-pause.cpp)
#   SOCKCHAT_DISSECTOR      wireshark/sockchat.lua

set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_CHECK=0
LAB_FAILED=0
LAB_PIDS=()
LAB_NETNS=()
LAB_LINKS=()   # network interfaces to delete on exit (veth host ends)

for arg in "$@"; do
  case $arg in
    --check) LAB_CHECK=1 ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
  esac
done

LAB_TMP=$(mktemp -d /tmp/sockchat-lab.XXXXXX)

lab_cleanup() {
  local pid ns link
  for pid in "${LAB_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${LAB_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # A veth pair outlives its namespace while a socket inside still lives
  # (a cut client's FIN is retried for minutes): delete the host end too.
  for link in "${LAB_LINKS[@]}"; do
    ip link del "$link" 2>/dev/null || true
  done
  for ns in "${LAB_NETNS[@]}"; do
    ip netns delete "$ns" 2>/dev/null || true
  done
  rm -rf "$LAB_TMP"
}
trap lab_cleanup EXIT
trap 'exit 130' INT TERM

# Headings and text for people.
section() { printf '\n== %s\n' "$*"; }
explain() { fold -s -w 78; }          # explain <<'TXT' ... TXT
observe() { printf 'OBSERVED: %s\n' "$*"; }

# check CONDITION-COMMAND... -- MESSAGE: run the command; print the
# verdict.  In --check mode a failed check makes the script exit 1 at the
# end (lab_finish), after every observation was printed.
check() {
  local args=() msg
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift; msg=$*
  if "${args[@]}"; then
    printf 'CHECK ok: %s\n' "$msg"
  else
    printf 'CHECK FAILED: %s\n' "$msg"
    LAB_FAILED=1
  fi
}

lab_finish() {
  if [ "$LAB_FAILED" -ne 0 ] && [ "$LAB_CHECK" -eq 1 ]; then
    echo "some checks failed"; exit 1
  fi
  exit 0
}

lab_skip() { printf 'SKIP: %s\n' "$*"; exit 77; }
need_root() { [ "$(id -u)" -eq 0 ] || lab_skip "$* needs root (run with sudo)"; }
# need_tool COMMAND PACKAGE
need_tool() {
  command -v "$1" >/dev/null 2>&1 ||
    lab_skip "needs $1 (sudo apt-get install $2)"
}

# Finds or builds the binaries.
lab_binaries() {
  if [ -z "${SOCKCHATD:-}" ] || [ -z "${SOCKCHAT:-}" ]; then
    if [ ! -x "$LAB_ROOT/build/server/sockchatd" ]; then
      # shellcheck source=../../scripts/lib.sh
      . "$LAB_ROOT/scripts/lib.sh"
      install_missing $SOCKCHAT_BUILD_DEPS >&2
      (cd "$LAB_ROOT" && build_dir build) >&2
    fi
    SOCKCHATD=$LAB_ROOT/build/server/sockchatd
    SOCKCHAT=$LAB_ROOT/build/tui-client/sockchat
    SOCKCHAT_LAB_LISTEN=${SOCKCHAT_LAB_LISTEN:-$LAB_ROOT/build/docs/lab/listen-pause}
  fi
  SOCKCHAT_DISSECTOR=${SOCKCHAT_DISSECTOR:-$LAB_ROOT/wireshark/sockchat.lua}
}

# lab_bg COMMAND...: start in the background, killed on exit.  Sets LAB_PID.
lab_bg() {
  "$@" &
  LAB_PID=$!
  LAB_PIDS+=("$LAB_PID")
}

# lab_bg_input FILE COMMAND...: lab_bg with stdin from FILE (a fifo, say).
# Without job control bash gives a background command /dev/null as stdin
# unless the redirection is inside it.
lab_bg_input() {
  local in=$1; shift
  # shellcheck disable=SC2016 # the inner sh expands them
  lab_bg sh -c 'in=$1; shift; exec "$@" <"$in"' sh "$in" "$@"
}

# wait_for SECONDS COMMAND...: poll COMMAND every 0.05 s until it succeeds.
wait_for() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# start_server [sockchatd options...]: a server on 127.0.0.1 and a free
# port (LAB_PORT); its log goes to $LAB_TMP/server.log.
start_server() {
  rm -f "$LAB_TMP/port"
  lab_bg "$SOCKCHATD" --bind 127.0.0.1 --port 0 --port-file "$LAB_TMP/port" \
    --name lab-server "$@" 2>"$LAB_TMP/server.log"
  LAB_SERVER_PID=$LAB_PID
  wait_for 10 test -s "$LAB_TMP/port" || { cat "$LAB_TMP/server.log"; echo "server did not start" >&2; exit 1; }
  LAB_PORT=$(cat "$LAB_TMP/port")
}

# capture_start FILE FILTER [IFACE]: tshark writing FILE; returns once it
# captures ("Capture started" comes once dumpcap's filter is in place;
# "Capturing on" comes earlier).  capture_stop: stop it and let it flush.
capture_start() {
  LAB_CAP_FILE=$1
  lab_bg tshark -q -i "${3:-lo}" -f "$2" -w "$1" 2>"$LAB_TMP/tshark.log"
  LAB_CAP_PID=$LAB_PID
  wait_for 20 grep -q "Capture started" "$LAB_TMP/tshark.log" ||
    { cat "$LAB_TMP/tshark.log"; echo "tshark did not start" >&2; exit 1; }
}
capture_stop() {
  sleep 0.3   # let the last segments reach the capture
  kill -INT "$LAB_CAP_PID" 2>/dev/null || true
  wait "$LAB_CAP_PID" 2>/dev/null || true
}

# tshark_read ARGS...: read the capture with the sockchat dissector, the
# server's port decoded as sockchat.
tshark_read() {
  tshark -r "$LAB_CAP_FILE" -X lua_script:"$SOCKCHAT_DISSECTOR" \
    -d "tcp.port==$LAB_PORT,sockchat" "$@" 2>/dev/null
}
