#!/usr/bin/env bash
# Experiment 8: 100 requests in one action.
#
# `/time 100` sends 100 TIME requests at once (pipelining: one write, no
# waiting in between) and counts the answers; the client prints one summary
# line with the round-trip times (rtt: from sending the batch to receiving
# each response).  First one client, then five clients started together,
# each with its own /time 100; the script checks that every response came
# back and prints combined statistics.
#
# Run:   docs/lab/08-hundred-requests.sh      (no root needed)
# Look:  100/100 on every line; one batch takes about as long as one round
#        trip plus the server's work, not 100 round trips.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
lab_binaries

CLIENTS=5
SUMMARY='^[0-9]+/[0-9]+ responses in'

# shellcheck disable=SC2119  # no extra server options
start_server

# batch N: client N asks /time 100 and ends (its input ends after a pause
# that lets every client connect first, so the five batches overlap).
batch() {
  { sleep 1; echo "/time 100"; } |
    "$SOCKCHAT" --plain --nick "student$1" 127.0.0.1 "$LAB_PORT" >"$LAB_TMP/client$1.out" 2>&1
}
# summary N: client N's summary line.
summary() { grep -E "$SUMMARY" "$LAB_TMP/client$1.out" | head -n 1; }

section "One client: /time 100"
batch 0 || true
echo "  client 0: $(summary 0)"

section "$CLIENTS clients started together, each /time 100"
PIDS=()
for i in $(seq "$CLIENTS"); do
  batch "$i" &
  PIDS+=("$!")
  LAB_PIDS+=("$!")
done
FAILED_EXITS=0
for pid in "${PIDS[@]}"; do wait "$pid" || FAILED_EXITS=$((FAILED_EXITS + 1)); done
for i in $(seq "$CLIENTS"); do echo "  client $i: $(summary "$i")"; done

# Statistics from the summary lines: "100/100 responses in 3.6 ms (rtt
# min/median/max 0.343/0.351/0.420 ms)".
stats() {
  awk '{
    split($1, n, "/"); got += n[1]; asked += n[2]
    ms = $4; if (ms > slowest) slowest = ms
    split($8, r, "/"); if (NR == 1 || r[1] < lo) lo = r[1]; if (r[3] > hi) hi = r[3]
    med[NR] = r[2]
  } END {
    if (NR == 0) { print "no summary lines"; exit }
    for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++) if (med[j] < med[i]) { t = med[i]; med[i] = med[j]; med[j] = t }
    printf "%d/%d responses; rtt min %.3f ms, median of the medians %.3f ms, max %.3f ms; slowest batch %.3f ms\n", got, asked, lo, med[int((NR + 1) / 2)], hi, slowest
  }'
}
ONE=$(summary 0 | stats)
ALL=$(for i in $(seq "$CLIENTS"); do summary "$i"; done | stats)
observe "one client:  $ONE"
observe "$CLIENTS clients: $ALL"
explain <<'TXT'

The client writes the 100 requests with one send() and takes the time;
the server's thread for that connection reads them all, answers each into
its output buffer and writes the answers with one send() (experiment 4
shows it on the wire).  So a batch costs about one round trip plus the
server's work for 100 requests, and the rtt of the last response is the
batch's duration: min, median and max are close together because the
answers arrive together.  Five clients have five connections and five
server threads; they share the machine's cores, so a batch may take longer
while the others run, but every request is answered: TCP delivers every
byte in order, and the protocol answers every request exactly once,
matched by its id.
TXT

section "Checks"
check grep -qE '^100/100 responses' "$LAB_TMP/client0.out" -- "one client: 100/100 responses"
for i in $(seq "$CLIENTS"); do
  check grep -qE '^100/100 responses' "$LAB_TMP/client$i.out" -- "client $i of $CLIENTS: 100/100 responses"
done
check test "$FAILED_EXITS" -eq 0 -- "all $CLIENTS clients said BYE and exited 0"
check grep -q "^$((CLIENTS * 100))/$((CLIENTS * 100)) " <<<"$ALL" -- "$((CLIENTS * 100)) responses for $((CLIENTS * 100)) requests in all"
lab_finish
