#!/usr/bin/env bash
# Experiment 7: the pulled cable -- a peer that vanishes without a word.
#
# Puts a client in its own network namespace, behind a veth pair (a virtual
# cable) with addresses from a private /30, and a second client on the host.
# The server listens on the host end of the cable; tshark watches it.  Then
# the client's end of the cable is set down: as if the cable was pulled.
#
# Run:  sudo docs/lab/07-pulled-cable.sh      (root: ip netns, veth, tshark)
#       sudo docs/lab/07-pulled-cable.sh --check   (the same, as a test)
#
# What to look for:
#  - the capture: the client's PINGs every second, then nothing -- no FIN,
#    no RST: the client's kernel never got the chance to say anything;
#  - `ss -tno` on the server: the connection stays ESTABLISHED; TCP itself
#    does not notice a silent peer (timer:(keepalive,...) is the kernel's
#    own probe timer; timer:(on,...) retransmits unacknowledged data);
#  - a SEND from the second client to the vanished one is answered "not
#    delivered": no ACK came within the delivery timeout;
#  - the server drops the client after the idle timeout (6 s here, heartbeat
#    1 s): its log says IDLE_TIMEOUT, and LIST no longer shows it.

. "$(dirname "$0")/lib.sh"
lab_binaries
need_root "the pulled-cable experiment (network namespaces and veth)"
need_tool ip iproute2
need_tool ss iproute2
need_tool tshark tshark

HEARTBEAT=1
IDLE=6
DELIVERY=2
NS=sclab-$$
HOST_IF=scl$$h
NS_IF=scl$$n

# A /30 in 10.216.0.0/16 that no interface here uses: HOST_ADDR, NS_ADDR.
pick_subnet() {
  local i third fourth
  for i in $(seq 0 63); do
    third=$(( ($$ + i) % 256 ))
    fourth=$(( (($$ / 256 + i) % 64) * 4 ))
    if ! ip -4 -o addr show | grep -q "inet 10\.216\.$third\.\($((fourth + 1))\|$((fourth + 2))\)/"; then
      HOST_ADDR=10.216.$third.$((fourth + 1))
      NS_ADDR=10.216.$third.$((fourth + 2))
      return 0
    fi
  done
  lab_skip "no free /30 in 10.216.0.0/16"
}

links_up() {
  ip -n "$NS" link show "$NS_IF" | grep -q LOWER_UP && ip link show "$HOST_IF" | grep -q LOWER_UP
}

# The namespace end of the pair is created inside the namespace.  On exit
# lab_cleanup deletes the host end (LAB_LINKS), which removes both ends even
# while a socket of the namespace lives on, then the namespace.
make_cable() {
  pick_subnet
  ip netns add "$NS" 2>/dev/null || lab_skip "ip netns add failed (no network namespaces here)"
  LAB_NETNS+=("$NS")
  ip netns exec "$NS" true 2>/dev/null || lab_skip "ip netns exec does not work here"
  ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS" 2>/dev/null ||
    lab_skip "cannot create a veth pair"
  LAB_LINKS+=("$HOST_IF")
  ip addr add "$HOST_ADDR/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip -n "$NS" addr add "$NS_ADDR/30" dev "$NS_IF"
  ip -n "$NS" link set "$NS_IF" up
  ip -n "$NS" link set lo up
  wait_for 10 links_up || { echo "the veth pair did not come up" >&2; exit 1; }
}

start_cable_server() {
  lab_bg "$SOCKCHATD" --bind "$HOST_ADDR" --port 0 --port-file "$LAB_TMP/port" \
    --name lab-server --heartbeat "$HEARTBEAT" --idle-timeout "$IDLE" \
    --delivery-timeout "$DELIVERY" 2>"$LAB_TMP/server.log"
  wait_for 10 test -s "$LAB_TMP/port" || { cat "$LAB_TMP/server.log"; exit 1; }
  LAB_PORT=$(cat "$LAB_TMP/port")
}

# start_client NAME [ip netns exec NS]: a --plain client fed from a fifo.
start_client() {
  local name=$1 fd; shift
  mkfifo "$LAB_TMP/$name.in"
  exec {fd}<>"$LAB_TMP/$name.in"   # read-write: opening does not wait for a reader
  printf -v "${name}_fd" %s "$fd"
  lab_bg_input "$LAB_TMP/$name.in" "$@" "$SOCKCHAT" --plain --nick "$name" \
    "$HOST_ADDR" "$LAB_PORT" >"$LAB_TMP/$name.out" 2>&1
  wait_for 15 grep -q "^connected to" "$LAB_TMP/$name.out" ||
    { cat "$LAB_TMP/$name.out"; echo "$name did not connect" >&2; exit 1; }
}

# The server's socket for the cable client, with timers.
server_socket() { ss -Htno state established "( sport = :$LAB_PORT and dst $NS_ADDR )"; }
show_server_socket() {
  echo "\$ ss -tno state established '( sport = :$LAB_PORT and dst $NS_ADDR )'"
  ss -tno state established "( sport = :$LAB_PORT and dst $NS_ADDR )"
}

make_cable
start_cable_server
section "1. A client behind a virtual cable"
echo "namespace $NS: $HOST_IF $HOST_ADDR (host, server $HOST_ADDR:$LAB_PORT) <-> $NS_IF $NS_ADDR (client)"
capture_start "$LAB_TMP/cable.pcap" "tcp port $LAB_PORT" "$HOST_IF"
start_client cable ip netns exec "$NS"
start_client watcher
cable_id=$(sed -n 's/^connected to .* as client \([0-9]*\) .*/\1/p' "$LAB_TMP/cable.out")
# shellcheck disable=SC2154 # set by start_client
echo "/list" >&"$watcher_fd"
wait_for 10 grep -q "^client $cable_id cable" "$LAB_TMP/watcher.out" || true
# shellcheck disable=SC2154
echo "/send $cable_id hello over the cable" >&"$watcher_fd"
wait_for 10 grep -q "^delivered .* to $cable_id" "$LAB_TMP/watcher.out" || true
echo "watcher's output:"
cat "$LAB_TMP/watcher.out"
check grep -q "^client $cable_id cable $NS_ADDR:" "$LAB_TMP/watcher.out" -- "LIST shows the cable client at $NS_ADDR"
check grep -q "^delivered .* to $cable_id" "$LAB_TMP/watcher.out" -- "a message over the cable is delivered"
sleep 2.5   # a few heartbeats in the capture
show_server_socket

section "2. The cable is pulled (ip -n $NS link set $NS_IF down)"
ip -n "$NS" link set "$NS_IF" down
cut_at=$(date +%s.%N)
show_server_socket
after_cut=$(server_socket)
check [ -n "$after_cut" ] -- "right after the cut the server's connection is still ESTABLISHED"
explain <<'TXT'

Why: a TCP connection is only state kept by the two kernels. A FIN is sent when a program closes its socket, a RST when a kernel receives a segment for a connection it does not know; here neither happened, the client's packets just stop. As long as the server's kernel has nothing to send, it has no way to notice: the connection stays ESTABLISHED.
TXT

section "3. The watcher sends to the vanished client"
sleep 1
echo "/send $cable_id are you there?" >&"$watcher_fd"
sleep 0.5
show_server_socket
in_flight=$(server_socket | awk '{print $2}')
wait_for 20 grep -q "^not delivered to $cable_id" "$LAB_TMP/watcher.out" || true
grep "^not delivered to $cable_id" "$LAB_TMP/watcher.out" ||
  { echo "(no answer yet; the watcher's output so far:)"; cat "$LAB_TMP/watcher.out"; }
observe "server's Send-Q to the cable client after the SEND: ${in_flight:-gone} bytes unacknowledged"
check grep -q "^not delivered to $cable_id" "$LAB_TMP/watcher.out" -- "the SEND is answered NOT_DELIVERED"
explain <<'TXT'

Why: the server queued a MESSAGE for the client and its kernel sent it; no ACK comes back, so the bytes stay in Send-Q and the kernel retransmits them with growing intervals (ss timer:(on,...), the last number counts retransmissions). sockchat's delivery rule needs the client's ACK within the delivery timeout (2 s here), so the sender hears "not delivered" although, for TCP, the connection is still up.
TXT

section "4. The server gives up (idle timeout $IDLE s, heartbeat $HEARTBEAT s)"
left_line() { grep "client $cable_id ($NS_ADDR:[0-9]*) left:" "$LAB_TMP/server.log"; }
wait_for 30 left_line >/dev/null || true
dropped_at=$(date +%s.%N)
dropped_after=$(awk -v a="$dropped_at" -v b="$cut_at" 'BEGIN {printf "%.1f", a - b}')
left_line || echo "(the server did not drop the client)"
seen=$(wc -l <"$LAB_TMP/watcher.out")
echo "/list" >&"$watcher_fd"
second_list() { tail -n +$((seen + 1)) "$LAB_TMP/watcher.out"; }
second_list_done() { second_list | grep -q '(you)$'; }
list_without_cable() { second_list_done && ! second_list | grep -q "^client $cable_id "; }
wait_for 10 second_list_done || true
echo "watcher's second /list:"
second_list
observe "the server dropped the cable client about $dropped_after s after the cut"
check grep -q "client $cable_id ($NS_ADDR:[0-9]*) left:" "$LAB_TMP/server.log" -- "the server dropped the cable client"
check grep -q "client $cable_id ($NS_ADDR:[0-9]*) left: IDLE_TIMEOUT" "$LAB_TMP/server.log" -- "the server's log says why: IDLE_TIMEOUT"
check list_without_cable -- "LIST no longer has the cable client"
explain <<TXT

Why: the client sends a PING whenever it has sent nothing for the heartbeat interval ($HEARTBEAT s, announced in HELLO), so a live client is never silent for long; the server closes a connection from which no complete frame came for the idle timeout ($IDLE s): ERROR IDLE_TIMEOUT, presence LEFT, LIST without it. The heartbeat is what keeps a quiet but healthy client alive.

Without this application-level check, TCP keepalive would be the last resort. sockchatd sets it on every connection (common/net.cpp, set_keepalive): SO_KEEPALIVE with TCP_KEEPIDLE = idle/2 ($((IDLE / 2)) s), TCP_KEEPINTVL = idle/6 ($((IDLE / 6 > 0 ? IDLE / 6 : 1)) s), TCP_KEEPCNT = 3, and TCP_USER_TIMEOUT = the idle timeout: the kernel probes a silent peer and aborts the connection (ETIMEDOUT, seen by the server as a recv() error, reason CLOSED) at about the same time, and gives up on unacknowledged data after $IDLE s. With the kernel's defaults a dead peer is probed only after 2 hours (net.ipv4.tcp_keepalive_time = $(cat /proc/sys/net/ipv4/tcp_keepalive_time) s) and data is retransmitted for about 15 minutes (tcp_retries2): the connection would look alive that long. Heartbeats also catch what keepalive cannot: a peer whose kernel still answers but whose program hangs. With the default --idle-timeout 30 all of this happens after about 30 s.
TXT

section "5. The capture on $HOST_IF"
capture_stop
echo "\$ tshark -r cable.pcap -Y 'ip.src == $NS_ADDR' (the client's side; the last frames)"
tshark_read -Y "ip.src == $NS_ADDR" | tail -n 6
pings=$(tshark_read -Y "ip.src == $NS_ADDR && sockchat.type == 5" | grep -c . || true)
after=$(tshark_read -Y "ip.src == $NS_ADDR && frame.time_epoch > $cut_at" | grep -c . || true)
fin_rst=$(tshark_read -Y "ip.src == $NS_ADDR && (tcp.flags.fin == 1 || tcp.flags.reset == 1)" | grep -c . || true)
first=$(tshark_read -T fields -e frame.time_epoch -c 1)
last_frame=$(tshark_read -Y "ip.src == $NS_ADDR && sockchat" -T fields -e frame.time_epoch | tail -n 1)
silence=$(awk -v a="$dropped_at" -v b="${last_frame:-0}" 'BEGIN {printf "%.1f", a - b}')
server_after=$(tshark_read -Y "ip.src == $HOST_ADDR && frame.time_epoch > $cut_at" | grep -c . || true)
echo "the client's own view (--plain):"
cat "$LAB_TMP/cable.out"
observe "the cable was pulled $(awk -v a="$cut_at" -v b="${first:-$cut_at}" 'BEGIN {printf "%.1f", a - b}') s into the capture"
observe "from the client: $pings PING frames before the cut, $after frames after it, $fin_rst with FIN or RST"
observe "from the server after the cut: $server_after frames on the wire"
observe "the server dropped the client $silence s after the last sockchat frame from it"
check [ "$pings" -ge 1 ] -- "the capture saw the client's heartbeats"
check [ "$after" -eq 0 ] -- "nothing at all from the client after the cut"
check [ "$fin_rst" -eq 0 ] -- "no FIN or RST from the client"
check awk -v s="$silence" -v t="$IDLE" 'BEGIN {exit !(s >= t - 0.5 && s <= t + 4)}' -- "it was dropped after the idle timeout ($IDLE s) of silence"
explain <<TXT

Why: with its end of the cable down, the client's kernel cannot send anything, so the capture simply ends: no FIN, no RST, not even the heartbeat PINGs. The host end has lost its carrier too (ip link shows NO-CARRIER), so the server's retransmissions do not reach the wire either. The client noticed the loss the same way the server did: its PINGs got no answer for the idle timeout ("connection lost" above). Each side can only learn that the other is gone by waiting for something that does not come.
TXT
lab_finish
