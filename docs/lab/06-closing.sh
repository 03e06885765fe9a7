#!/usr/bin/env bash
# Experiment 6: closing a connection, FIN and TIME_WAIT.
#
# A client (--plain) asks for the server's name and reaches the end of its
# input: it says BYE, the server answers and both sides close.  tshark shows
# the closing packets (FIN from each side, each acknowledged); `ss -tano
# state time-wait` then finds the connection in TIME_WAIT on the side that
# sent the first FIN, with its timer: about 60 s on Linux.  With sockchat the
# client asks to leave, but the server closes first (it shuts down its side
# right after the BYE response), so TIME_WAIT lands on the server's side.
#
# Run:   sudo docs/lab/06-closing.sh          (root: capturing needs it)
# Look:  FIN, ACK / FIN, ACK after the BYE; the TIME_WAIT line, its local
#        port and its timer counting down from 60 s.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_binaries
need_root "capturing on lo"
need_tool tshark tshark
need_tool ss iproute2

# shellcheck disable=SC2119  # no extra server options
start_server
capture_start "$LAB_TMP/cap.pcap" "tcp port $LAB_PORT"

section "The client: /name, then end of input (BYE)"
echo /name | "$SOCKCHAT" --plain --nick student 127.0.0.1 "$LAB_PORT" >"$LAB_TMP/client.out" 2>&1 || true
sed 's/^/  | /' "$LAB_TMP/client.out"
# The client's port, from the server's log ("client 1 connected from
# 127.0.0.1:PORT").
CPORT=$(sed -n 's/.* connected from .*:\([0-9]*\)$/\1/p' "$LAB_TMP/server.log" | head -n 1)
TUPLE="( sport = :$LAB_PORT and dport = :$CPORT ) or ( sport = :$CPORT and dport = :$LAB_PORT )"
# tw_line: the connection's TIME_WAIT socket(s) as ss prints them.
tw_line() { ss -tanoH state time-wait "$TUPLE"; }
# Both ends are done with the connection once neither has a socket in a
# state other than TIME_WAIT (FIN_WAIT, CLOSE_WAIT, LAST_ACK...).
# shellcheck disable=SC2317  # called through wait_for
settled() { [ -z "$(ss -tanH exclude time-wait "$TUPLE")" ]; }
wait_for 20 settled || true
TW=$(tw_line)
capture_stop

section "The last packets of the connection (tshark)"
BYE_AT=$(tshark_read -Y 'sockchat.type == 9' -T fields -e frame.number | head -n 1)
tshark_read -Y "frame.number >= ${BYE_AT:-1}" \
  -T fields -e frame.number -e frame.time_relative -e tcp.srcport -e tcp.flags.str -e _ws.col.Info |
  awk -F'\t' -v port="$LAB_PORT" '{
    info = $5; sub(/^[0-9]+ → [0-9]+ +/, "", info); sub(/ Win=.*/, "", info)
    printf "  packet %-3s %8.6f s  %s  %s  %s\n", $1, $2,
      $3 == port ? "server -> client" : "client -> server", $4, info }' | tee "$LAB_TMP/last.txt"
FIRST_FIN=$(tshark_read -Y 'tcp.flags.fin == 1' -T fields -e tcp.srcport | head -n 1)
FINS=$(tshark_read -Y 'tcp.flags.fin == 1' -T fields -e tcp.srcport | sort -u | grep -c . || true)
RSTS=$(tshark_read -Y 'tcp.flags.reset == 1' -T fields -e frame.number | grep -c . || true)
if [ "$FIRST_FIN" = "$LAB_PORT" ]; then CLOSER=server; CLOSER_PORT=$LAB_PORT; else CLOSER=client; CLOSER_PORT=$CPORT; fi
observe "the first FIN came from the $CLOSER (port $CLOSER_PORT); FIN senders: $FINS side(s); RST packets: $RSTS"
explain <<'TXT'

The client sends BYE; the server answers OK and then calls
shutdown(SHUT_WR): its FIN says "I will send nothing more".  The client
reads the OK, closes its socket, and its kernel sends the client's FIN.
Each FIN is acknowledged.  (The server keeps reading until the client's
FIN before it calls close(): unread input at close() makes the kernel
answer with an RST, which could destroy data still in flight.)  A TCP
connection is two one-way streams; each side closes its own.
TXT

section "TIME_WAIT (ss -tano state time-wait, this connection's 4-tuple)"
echo "  Recv-Q Send-Q Local Address:Port Peer Address:Port Timer"
echo "  ${TW//$'\n'/$'\n'  }"
# tw_seconds: the TIME_WAIT timer in seconds (timer:(timewait,59sec,0)).
tw_seconds() { sed -n 's/.*timer:(timewait,\([0-9.]*\)\(m\{0,1\}s\)ec.*/\1 \2/p' <<<"$1" |
  awk 'NR == 1 { print ($2 == "ms" ? 0 : int($1)) }'; }
TW_LOCAL_PORTS=$(awk '{ split($3, a, ":"); print a[length(a)] }' <<<"$TW" | sort -u | tr '\n' ' ')
T1=$(tw_seconds "$TW")
sleep 2
TW2=$(tw_line)
T2=$(tw_seconds "$TW2")
echo "  two seconds later:"
echo "  ${TW2//$'\n'/$'\n'  }"
observe "TIME_WAIT on local port(s) $TW_LOCAL_PORTS(the server is $LAB_PORT, the client was $CPORT); timer ${T1:-?} s, then ${T2:-?} s"
explain <<'TXT'
The side that closes first (sends the first FIN) ends in TIME_WAIT and
keeps the 4-tuple (both addresses, both ports) reserved for 60 seconds on
Linux (TCP_TIMEWAIT_LEN, fixed in the kernel; net.ipv4.tcp_fin_timeout is
another timer, for FIN_WAIT_2).  Why wait: the last ACK may be lost, and
then the peer retransmits its FIN, which must be answered with an ACK, not
an RST; and old duplicate segments of this connection must die out before
a new connection with the same 4-tuple could take them for its own.  The
other side, after its FIN is acknowledged, forgets the connection at once.
Here the server closes first, so the server holds the TIME_WAIT entries:
one per finished connection, at the server's port.  That costs the server
little (a small kernel structure, no process, no file descriptor) and does
not keep it from listening again (it sets SO_REUSEADDR).
TXT

section "Checks"
check grep -q 'BYE request' "$LAB_TMP/last.txt" -- "the client's BYE request is in the capture"
check grep -q 'BYE response' "$LAB_TMP/last.txt" -- "the server's BYE response is in the capture"
check test "$FINS" -eq 2 -- "both sides sent a FIN"
check test "$RSTS" -eq 0 -- "no RST: an orderly close"
check test -n "$TW" -- "the connection is in TIME_WAIT after both FINs"
check grep -qw "$CLOSER_PORT" <<<"$TW_LOCAL_PORTS" -- \
  "TIME_WAIT is on the side that sent the first FIN (the $CLOSER, port $CLOSER_PORT)"
check test "${T1:-0}" -gt 0 -a "${T1:-99}" -le 60 -- "its timer is at most 60 s (${T1:-?} s)"
check test "${T2:-99}" -lt "${T1:-0}" -- "and counts down (${T1:-?} s, then ${T2:-?} s)"
lab_finish
