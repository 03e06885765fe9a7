#!/usr/bin/env bash
# Runs the test binary given as $1 in a network namespace of its own whose
# loopback interface also carries a documentation address (198.51.100.10,
# TEST-NET-2), which is not a loopback address: the server there sees its
# clients come from 198.51.100.10.  The namespace is anonymous (unshare),
# so it disappears with the last process in it, however the test ends; no
# traffic leaves it: lo is its only interface.  Skips (exit 77) when not
# root or when network namespaces are not available.
set -u
test_bin=$1

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root to create a network namespace"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"
unshare --net true 2>/dev/null || skip "unshare --net failed (no network namespaces here)"

exec unshare --net -- bash -c '
  ip link set lo up || exit 1
  ip addr add 198.51.100.10/32 dev lo || exit 1
  NETNS_ADDR=198.51.100.10 exec "$0"' "$test_bin"
