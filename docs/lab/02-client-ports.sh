#!/usr/bin/env bash
# Experiment 2: client ports -- who picks the client's port number?
#
# Starts sockchatd and connects a client to it three times in a row, each
# time under strace (system calls socket, bind, connect), then asks the
# server for the client list and quits.
#
# Run:  docs/lab/02-client-ports.sh      (no root needed; strace and ss)
#       docs/lab/02-client-ports.sh --check   (the same, as a test)
#
# What to look for:
#  - strace shows socket() and connect() but never bind(): the client does
#    not choose a port;
#  - `ss -tn` shows the connection with a local port the kernel chose at
#    connect(), and the server's LIST entry for the client shows the same
#    IP:port (the server sees it as the peer's port);
#  - the port is different each time and lies in the ephemeral range
#    (net.ipv4.ip_local_port_range).

. "$(dirname "$0")/lib.sh"
lab_binaries
need_tool strace strace
need_tool ss iproute2

start_server
read -r range_lo range_hi </proc/sys/net/ipv4/ip_local_port_range
ports=()
inet_binds=0
connects=0
matches=0

# run_client K: one client under strace; /list, then /quit.
run_client() {
  local k=$1 out=$LAB_TMP/client$1.out trace=$LAB_TMP/strace$1.txt fifo=$LAB_TMP/in$1 fd pid
  mkfifo "$fifo"
  exec {fd}<>"$fifo"   # read-write: opening does not wait for a reader
  lab_bg_input "$fifo" strace -f -o "$trace" -e trace=socket,bind,connect \
    "$SOCKCHAT" --plain --nick "client$k" 127.0.0.1 "$LAB_PORT" >"$out" 2>&1
  pid=$LAB_PID
  echo /list >&"$fd"
  wait_for 15 grep -q "(you)\$" "$out" || { cat "$out"; echo "client $k got no list" >&2; exit 1; }
  section "Client $k"
  echo "\$ strace -f -e trace=socket,bind,connect sockchat --plain 127.0.0.1 $LAB_PORT"
  grep -E "(socket|bind|connect)\(" "$trace" | sed 's/^[0-9]* *//'
  echo "\$ ss -tn 'dport = :$LAB_PORT'"
  ss -tn "dport = :$LAB_PORT"
  local ss_port list_port
  ss_port=$(ss -Htn state established "dport = :$LAB_PORT" | awk '{sub(/.*:/, "", $3); print $3}' | head -1)
  echo "the client's LIST output:"
  grep "^client .*(you)\$" "$out"
  list_port=$(grep "^client .*(you)\$" "$out" | grep -o '127\.0\.0\.1:[0-9]*' | cut -d: -f2)
  echo /quit >&"$fd"
  wait_for 15 grep -q "^disconnected" "$out" || true
  wait "$pid" || true
  exec {fd}>&-
  ports+=("$ss_port")
  [ -n "$ss_port" ] && [ "$ss_port" = "$list_port" ] && matches=$((matches + 1))
  inet_binds=$((inet_binds + $(grep -c "bind(.*AF_INET" "$trace" || true)))
  grep -q "connect(.*htons($LAB_PORT).*127\.0\.0\.1" "$trace" && connects=$((connects + 1))
  observe "client $k: source port ${ss_port:-?} in ss, ${list_port:-?} in the server's LIST"
}

explain <<'TXT'
A TCP connection is named by four numbers, its 4-tuple: source IP, source port, destination IP, destination port. The server bind()s its well-known port; the client only says where to connect. Watch where the client's port comes from.
TXT
for k in 1 2 3; do run_client "$k"; done

section "Summary"
distinct=$(printf '%s\n' "${ports[@]}" | sort -u | grep -c . || true)
in_range=0
for p in "${ports[@]}"; do
  [ -n "$p" ] && [ "$p" -ge "$range_lo" ] && [ "$p" -le "$range_hi" ] && in_range=$((in_range + 1))
done
observe "source ports: ${ports[*]} ($distinct different); ephemeral range here: $range_lo-$range_hi"
observe "bind() calls on an IP socket in the three clients: $inet_binds"
check [ "$inet_binds" -eq 0 ] -- "the client never calls bind() on its TCP socket"
check [ "$connects" -eq 3 ] -- "each client called connect() to 127.0.0.1:$LAB_PORT"
check [ "$matches" -eq 3 ] -- "the port in ss is the port the server lists for the client"
check [ "$distinct" -eq 3 ] -- "the source port differs each time"
check [ "$in_range" -eq 3 ] -- "every source port lies in ip_local_port_range"
explain <<'TXT'

Why: a socket that calls connect() without a bind() is bound automatically by the kernel, inside connect(): it picks a free "ephemeral" port from net.ipv4.ip_local_port_range such that the 4-tuple is unique. Linux starts from a point derived from a secret hash of the destination and moves on by a small random step for each new connection (RFC 6056), so the ports do not repeat soon and are hard to guess; it prefers even ports for connect(), leaving odd ones for programs that bind() to port 0. The client learns its own port only if it asks (getsockname()); the server learns it from accept(), which is how it appears in LIST. The server's port stays the same for every connection: only the source port has to differ.
TXT
lab_finish
