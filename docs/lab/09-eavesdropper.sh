#!/usr/bin/env bash
# Experiment 9: what an eavesdropper sees.
#
# One server with a plaintext and a TLS listener (a certificate from a CA
# this script makes with the openssl command).  The same session twice:
# alice sends herself a secret over plaintext, bob over TLS, with
# SSLKEYLOGFILE set so that his client writes the session keys to a file,
# as curl and browsers do.  tshark captures both on lo.  Then the capture
# is read three ways: as raw bytes (the plaintext secret is there, the TLS
# one is not), through the sockchat dissector (every frame of the plaintext
# session, nothing of the TLS one but records), and with the key log
# (tls.keylog_file): the TLS session's frames decoded by the same
# dissector, found through the ALPN "sockchat/1" the client offered.
#
# Run:   sudo docs/lab/09-eavesdropper.sh          (root: capturing needs it)
# Look:  who holds the key log can read everything: keep it as secret as a
#        password, and never set SSLKEYLOGFILE outside an experiment.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_binaries
need_root "capturing on lo"
need_tool tshark tshark
need_tool openssl openssl

section "A CA and a server certificate for 127.0.0.1 (openssl)"
(
  cd "$LAB_TMP"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=sockchat lab CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile ext.cnf -out server.pem 2>/dev/null
)
openssl x509 -in "$LAB_TMP/server.pem" -noout -subject -issuer -ext subjectAltName | sed 's/^/  | /'

start_server --tls-cert "$LAB_TMP/server.pem" --tls-key "$LAB_TMP/server.key" \
  --tls-port 0 --tls-port-file "$LAB_TMP/tls-port"
wait_for 10 test -s "$LAB_TMP/tls-port" || { cat "$LAB_TMP/server.log"; exit 1; }
TLS_PORT=$(cat "$LAB_TMP/tls-port")
observe "plaintext port $LAB_PORT, TLS port $TLS_PORT"
capture_start "$LAB_TMP/cap.pcap" "tcp port $LAB_PORT or tcp port $TLS_PORT"

# session NICK SECRET [client options...]: connect, send SECRET to oneself,
# wait for "delivered", quit.  The client's lines go to $LAB_TMP/NICK.out.
session() {
  local nick=$1 secret=$2; shift 2
  mkfifo "$LAB_TMP/$nick.in"
  exec 3<>"$LAB_TMP/$nick.in"
  : >"$LAB_TMP/$nick.out"
  "$SOCKCHAT" --plain --nick "$nick" "$@" <"$LAB_TMP/$nick.in" 3>&- \
    >"$LAB_TMP/$nick.out" 2>&1 &
  local pid=$!
  LAB_PIDS+=("$pid")
  wait_for 15 grep -q '^connected to' "$LAB_TMP/$nick.out" ||
    { cat "$LAB_TMP/$nick.out"; echo "$nick did not connect" >&2; exit 1; }
  local id
  id=$(sed -n 's/^connected to .* as client \([0-9]*\) .*/\1/p' "$LAB_TMP/$nick.out")
  echo "/send $id $secret" >&3
  wait_for 15 grep -q '^delivered ' "$LAB_TMP/$nick.out" ||
    { cat "$LAB_TMP/$nick.out"; echo "$nick's message was not delivered" >&2; exit 1; }
  echo /quit >&3
  exec 3>&-
  wait "$pid" || true
  sed 's/^/  | /' "$LAB_TMP/$nick.out"
}

section "alice, plaintext: sockchat --plain 127.0.0.1 $LAB_PORT"
session alice "my PIN is 4711-plain" 127.0.0.1 "$LAB_PORT"
section "bob, TLS: SSLKEYLOGFILE=keys.log sockchat --plain --tls --tls-ca ca.pem 127.0.0.1 $TLS_PORT"
SSLKEYLOGFILE="$LAB_TMP/keys.log" \
  session bob "my PIN is 4711-tls" --tls --tls-ca "$LAB_TMP/ca.pem" 127.0.0.1 "$TLS_PORT"
capture_stop

section "1. The raw bytes on the wire (grep -c on the capture file)"
plain_hits=$(grep -c -a "4711-plain" "$LAB_TMP/cap.pcap" || true)
tls_hits=$(grep -c -a "4711-tls" "$LAB_TMP/cap.pcap" || true)
observe "alice's secret appears $plain_hits time(s) in the capture, bob's $tls_hits time(s)"
check [ "$plain_hits" -ge 1 ] -- "the plaintext secret can be read straight from the capture"
check [ "$tls_hits" -eq 0 ] -- "the TLS secret is nowhere in the capture"
explain <<'TXT'
Anyone on the path (a shared Wi-Fi, a router, a tap) reads a plaintext
session as easily as grep does here: the message, the nicks, the addresses.
With TLS the same bytes are encrypted records; the secret is not in them.
TXT

# frames [tshark options]: one line per sockchat frame, "PORT TYPE text".
frames() {
  tshark -r "$LAB_TMP/cap.pcap" -X lua_script:"$SOCKCHAT_DISSECTOR" \
    -d "tcp.port==$LAB_PORT,sockchat" -d "tcp.port==$TLS_PORT,tls" "$@" \
    -Y sockchat -T fields -E 'aggregator=|' -e tcp.srcport -e tcp.dstport \
    -e sockchat.type -e sockchat.text 2>/dev/null
}

# on_tls_port FILE: the lines of frames() output to or from the TLS port.
on_tls_port() { awk -F'\t' -v p="$TLS_PORT" '$1 == p || $2 == p' "$1"; }

section "2. The sockchat dissector without the keys"
echo "  source port, destination port, frame types (64 HELLO, 6 NICK, 8 SUBSCRIBE, 3 LIST,"
echo "  4 SEND, 65 MESSAGE, 7 ACK, 9 BYE; a|b: two frames in one segment), text:"
frames >"$LAB_TMP/nokeys.tsv"
sed 's/^/  | /' "$LAB_TMP/nokeys.tsv" | head -n 20
on_tls_port "$LAB_TMP/nokeys.tsv" >"$LAB_TMP/nokeys-tls.tsv"
observe "$(grep -c . "$LAB_TMP/nokeys.tsv") lines of frames, $(grep -c . "$LAB_TMP/nokeys-tls.tsv") of them on the TLS port"
check grep -q "4711-plain" "$LAB_TMP/nokeys.tsv" -- "the dissector shows alice's message text"
check test ! -s "$LAB_TMP/nokeys-tls.tsv" -- "without the keys no sockchat frame of bob's session is decoded"
echo "  what tshark makes of the TLS port without the keys (count, packet summary):"
tshark -r "$LAB_TMP/cap.pcap" -d "tcp.port==$TLS_PORT,tls" -Y "tcp.port==$TLS_PORT && tls" \
  -T fields -e _ws.col.Info 2>/dev/null | sort | uniq -c | sort -rn | sed 's/^/  | /' | head -n 8
tshark -r "$LAB_TMP/cap.pcap" -d "tcp.port==$TLS_PORT,tls" -Y "tls.handshake.type == 1" \
  -T fields -e tls.handshake.extensions_alpn_str 2>/dev/null | sed 's/^/  | ALPN in the ClientHello: /'
check bash -c "tshark -r '$LAB_TMP/cap.pcap' -d 'tcp.port==$TLS_PORT,tls' -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.extensions_alpn_str 2>/dev/null | grep -q sockchat/1" -- "the ClientHello names the protocol in the clear (ALPN)"
explain <<'TXT'
What the eavesdropper still learns from a TLS session: that it happened,
when, between which addresses and ports, how many bytes each way, and the
ClientHello in the clear (its ALPN "sockchat/1" names the protocol). Not
what was said: the rest is "Application Data".
TXT

section "3. With the key log (tshark -o tls.keylog_file:keys.log)"
check test -s "$LAB_TMP/keys.log" -- "the client wrote its session secrets to SSLKEYLOGFILE"
sed -E 's/ [0-9a-f]{16,}/ …/g' "$LAB_TMP/keys.log" | head -n 5 | sed 's/^/  | /'
frames -o "tls.keylog_file:$LAB_TMP/keys.log" >"$LAB_TMP/keys.tsv"
on_tls_port "$LAB_TMP/keys.tsv" | tee "$LAB_TMP/keys-tls.tsv" | sed 's/^/  | /' | head -n 20
check grep -q "4711-tls" "$LAB_TMP/keys-tls.tsv" -- "with the keys, bob's message is decoded by the sockchat dissector"
explain <<'TXT'
The key log holds the secrets of each TLS session (one line per secret,
named by the session's client random). With it Wireshark decrypts the
records and hands the plaintext to the sockchat dissector, which it finds
through the ALPN the client offered. This is how you debug your own TLS
traffic; whoever gets the file can read every session it covers.
TXT

lab_finish
