#!/usr/bin/env bash
# Experiment 1: the packets of every function.
#
# A server and one client on loopback.  The client (--plain) connects, asks
# for the time, the server's name and the client list, sends a message to
# itself and quits, one command at a time.  tshark captures everything on
# lo; the sockchat dissector decodes each frame: REQUEST (client to server),
# RESPONSE (same type and id, server to client) and INDICATION (unsolicited:
# HELLO, MESSAGE).  Then the TIME, NAME and LIST responses are shown byte by
# byte, with where the time, the name and each client entry sit.
#
# Run:   sudo docs/lab/01-packets.sh          (root: capturing needs it)
# Look:  every request has a response with the same type and id; the 16-byte
#        header is one hexdump row; the payload starts at offset 16.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_binaries
need_root "capturing on lo"
need_tool tshark tshark

# shellcheck disable=SC2119  # no extra server options
start_server
capture_start "$LAB_TMP/cap.pcap" "tcp port $LAB_PORT"

# The client reads its commands from a fifo, so each one can wait for the
# answer to the one before.
# Our end is opened read-write first (that never blocks); the client gets
# the read end without a copy of ours, so closing ours is its EOF.
mkfifo "$LAB_TMP/in"
exec 3<>"$LAB_TMP/in"
: >"$LAB_TMP/client.out"
# (Not lab_bg: a background command's stdin must be redirected on the
# command itself, or bash gives it /dev/null.)
"$SOCKCHAT" --plain --nick student 127.0.0.1 "$LAB_PORT" \
  <"$LAB_TMP/in" 3>&- >"$LAB_TMP/client.out" 2>&1 &
CLIENT_PID=$!
LAB_PIDS+=("$CLIENT_PID")
# say COMMAND EXPECTED-OUTPUT-REGEX
say() {
  echo "$1" >&3
  wait_for 15 grep -qE "$2" "$LAB_TMP/client.out" ||
    { cat "$LAB_TMP/client.out"; echo "no answer to $1" >&2; exit 1; }
}

section "The client's session (sockchat --plain, commands typed one by one)"
wait_for 15 grep -q '^connected to' "$LAB_TMP/client.out" ||
  { cat "$LAB_TMP/client.out"; echo "the client did not connect" >&2; exit 1; }
MY_ID=$(sed -n 's/^connected to .* as client \([0-9]*\) .*/\1/p' "$LAB_TMP/client.out")
say /time '^time '
say /name '^name '
say /list '^clients '
say "/send $MY_ID hello myself" '^delivered '
echo /quit >&3
exec 3>&-
wait "$CLIENT_PID" || true
capture_stop
sed 's/^/  | /' "$LAB_TMP/client.out"

section "The first TCP segments: the handshake (tshark)"
tshark_read -c 4 -T fields -e frame.number -e tcp.srcport -e tcp.flags.str -e tcp.len |
  awk -F'\t' -v port="$LAB_PORT" '{
    printf "  packet %-4s %s  flags %s  %s payload bytes\n", $1,
      $2 == port ? "server -> client" : "client -> server", $3, $4 }' |
  tee "$LAB_TMP/first.txt"

section "Every sockchat frame in the capture (tshark with wireshark/sockchat.lua)"
# One line per TCP segment, several values per field when a segment carries
# several frames; awk splits them into one line per frame.
tshark_read -Y sockchat -T fields -E 'aggregator=|' \
  -e frame.number -e tcp.srcport -e sockchat.kind -e sockchat.type \
  -e sockchat.status -e sockchat.id -e sockchat.length >"$LAB_TMP/frames.tsv"
awk -F'\t' -v port="$LAB_PORT" '
  BEGIN {
    split("REQUEST RESPONSE INDICATION", K, " ")
    split("TIME NAME LIST SEND PING NICK ACK SUBSCRIBE BYE", T, " ")
    T[64] = "HELLO"; T[65] = "MESSAGE"; T[66] = "PRESENCE"; T[67] = "SHUTDOWN"; T[68] = "ERROR"
  }
  {
    dir = $2 == port ? "server -> client" : "client -> server"
    n = split($3, kind, "|"); split($4, type, "|"); split($5, st, "|")
    split($6, id, "|"); split($7, len, "|")
    for (i = 1; i <= n; i++)
      printf "  packet %-4s %s  %-10s %-9s status %-3s id %-4s payload %s bytes\n",
        $1, dir, K[kind[i]], T[type[i]], st[i], id[i], len[i]
  }' "$LAB_TMP/frames.tsv" | tee "$LAB_TMP/frames.txt"
explain <<'TXT'

Connecting is TCP's handshake (SYN, SYN-ACK, ACK: no sockchat bytes yet);
then the server speaks first with a HELLO indication (your client id, the
timers, the server name).  The client asks for its nick and subscribes to
presence events by itself, and lists the clients.  Every REQUEST (kind 1)
carries an id chosen by the client; its RESPONSE (kind 2) repeats the type
and the id, which is how a client that sends many requests matches the
answers.  The message to yourself shows the delivery rule: the server
forwards it as a MESSAGE indication (kind 3, id = message id), our client
prints it and confirms with an ACK request, and only then does the SEND
response arrive.  /quit is a BYE request; the OK response is the last frame.
A packet number listed twice is one TCP segment carrying two frames: TCP
moves bytes, not messages (experiment 4).
TXT

# frame_hex TSHARK-FILTER KIND TYPE: the hex of the last frame of that
# kind and type in the server's segments matching the filter.  It walks the
# segment's bytes frame by frame using each header's length field, exactly
# as a receiver does.
frame_hex() {
  tshark_read -Y "tcp.srcport == $LAB_PORT && $1" -T fields -e tcp.payload |
    awk -v want="$(printf '%02x%02x' "$2" "$3")" '
      function hex(h,   v, i) {
        for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
        return v
      }
      {
        gsub(/:/, ""); s = tolower($0)
        while (length(s) >= 32) {
          n = 32 + 2 * hex(substr(s, 25, 8))
          if (substr(s, 7, 4) == want) last = substr(s, 1, n)
          s = substr(s, n + 1)
        }
      }
      END { print last }'
}
# hexdump HEX: 16 bytes per row, offsets in decimal, as od would print it.
hexdump_rows() {
  fold -w 32 <<<"$1" | awk '{
    row = ""
    for (i = 1; i <= length($0); i += 2) row = row " " substr($0, i, 2)
    printf "  %04d %s\n", (NR - 1) * 16, row }'
}
# bytes HEX FROM COUNT: COUNT bytes from offset FROM, as hex digits.
bytes() { printf '%s' "${1:$(($2 * 2)):$(($3 * 2))}"; }

section "Where the data sits: the TIME response"
TIME_HEX=$(frame_hex sockchat.time.us 2 1)
hexdump_rows "$TIME_HEX"
TIME_US=$((16#$(bytes "$TIME_HEX" 16 8)))
ZONE_LEN=$((16#$(bytes "$TIME_HEX" 28 1)))
# shellcheck disable=SC2059  # the format is built from hex digits only
ZONE=$(printf "$(bytes "$TIME_HEX" 29 "$ZONE_LEN" | sed 's/../\\x&/g')" | tr -cd '[:alnum:]+-')
explain <<TXT
Row 0000 is the header: 53 43 magic "SC", 01 version, 02 kind RESPONSE,
01 type TIME, 00 status OK, 00 00 reserved; offsets 8-11: the id of the
request it answers, here $((16#$(bytes "$TIME_HEX" 8 4))); offsets 12-15: the payload length, here $((16#$(bytes "$TIME_HEX" 12 4))) bytes.
Numbers are big-endian.  The payload starts at offset 16: an i64 of
microseconds since 1970 (offsets 16-23), an i32 UTC offset in seconds
(24-27), then a str8 zone name: one length byte (28) and the letters
(29 on).
TXT
observe "server time $TIME_US us since the epoch = $(date -u -d "@$((TIME_US / 1000000))" '+%F %T') UTC, zone $ZONE"
tshark_read -Y sockchat.time.us -T fields -e sockchat.time.us -e sockchat.time.zone |
  sed 's/^/  tshark: /'

section "Where the data sits: the NAME response"
NAME_HEX=$(frame_hex sockchat.name 2 2)
hexdump_rows "$NAME_HEX"
DISSECTED_NAME=$(tshark_read -Y sockchat.name -T fields -e sockchat.name | head -n 1)
explain <<'TXT'
Type 02 NAME.  The payload is "text": the name's UTF-8 bytes fill the whole
payload, from offset 16 to the end; the header's length field is the only
thing that says where the name ends.
TXT
observe "the dissector decodes the server name as '$DISSECTED_NAME' (the server runs with --name lab-server)"

section "Where the data sits: the LIST response"
LIST_HEX=$(frame_hex sockchat.list.count 2 3)
hexdump_rows "$LIST_HEX"
# The last LIST response is the answer to our /list (the client lists once
# by itself after connecting).
LIST_FIELDS=$(tshark_read -Y sockchat.list.count -T fields -E 'aggregator=,' \
  -e sockchat.list.count -e sockchat.entry.id -e sockchat.entry.addr -e sockchat.entry.nick | tail -n 1)
IFS=$'\t' read -r LIST_COUNT ENTRY_IDS ENTRY_ADDRS ENTRY_NICKS <<<"$LIST_FIELDS"
ENTRIES=$(tr ',' '\n' <<<"$ENTRY_IDS" | grep -c . || true)
explain <<TXT
Type 03 LIST.  Offsets 16-19: u32 count.  Then one entry per client, here
from offset 20: u32 client id (20-23), the address as family byte 04 (24),
four IPv4 bytes 7f 00 00 01 = 127.0.0.1 (25-28) and a u16 port (29-30:
$(bytes "$LIST_HEX" 29 1) $(bytes "$LIST_HEX" 30 1) = $((16#$(bytes "$LIST_HEX" 29 2)))), an i64 connected-at in microseconds (31-38), and
a str8 nick: length byte (39) and the letters (40 on).  A second client
would start right after.
TXT
observe "LIST count $LIST_COUNT, entries decoded: $ENTRIES (ids $ENTRY_IDS, address $ENTRY_ADDRS, nick $ENTRY_NICKS)"

section "Checks"
# has KIND TYPE: a frame of that kind and type is in the capture.
# shellcheck disable=SC2317  # called through check
has() { grep -qE "^  packet .* $1 +$2 " "$LAB_TMP/frames.txt"; }
# shellcheck disable=SC2016  # an awk program
check awk 'NR == 1 { exit !($7 ~ /S/ && $7 !~ /A/) }' "$LAB_TMP/first.txt" -- \
  "the capture starts with the handshake's SYN (client to server, no ACK)"
check has INDICATION HELLO -- "HELLO indication (kind 3) opens the connection"
for f in TIME NAME LIST SEND ACK BYE; do
  check has REQUEST "$f" -- "$f request (kind 1) captured"
  check has RESPONSE "$f" -- "$f response (kind 2) captured"
done
check has INDICATION MESSAGE -- "MESSAGE indication (kind 3) carries the message to ourselves"
# Every request id has a response with the same id and type.
unanswered=$(awk '$6 == "REQUEST" {r[$7 " " $11]++} $6 == "RESPONSE" {a[$7 " " $11]++}
  END {for (k in r) if (!(k in a)) n++; print n + 0}' "$LAB_TMP/frames.txt")
check test "$unanswered" -eq 0 -- "every request id has a response of the same type and id ($unanswered unanswered)"
check test "$DISSECTED_NAME" = lab-server -- "the NAME response decodes to the server's --name"
CLIENT_COUNT=$(sed -n 's/^clients \([0-9]*\).*/\1/p' "$LAB_TMP/client.out" | tail -n 1)
check test "$LIST_COUNT" = "$ENTRIES" -- "LIST count ($LIST_COUNT) equals the entries in the frame ($ENTRIES)"
check test "$LIST_COUNT" = "$CLIENT_COUNT" -- "LIST count equals what the client printed (clients $CLIENT_COUNT)"
check test "$ENTRY_IDS" = "$MY_ID" -- "the only entry is us (client $MY_ID)"
NOW=$(date +%s)
check test $((NOW - TIME_US / 1000000)) -lt 300 -a $((TIME_US / 1000000 - NOW)) -lt 300 -- \
  "the TIME payload's first 8 bytes are now, in microseconds"
lab_finish
