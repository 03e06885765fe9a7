#!/usr/bin/env bash
# Experiment 4: send() calls, TCP segments and frames are three different
# things.
#
# One client (--plain) under strace, the server under strace too, tshark on
# lo.  The client asks /time 100 (100 pipelined TIME requests), sends a
# burst of 50 messages to itself, then one message of 150 000 bytes.  The
# script counts, for each direction, the send() calls (strace), the TCP
# segments that carry data (tshark, tcp.len > 0) and the sockchat frames
# (the dissector), and explains the differences: our two programs set
# TCP_NODELAY (Nagle off), the client writes a whole /time batch with one
# send(), the server answers everything it read with one send(), the kernel
# merges small writes (autocorking) and splits large ones (MSS), and so a
# receiver can only find the frames from the header's length field.  A
# naive python3 client that writes each request with its own send() shows
# Nagle's algorithm at work, for comparison.
#
# Run:   sudo docs/lab/04-segments.sh          (root: capture and strace)
# Look:  Nagle on: fewer segments than send() calls;
#        100 requests in 1 send() and 1 segment; 100 responses in far fewer
#        send() calls; one 150 KB send() in several segments.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_binaries
need_root "capturing on lo and tracing the server"
need_tool tshark tshark
need_tool strace strace
need_tool python3 python3

BIG=150000      # bytes in the large message: more than one loopback segment
BURST=50        # messages in the burst (below the server's rate limit)

# Requests up to 200 000 bytes, so the large message is allowed.
start_server --max-payload 200000
# strace -f on the running server follows the thread it starts for our
# connection.  It says "attached" once it traces.
lab_bg strace -f -s 16 -e trace=sendto,recvfrom,setsockopt \
  -o "$LAB_TMP/server.trace" -p "$LAB_SERVER_PID" 2>"$LAB_TMP/strace.log"
SERVER_STRACE=$LAB_PID
# Attaching needs ptrace rights over a process that is not our child
# (kernel.yama.ptrace_scope, container limits): without them, skip.
wait_for 20 grep -q attached "$LAB_TMP/strace.log" ||
  lab_skip "strace cannot attach to the running server here: $(head -n 1 "$LAB_TMP/strace.log")"
capture_start "$LAB_TMP/cap.pcap" "tcp port $LAB_PORT"

# The client reads its commands from a fifo, so each step can wait for the
# one before; closing our end is its end of input (then BYE, exit).
mkfifo "$LAB_TMP/in"
exec 3<>"$LAB_TMP/in"
: >"$LAB_TMP/client.out"
strace -f -s 16 -e trace=sendto,setsockopt -o "$LAB_TMP/client.trace" \
  "$SOCKCHAT" --plain --nick student 127.0.0.1 "$LAB_PORT" \
  <"$LAB_TMP/in" 3>&- >"$LAB_TMP/client.out" 2>&1 &
CLIENT_PID=$!
LAB_PIDS+=("$CLIENT_PID")
# lines REGEX: how many client output lines match.
lines() { grep -cE "$1" "$LAB_TMP/client.out" || true; }
# step SECONDS CONDITION...: wait for the client, or stop with its output.
step() {
  wait_for "$@" || { cut -c1-120 "$LAB_TMP/client.out"; echo "client stuck at: $*" >&2; exit 1; }
}
# shellcheck disable=SC2317  # called through step
ge() { [ "$(lines "$1")" -ge "$2" ]; }

step 20 ge '^connected to' 1
MY_ID=$(sed -n 's/^connected to .* as client \([0-9]*\) .*/\1/p' "$LAB_TMP/client.out")
echo "/time 100" >&3
step 30 ge '^[0-9]+/100 responses' 1
for i in $(seq "$BURST"); do echo "/send $MY_ID burst $i"; done >&3
step 30 ge '^delivered ' "$BURST"
printf '/send %s %s\n' "$MY_ID" "$(head -c "$BIG" /dev/zero | tr '\0' x)" >&3
step 30 ge '^delivered ' $((BURST + 1))
exec 3>&-
wait "$CLIENT_PID" || true
kill -INT "$SERVER_STRACE" 2>/dev/null || true
wait "$SERVER_STRACE" 2>/dev/null || true

# A naive client for comparison: a few lines of python3 that write each
# TIME request with its own send(), once with Nagle on (the default) and
# once with TCP_NODELAY.  It prints its port and its send() count.
cat >"$LAB_TMP/naive.py" <<'PY'
import socket, struct, sys
port, nodelay, count = int(sys.argv[1]), sys.argv[2] == "nodelay", int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=30)
if nodelay:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def frame():  # one whole frame, found by its length field
    def exactly(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            if not chunk:
                sys.exit("server closed")
            b += chunk
        return b
    header = exactly(16)
    exactly(struct.unpack(">I", header[12:16])[0])
def request(kind_type, rid):
    assert s.send(b"SC\x01\x01" + bytes([kind_type]) + b"\x00\x00\x00" + struct.pack(">II", rid, 0)) == 16
frame()  # HELLO
for i in range(1, count + 1):
    request(1, i)  # TIME
for i in range(count):
    frame()
request(9, count + 1)  # BYE
frame()
print(s.getsockname()[1], count + 1)
PY
NAGLE_OUT=$(python3 "$LAB_TMP/naive.py" "$LAB_PORT" nagle 100) || NAGLE_OUT=
NODELAY_OUT=$(python3 "$LAB_TMP/naive.py" "$LAB_PORT" nodelay 100) || NODELAY_OUT=
capture_stop

section "What the client printed (long lines cut)"
grep -vE '^(sending to|delivered|message from)' "$LAB_TMP/client.out" | cut -c1-100 | sed 's/^/  | /'
echo "  | ... $(lines '^delivered ') x 'delivered', the last one after the ${BIG}-byte message"

# ---------------------------------------------------------------------------
# Counting.

# sock_fd TRACE: the TCP socket, the fd on which TCP_NODELAY was set.
sock_fd() { sed -n 's/.*setsockopt(\([0-9]*\), SOL_TCP, TCP_NODELAY, \[1\].*/\1/p' "$1" | head -n 1; }
CFD=$(sock_fd "$LAB_TMP/client.trace")
SFD=$(sock_fd "$LAB_TMP/server.trace")
# calls TRACE FD SYSCALL [FIRST-BYTES]: successful calls on FD with data
# (whose buffer starts with FIRST-BYTES, as strace escapes them).
calls() {
  grep -E "^[0-9]+ +$3\($2, \"${4:-}" "$1" | grep -cE '\) = [1-9][0-9]*$' || true
}
# ours FILTER ARGS...: tshark_read limited to the sockchat client's
# connection, the first one in the capture.
ours() { tshark_read -Y "tcp.stream == 0 && ($1)" "${@:2}"; }
# The sockchat frames and data segments of one direction (client|server).
from() {
  if [ "$1" = server ]; then echo "tcp.srcport == $LAB_PORT"; else echo "tcp.srcport != $LAB_PORT"; fi
}
frames() {
  ours "sockchat && $(from "$1")" -T fields -E 'aggregator=,' -e sockchat.type |
    tr ',' '\n' | grep -c . || true
}
segments() { ours "tcp.len > 0 && $(from "$1")" -T fields -e tcp.len | grep -c . || true; }
# Segments that carry TIME requests / responses, big SEND pieces.
TIME_REQ_SEGS=$(ours "sockchat.kind == 1 && sockchat.type == 1" -T fields -e frame.number | grep -c . || true)
TIME_REQ_MAX=$(ours "sockchat.kind == 1 && sockchat.type == 1" -T fields -E 'aggregator=,' \
  -e sockchat.type | awk -F, '{ if (NF > m) m = NF } END { print m + 0 }')
TIME_RESP_SEGS=$(ours "sockchat.kind == 2 && sockchat.type == 1" -T fields -e frame.number | grep -c . || true)
BIG_SEGS=$(ours "sockchat.kind == 1 && sockchat.length > 100000" -T fields \
  -e tcp.segment.count | head -n 1)
BIG_MSG_SEGS=$(ours "sockchat.kind == 3 && sockchat.length > 100000" -T fields \
  -e tcp.segment.count | head -n 1)
C_TIME_CALLS=$(calls "$LAB_TMP/client.trace" "$CFD" sendto 'SC\\1\\1\\1\\0')
C_TIME_BYTES=$(grep -E "sendto\($CFD, \"SC\\\\1\\\\1\\\\1\\\\0" "$LAB_TMP/client.trace" |
  sed -n 's/.* = \([0-9]*\)$/\1/p' | head -n 1)
S_TIME_CALLS=$(calls "$LAB_TMP/server.trace" "$SFD" sendto 'SC\\1\\2\\1\\0')
C_BIG_CALLS=$(grep -E "sendto\($CFD, .* = [0-9]{6,}$" "$LAB_TMP/client.trace" | grep -c . || true)
C_SENDS=$(calls "$LAB_TMP/client.trace" "$CFD" sendto)
S_SENDS=$(calls "$LAB_TMP/server.trace" "$SFD" sendto)
S_RECVS=$(calls "$LAB_TMP/server.trace" "$SFD" recvfrom)
C_FRAMES=$(frames client); S_FRAMES=$(frames server)
C_SEGS=$(segments client); S_SEGS=$(segments server)

section "Nagle: who sets TCP_NODELAY (strace -e setsockopt)"
grep -h 'TCP_NODELAY' "$LAB_TMP/client.trace" | sed 's/^[0-9]* */  client: /'
grep -h 'TCP_NODELAY' "$LAB_TMP/server.trace" | sed 's/^[0-9]* */  server: /'
explain <<'TXT'

Nagle's algorithm (RFC 896, on by default) holds a small write back while
earlier data is still unacknowledged, to send fewer, fuller segments.  With
the receiver's delayed ACKs it can stall a request/response protocol for
tens of milliseconds, so interactive programs set TCP_NODELAY.  Both of ours
do: every send() is pushed out at once, and the sockchat client batches by
itself instead (below).  To see Nagle at work, a naive client (python3)
writes 100 TIME requests with one send() each, with Nagle on and off.
TXT
read -r NAGLE_PORT NAGLE_SENDS <<<"${NAGLE_OUT:-0 0}"
read -r NODELAY_PORT NODELAY_SENDS <<<"${NODELAY_OUT:-0 0}"
# seg_lens PORT: the payload sizes of that client's data segments.
seg_lens() { tshark_read -Y "tcp.srcport == $1 && tcp.len > 0" -T fields -e tcp.len | tr '\n' ' '; }
NAGLE_LENS=$(seg_lens "$NAGLE_PORT")
NODELAY_LENS=$(seg_lens "$NODELAY_PORT")
NAGLE_SEGS=$(wc -w <<<"$NAGLE_LENS")
NODELAY_SEGS=$(wc -w <<<"$NODELAY_LENS")
observe "Nagle on:    $NAGLE_SENDS send() calls of 16 bytes -> $NAGLE_SEGS data segments"
echo "  segment sizes: $(cut -d' ' -f1-24 <<<"$NAGLE_LENS")$([ "$NAGLE_SEGS" -gt 24 ] && echo ...)"
observe "TCP_NODELAY: $NODELAY_SENDS send() calls of 16 bytes -> $NODELAY_SEGS data segments"
echo "  segment sizes: $(cut -d' ' -f1-24 <<<"$NODELAY_LENS")$([ "$NODELAY_SEGS" -gt 24 ] && echo ...)"
explain <<'TXT'
With Nagle on, the first request leaves at once; the next ones are held
while it is unacknowledged, and the server's kernel delays its ACK to send
it with the answer.  When the answer arrives, everything written meanwhile
leaves as one segment (sizes that are multiples of 16).  With TCP_NODELAY
far more segments leave; they are not always one per send(): Linux
"autocorking" lets a small write join a segment still queued in the
kernel.  Exact numbers change from run to run; the way they compare does
not.
TXT

section "/time 100: 100 requests, how many send() calls and segments?"
ours "sockchat.type == 1" -T fields -E 'aggregator=,' \
  -e frame.number -e tcp.srcport -e tcp.len -e sockchat.type |
  awk -F'\t' -v port="$LAB_PORT" '{
    printf "  packet %-4s %s  %5s bytes  %3d TIME frames\n", $1,
      $2 == port ? "server -> client" : "client -> server", $3, split($4, a, ",") }'
observe "client: 100 TIME requests written with $C_TIME_CALLS send() call(s) of $C_TIME_BYTES bytes, carried by $TIME_REQ_SEGS segment(s)"
observe "server: 100 TIME responses written with $S_TIME_CALLS send() call(s), carried by $TIME_RESP_SEGS segment(s)"
explain <<'TXT'
Pipelining: the client builds all 100 frames (16 bytes each) and writes them
with a single send(), so one segment carries 100 frames.  The server reads
what arrived (all 1600 bytes fit in one recv()), answers every complete frame
into its output buffer and writes that buffer with one send().  Neither side
waits for an answer between requests: that is why 100 requests cost about
one round trip, not 100 (experiment 8 measures it).
TXT

section "One ${BIG}-byte message: one send(), several segments"
observe "client: one send() call of more than 100 000 bytes: $C_BIG_CALLS; tshark reassembled the SEND request from $BIG_SEGS segments and the MESSAGE indication from $BIG_MSG_SEGS"
explain <<'TXT'
A segment is at most one MSS: on lo (MTU 65536) about 65 000 bytes, on
Ethernet 1448.  The kernel cuts a large write into segments; the receiver's
recv() calls return whatever has arrived, a piece of a frame or several
frames, never "one message".  Wireshark shows "[N Reassembled TCP
Segments]" for frames it had to put back together.
TXT

section "The whole session"
printf '  %-18s %13s %14s %8s\n' "" "send() calls" "data segments" "frames"
printf '  %-18s %13s %14s %8s\n' "client -> server" "$C_SENDS" "$C_SEGS" "$C_FRAMES"
printf '  %-18s %13s %14s %8s\n' "server -> client" "$S_SENDS" "$S_SEGS" "$S_FRAMES"
observe "the server read the client's $C_SEGS segments with $S_RECVS recv() calls that returned data"
explain <<TXT
Three different counts.  Frames are the application's messages; send()
calls are how the program hands bytes to the kernel; segments are what the
kernel put on the wire.  The client makes one send() per SEND and per ACK
of the burst of $BURST messages; segments and send() calls come out close but
rarely equal: the large message is one send() but several segments, and
Linux "autocorking" may merge a small write into a segment still waiting
in the queue, even with TCP_NODELAY.  The server writes everything it has
at once (a MESSAGE and a SEND response can share a send()).  TCP delivers
a byte stream: it keeps the order of the bytes and nothing else.  That is
why every sockchat frame starts with a 16-byte header whose last field is
the payload length: the receiver reads the header, then exactly that many
bytes, and the next byte starts the next frame, however the bytes were cut
into segments and recv() results.
TXT

section "Checks"
check test "$NAGLE_SENDS" -eq 101 -a "$NAGLE_SEGS" -lt "$NAGLE_SENDS" -- \
  "Nagle on: fewer segments ($NAGLE_SEGS) than send() calls ($NAGLE_SENDS)"
check test -n "$CFD" -a -n "$SFD" -- "both sides set TCP_NODELAY (Nagle off) on their socket (client fd $CFD, server fd $SFD)"
check test "$C_TIME_CALLS" -eq 1 -a "${C_TIME_BYTES:-0}" -eq 1600 -- \
  "the client wrote /time 100 with one send() of 1600 bytes (100 frames x 16)"
check test "$TIME_REQ_MAX" -eq 100 -- "one segment carried all 100 TIME requests"
check test "$S_TIME_CALLS" -ge 1 -a "$S_TIME_CALLS" -lt 100 -- \
  "the server answered 100 requests with fewer send() calls ($S_TIME_CALLS) than responses"
check test "$C_SEGS" -lt "$C_FRAMES" -- "client -> server: fewer data segments ($C_SEGS) than frames ($C_FRAMES)"
check test "$S_SEGS" -lt "$S_FRAMES" -- "server -> client: fewer data segments ($S_SEGS) than frames ($S_FRAMES)"
check test "$C_SENDS" -lt "$C_FRAMES" -- "client: fewer send() calls ($C_SENDS) than frames ($C_FRAMES)"
check test "$S_SENDS" -lt "$S_FRAMES" -- "server: fewer send() calls ($S_SENDS) than frames ($S_FRAMES)"
check test "$C_BIG_CALLS" -eq 1 -a "${BIG_SEGS:-0}" -ge 2 -- \
  "the ${BIG}-byte SEND: one send() call, ${BIG_SEGS:-no} segments"
check test "$(lines '^delivered ')" -eq $((BURST + 1)) -- "all $((BURST + 1)) messages were delivered"
lab_finish
