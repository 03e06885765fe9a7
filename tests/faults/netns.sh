#!/usr/bin/env bash
# Dead peer in a network namespace (see test_netns.cpp): creates a namespace
# and a veth pair with self-assigned addresses from a private /30, runs the
# test binary given as $1, and always deletes both again.  Skips (exit 77)
# when not root or when network namespaces are not available.
set -u
test_bin=$1

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root for ip netns and veth"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"

# Unique per run: names from our pid, a /30 in 10.213.0.0/16 that no
# interface here uses yet.
ns="scfault-$$"
host_if="scf$$h"
ns_if="scf$$n"
net=""
for i in $(seq 0 63); do
  third=$(( ($$ + i) % 256 ))
  fourth=$(( (($$ / 256 + i) % 64) * 4 ))
  used=$(ip -4 -o addr show | grep -c "inet 10\.213\.$third\.\($(( fourth + 1 ))\|$(( fourth + 2 ))\)/")
  if [ "$used" -eq 0 ]; then
    net="10.213.$third.$fourth"
    break
  fi
done
[ -n "$net" ] || skip "no free /30 in 10.213.0.0/16"
host_addr="10.213.$third.$(( fourth + 1 ))"
ns_addr="10.213.$third.$(( fourth + 2 ))"

cleanup() {
  ip netns del "$ns" 2>/dev/null
  ip link del "$host_if" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

ip netns add "$ns" 2>/dev/null || skip "ip netns add failed (no network namespaces here)"
ip netns exec "$ns" true 2>/dev/null || skip "ip netns exec does not work here"
ip link add "$host_if" type veth peer name "$ns_if" 2>/dev/null || skip "cannot create a veth pair"
ip link set "$ns_if" netns "$ns" || exit 1
ip addr add "$host_addr/30" dev "$host_if" || exit 1
ip link set "$host_if" up || exit 1
ip -n "$ns" addr add "$ns_addr/30" dev "$ns_if" || exit 1
ip -n "$ns" link set "$ns_if" up || exit 1
ip -n "$ns" link set lo up || exit 1
# The link needs a moment before it carries traffic.
for _ in $(seq 1 50); do
  ip -n "$ns" link show "$ns_if" | grep -q LOWER_UP && ip link show "$host_if" | grep -q LOWER_UP && break
  sleep 0.1
done

echo "netns $ns: $host_if $host_addr <-> $ns_if $ns_addr"
NETNS_NAME=$ns NETNS_NS_IF=$ns_if NETNS_HOST_ADDR=$host_addr "$test_bin"
