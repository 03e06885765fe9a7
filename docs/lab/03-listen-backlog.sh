#!/usr/bin/env bash
# Experiment 3: listen() before accept() -- the kernel's accept queue.
#
# A tiny server, listen-pause (docs/lab/listen-pause.cpp), calls listen()
# with a backlog of 2 and then sleeps instead of calling accept().  Four
# clients (a few lines of python3) try to connect and send a greeting.
#
# Run:  docs/lab/03-listen-backlog.sh      (no root needed; python3 and ss)
#       docs/lab/03-listen-backlog.sh --check   (the same, as a test)
#
# What to look for:
#  - clients 1-3: connect() returns at once although nobody called accept():
#    the kernel completed the three-way handshake and queued the connection;
#    `ss -tn` shows them ESTABLISHED on both sides, the greeting waiting in
#    the server side's Recv-Q;
#  - `ss -ltn`: the listener's Recv-Q is the number of queued connections (3),
#    its Send-Q the backlog (2): Linux queues backlog + 1;
#  - client 4: the queue is full, so the kernel drops its SYN; its connect()
#    hangs in SYN-SENT and the SYN is retransmitted (`ss -tno` timer);
#  - once listen-pause calls accept(), it gets the three queued connections
#    with the bytes they had sent, and client 4 gets in at its next SYN.

. "$(dirname "$0")/lib.sh"
lab_binaries
need_tool python3 python3
need_tool ss iproute2

BACKLOG=2
LISTEN=${SOCKCHAT_LAB_LISTEN:-$LAB_ROOT/build/docs/lab/listen-pause}
if [ ! -x "$LISTEN" ] && [ -d "$LAB_ROOT/build" ]; then
  meson compile -C "$LAB_ROOT/build" listen-pause >&2 || true
fi
[ -x "$LISTEN" ] || lab_skip "listen-pause is not built ($LISTEN); run: meson compile -C build"

# The clients: non-blocking connect() so that a hanging one can be shown;
# each that connects sends one line.  They stay open until $LAB_TMP/done
# exists, and the unconnected ones keep trying once $LAB_TMP/release does.
cat >"$LAB_TMP/clients.py" <<'PY'
import os, select, socket, sys, time
port, count, tmp = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def wait_file(name, limit):
    end = time.monotonic() + limit
    while not os.path.exists(os.path.join(tmp, name)) and time.monotonic() < end:
        time.sleep(0.05)

def finish_connect(s, limit):
    _, writable, _ = select.select([], [s], [], limit)
    return bool(writable) and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0

pending = []
for k in range(1, count + 1):
    s = socket.socket()
    s.setblocking(False)
    start = time.monotonic()
    s.connect_ex(("127.0.0.1", port))
    port_k = s.getsockname()[1]
    if finish_connect(s, 3.0):
        print(f"client {k}: connect() returned after {time.monotonic() - start:.3f} s, "
              f"local port {port_k}", flush=True)
        s.send(b"hello from client %d\n" % k)
    else:
        print(f"client {k}: connect() NOT finished after 3.0 s, local port {port_k}", flush=True)
        pending.append((k, s, start))
    globals().setdefault("keep", []).append(s)

wait_file("release", 60)
for k, s, start in pending:
    if finish_connect(s, 30.0):
        print(f"client {k}: connect() returned after {time.monotonic() - start:.1f} s", flush=True)
        s.send(b"hello from client %d\n" % k)
    else:
        print(f"client {k}: connect() still not finished", flush=True)
wait_file("done", 60)
PY

# ss lines of the experiment's port; $1: extra ss options.
ss_port() { ss -Htan "( sport = :$PORT or dport = :$PORT )"; }
count_lines() { grep -c "$@" || true; }

section "1. A server that listens but does not accept"
rm -f "$LAB_TMP/port"
lab_bg "$LISTEN" --port 0 --port-file "$LAB_TMP/port" --backlog "$BACKLOG" \
  --pause 60 --accept-for 40 >"$LAB_TMP/listen.out" 2>&1
LISTEN_PID=$LAB_PID
wait_for 10 test -s "$LAB_TMP/port" || { cat "$LAB_TMP/listen.out"; exit 1; }
PORT=$(cat "$LAB_TMP/port")
cat "$LAB_TMP/listen.out"
echo "\$ ss -ltn 'sport = :$PORT'"
ss -ltn "sport = :$PORT"

section "2. Four clients connect while nobody calls accept()"
lab_bg python3 "$LAB_TMP/clients.py" "$PORT" 4 "$LAB_TMP" >"$LAB_TMP/clients.out" 2>&1
wait_for 40 grep -q "^client 4:" "$LAB_TMP/clients.out" ||
  { cat "$LAB_TMP/clients.out"; echo "the clients did not report" >&2; exit 1; }
cat "$LAB_TMP/clients.out"
echo "The server's side (local port $PORT): the listener and the queued connections"
echo "\$ ss -tan '( sport = :$PORT )'"
ss -tan "( sport = :$PORT )"
echo "The clients' side (peer port $PORT):"
echo "\$ ss -tan '( dport = :$PORT )'"
ss -tan "( dport = :$PORT )"
before_accept=$(count_lines "pause over" "$LAB_TMP/listen.out")
early=$(count_lines "connect() returned" "$LAB_TMP/clients.out")
listener=$(ss -Hltn "sport = :$PORT")
queued=$(awk '{print $2}' <<<"$listener")
backlog_shown=$(awk '{print $3}' <<<"$listener")
# Server-side sockets: local port is $PORT; Recv-Q holds each greeting.
server_side=$(ss_port | awk -v p=":$PORT" '$1 == "ESTAB" && $4 ~ p"$"')
waiting_bytes=$(awk '$2 > 0' <<<"$server_side" | wc -l)
observe "$early of 4 connect() calls returned while listen-pause had not called accept()"
observe "listener: Recv-Q $queued (connections queued), Send-Q $backlog_shown (backlog)"
observe "$(wc -l <<<"$server_side") server-side sockets ESTABLISHED before accept(), $waiting_bytes holding unread bytes"
check [ "$before_accept" -eq 0 ] -- "listen-pause had not called accept() yet"
check [ "$early" -eq $((BACKLOG + 1)) ] -- "backlog + 1 = $((BACKLOG + 1)) connect() calls succeeded before accept()"
check [ "$queued" = $((BACKLOG + 1)) ] -- "the listener's Recv-Q shows $((BACKLOG + 1)) queued connections"
check [ "$backlog_shown" = "$BACKLOG" ] -- "the listener's Send-Q shows the backlog, $BACKLOG"
check [ "$waiting_bytes" -eq $((BACKLOG + 1)) ] -- "the greetings wait in the queued sockets' Recv-Q"
explain <<'TXT'

Why: the three-way handshake (SYN, SYN-ACK, ACK) is done by the kernel, not by the program. listen() tells the kernel to answer SYNs for this port; each completed connection is put in the listening socket's accept queue, a fully working TCP connection that can already receive data: the greetings sit in its receive buffer (Recv-Q). accept() only takes the next connection out of that queue and gives the program a file descriptor for it. For a listening socket, ss shows the queue length as Recv-Q and the backlog passed to listen() as Send-Q.
TXT

section "3. The queue is full: the fourth client hangs"
echo "\$ ss -tno state syn-sent '( dport = :$PORT )'"
ss -tno state syn-sent "( dport = :$PORT )"
syn_sent=$(ss -Htno state syn-sent "( dport = :$PORT )")
late_port=$(awk '/NOT finished/ {print $NF}' "$LAB_TMP/clients.out")
observe "client 4 (local port ${late_port:-?}) in SYN-SENT: $(grep -c . <<<"$syn_sent") socket(s), $(grep -o 'timer:([^)]*)' <<<"$syn_sent" || echo 'no timer')"
observe "here: net.core.somaxconn = $(cat /proc/sys/net/core/somaxconn), net.ipv4.tcp_abort_on_overflow = $(cat /proc/sys/net/ipv4/tcp_abort_on_overflow), net.ipv4.tcp_syn_retries = $(cat /proc/sys/net/ipv4/tcp_syn_retries)"
check grep -q "^client 4: connect() NOT finished" "$LAB_TMP/clients.out" -- "client 4's connect() did not finish in 3 s"
check grep -q ":${late_port:-none} " <<<"$syn_sent" -- "client 4's socket is in SYN-SENT"
explain <<'TXT'

Why: Linux lets the accept queue hold backlog + 1 connections (the backlog itself is capped by net.core.somaxconn). With the queue full, the kernel drops new SYNs without an answer, so the client sits in SYN-SENT and retransmits its SYN (the third number in ss's timer:(on,...,N) counts the retransmissions; net.ipv4.tcp_syn_retries decides when it gives up with ETIMEDOUT). Dropping is deliberate: the client retries by itself, and a server that is only briefly busy loses nobody. A client whose SYN came in while there was room, but whose final ACK arrives when the queue has filled up, is treated alike: the ACK is ignored and the server's SYN-ACK repeated later. With net.ipv4.tcp_abort_on_overflow=1 the kernel answers that ACK with a RST instead: the client, whose connect() had already returned, sees "connection reset" at its first read or write.
TXT

section "4. listen-pause calls accept()"
kill -USR1 "$LISTEN_PID"
touch "$LAB_TMP/release"
wait_for 40 grep -q "accepted connection 4 " "$LAB_TMP/listen.out" || true
wait_for 5 grep -q "^client 4: connect() returned" "$LAB_TMP/clients.out" || true
touch "$LAB_TMP/done"
tail -n +2 "$LAB_TMP/listen.out"
grep "^client 4: connect() returned\|still not" "$LAB_TMP/clients.out" || true
served=0
for k in 1 2 3; do
  grep -q "accepted connection $k from .*\"hello from client $k\\\\n\"" "$LAB_TMP/listen.out" &&
    served=$((served + 1))
done
observe "$served queued connections accepted with the greeting they had sent before accept()"
check [ "$served" -eq $((BACKLOG + 1)) ] -- "accept() returned the queued connections and their data"
check grep -q "accept queue: $((BACKLOG + 1)) connection(s) waiting" "$LAB_TMP/listen.out" -- "TCP_INFO saw the full queue before the first accept()"
check grep -q "^client 4: connect() returned" "$LAB_TMP/clients.out" -- "client 4 got in once the queue had room"
explain <<'TXT'

Why: accept() found the connections the kernel had queued, in the order their handshakes completed, each with the bytes its client sent long before. Client 4 was never refused: its next SYN retransmission found room in the queue and the handshake completed, which is why a busy server seems slow rather than down. A real server (sockchatd) calls accept() in a loop as soon as poll() says the listening socket is readable, so the queue normally stays empty.
TXT
lab_finish
