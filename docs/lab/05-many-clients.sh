#!/usr/bin/env bash
# Experiment 5: many clients, one port -- how the server tells them apart.
#
# Starts sockchatd and four clients that stay connected at the same time,
# then looks at the server's sockets with `ss -tanp` and its threads.
#
# Run:  docs/lab/05-many-clients.sh      (no root needed; ss and ps)
#       docs/lab/05-many-clients.sh --check   (the same, as a test)
#
# What to look for:
#  - the server has one LISTEN socket and, per client, one more ESTABLISHED
#    socket (its own file descriptor, fd=N in ss), every one with the same
#    local address and port: only the peer's port differs -- the 4-tuple
#    (source IP, source port, destination IP, destination port) is what
#    names a connection;
#  - the server's LIST shows the same four peer addresses;
#  - sockchatd runs one thread per connection: four clients, four more
#    threads (ps -L, /proc/PID/task).

. "$(dirname "$0")/lib.sh"
lab_binaries
need_tool ss iproute2
need_tool ps procps

NICKS=(alice bob carol dave)
CLIENT_FDS=()

# start_client K: a --plain client fed from a fifo, kept connected until it
# reads /quit; returns once it is connected.
start_client() {
  local k=$1 fd
  mkfifo "$LAB_TMP/in$k"
  exec {fd}<>"$LAB_TMP/in$k"   # read-write: opening does not wait for a reader
  CLIENT_FDS[k]=$fd
  lab_bg_input "$LAB_TMP/in$k" "$SOCKCHAT" --plain --nick "${NICKS[k - 1]}" \
    127.0.0.1 "$LAB_PORT" >"$LAB_TMP/client$k.out" 2>&1
  wait_for 15 grep -q "^connected to" "$LAB_TMP/client$k.out" ||
    { cat "$LAB_TMP/client$k.out"; echo "client $k did not connect" >&2; exit 1; }
}

threads() { find "/proc/$LAB_SERVER_PID/task" -mindepth 1 -maxdepth 1 | wc -l; }

start_server
section "1. Four clients connect to 127.0.0.1:$LAB_PORT"
threads_idle=$(threads)
start_client 1
threads_one=$(threads)
for k in 2 3 4; do start_client "$k"; done
threads_four=$(threads)
echo "/list" >&"${CLIENT_FDS[1]}"
wait_for 15 grep -q "^client 4 " "$LAB_TMP/client1.out" || true
echo "alice's /list:"
sed -n '/^clients /,$p' "$LAB_TMP/client1.out"

section "2. The server's sockets"
echo "The server's end of each connection (local port $LAB_PORT):"
echo "\$ ss -tanp '( sport = :$LAB_PORT )'"
ss -tanp "( sport = :$LAB_PORT )"
echo "The clients' ends (peer port $LAB_PORT):"
echo "\$ ss -tnp '( dport = :$LAB_PORT )'"
ss -tnp "( dport = :$LAB_PORT )"
server_socks=$(ss -Htanp "( sport = :$LAB_PORT )" | grep "pid=$LAB_SERVER_PID,")
listening=$(awk '$1 == "LISTEN"' <<<"$server_socks" | grep -c . || true)
established=$(awk '$1 == "ESTAB"' <<<"$server_socks")
n_est=$(grep -c . <<<"$established" || true)
local_addrs=$(awk '{print $4}' <<<"$established" | sort -u | grep -c . || true)
peer_ports=$(awk '{sub(/.*:/, "", $5); print $5}' <<<"$established" | sort -u)
fds=$(grep -o 'fd=[0-9]*' <<<"$established" | sort -u | grep -c . || true)
list_ports=$(grep -E '^client [0-9]+ ' "$LAB_TMP/client1.out" | grep -o '127\.0\.0\.1:[0-9]*' |
  cut -d: -f2 | sort -u)
observe "sockchatd (pid $LAB_SERVER_PID): $listening listening socket, $n_est connected sockets on $local_addrs local address, $fds different fds"
observe "peer ports in ss: $(tr '\n' ' ' <<<"$peer_ports"); in LIST: $(tr '\n' ' ' <<<"$list_ports")"
check [ "$listening" -eq 1 ] -- "one listening socket"
check [ "$n_est" -eq 4 ] -- "one connected socket per client in the server"
check [ "$local_addrs" -eq 1 ] -- "all of them have the same local address and port"
check [ "$(grep -c . <<<"$peer_ports")" -eq 4 ] -- "the peer ports differ: the 4-tuples differ"
check [ "$fds" -eq 4 ] -- "each connection has its own file descriptor"
check [ "$peer_ports" = "$list_ports" ] -- "LIST shows the same four peers"
explain <<'TXT'

Why: the listening socket never carries data. Each time a handshake completes, accept() returns a new socket, with a new file descriptor, for that one connection. All of them share the server's local address and port; the kernel delivers each arriving segment to the socket whose 4-tuple (source IP, source port, destination IP, destination port) matches, and only segments that match no connection (SYNs) go to the listener. So one port serves any number of clients, as long as their (IP, port) pairs differ -- which the clients' kernels ensure by picking a fresh ephemeral port (experiment 2).
TXT

section "3. One thread per connection"
echo "\$ ps -L -o pid,lwp,comm -p $LAB_SERVER_PID"
ps -L -o pid,lwp,comm -p "$LAB_SERVER_PID"
observe "sockchatd threads: $threads_idle with no client, $threads_one with one, $threads_four with four"
check [ $((threads_four - threads_one)) -eq 3 ] -- "three more clients, three more threads"
for k in 1 2 3 4; do echo /quit >&"${CLIENT_FDS[k]}"; done
for k in 1 2 3 4; do wait_for 15 grep -q "^disconnected" "$LAB_TMP/client$k.out" || true; done
threads_back() { [ "$(threads)" -eq $((threads_one - 1)) ]; }
wait_for 15 threads_back || true
observe "after the four clients left: $(threads) threads"
check threads_back -- "the connection threads ended with their connections"
explain <<'TXT'

Why: sockchatd's main thread only accepts connections (and handles signals); for each accepted socket it starts a thread that reads that client's requests and writes its answers, so a slow client delays nobody else. When the client leaves, the thread closes the socket and ends, and the main thread joins it. (A sanitizer build may show one more helper thread of its own.) The cost is one thread, and its stack, per client; servers for many thousands of clients use a few threads with poll()/epoll() over many sockets instead.
TXT
lab_finish
