#!/usr/bin/env bash
# stdpkt against the host kernel, measured side by side in one run; prints a
# Markdown table and writes it to BENCHMARKS.md (with --quick: a smoke run
# of seconds that writes nothing unless --out is given).
#
#   scripts/bench.sh [--quick] [--out FILE]
#
# The host baseline is two network namespaces joined by a veth pair, made
# here and removed on exit; it needs root (without root those rows say so).
# Every address is from the documentation ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

quick=0
out=BENCHMARKS.md
for a in "$@"; do
    case "$a" in
        --quick) quick=1; out="" ;;
        --out=*) out="${a#--out=}" ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $a" >&2; exit 2 ;;
    esac
done

if [ $quick = 1 ]; then PINGS=20; RUNS=3; CHAIN="1 2"; NP_RUNS=1; NP_LEN=1
else PINGS=200; RUNS=20; CHAIN="1 2 4 8 16"; NP_RUNS=3; NP_LEN=5; fi

cargo build --release -p stdpkt-cli -p stdpkt-preload >&2
cargo bench --no-run --bench boot >&2 2>/dev/null
STDPKT=$PWD/target/release/stdpkt
HIJACK=$PWD/scripts/lkl-hijack.sh
export STDPKT_LIB=$PWD/target/release/libstdpkt.so
work=$(mktemp -d)
ns_a=stdpkt-bench-a-$$
ns_b=stdpkt-bench-b-$$
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    wait 2>/dev/null || true
    ip netns del "$ns_a" 2>/dev/null || true
    ip netns del "$ns_b" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 | $5 |"); }

# ping's summary "rtt min/avg/p99/max = a/b/c/d ms" (ours) or iputils'
# "rtt min/avg/max/mdev = a/b/c/d ms".
field() { sed -n 's/.*= \([0-9.]*\)\/\([0-9.]*\)\/\([0-9.]*\)\/\([0-9.]*\) ms.*/\1 \2 \3 \4/p' | tail -1; }

# --- stdpkt: two instances over a fifo pair, raw framing -------------------
stdpkt_ping() {  # count interval_ms -> "avg p99"
    local d; d=$(mktemp -d -p "$work")
    mkfifo "$d/a2b" "$d/b2a"
    IF0="$d/a2b|$d/b2a" IP0=192.0.2.2/24 "$STDPKT" instance --linger 2>/dev/null &
    local line
    # Twice: the first run warms up (ARP); the last line is measured.
    line=$(IF0="$d/b2a|$d/a2b" IP0=192.0.2.1/24 "$STDPKT" instance --ping 192.0.2.2 \
        --ping 192.0.2.2 --count "$1" --interval "$2" --timeout 2000 2>&1 | field)
    wait
    read -r _ avg p99 _ <<<"$line"
    echo "${avg:-nan} ${p99:-nan}"
}
read -r s_avg s_p99 < <(stdpkt_ping "$PINGS" 10)

# --- host: two namespaces over veth ----------------------------------------
host=0
if [ "$(id -u)" = 0 ] && ip netns add "$ns_a" 2>/dev/null; then
    ip netns add "$ns_b"
    ip link add veth-a-$$ netns "$ns_a" type veth peer name veth-b-$$ netns "$ns_b"
    ip -n "$ns_a" addr add 192.0.2.1/24 dev veth-a-$$
    ip -n "$ns_b" addr add 192.0.2.2/24 dev veth-b-$$
    ip -n "$ns_a" link set veth-a-$$ up
    ip -n "$ns_b" link set veth-b-$$ up
    ip -n "$ns_a" link set lo up
    ip -n "$ns_b" link set lo up
    host=1
fi
if [ $host = 1 ]; then
    read -r _ h_avg _ _ < <(ip netns exec "$ns_a" ping -q -c "$PINGS" -i 0.01 192.0.2.2 | field)
    # iputils prints no percentile: p99 from the per-reply times.
    h_p99=$(ip netns exec "$ns_a" ping -c "$PINGS" -i 0.01 192.0.2.2 \
        | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n | awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; print v[i]}')
else
    h_avg=; h_p99=
fi
ratio() { if [ -n "$2" ] && [ "$2" != nan ] && [ "$1" != nan ]; then awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; else echo "-"; fi; }
row "ping RTT avg (ms), $PINGS pings at 10 ms" "$s_avg" "${h_avg:-needs root}" "$(ratio "$s_avg" "$h_avg")" "lower is better"
row "ping RTT p99 (ms)" "$s_p99" "${h_p99:-needs root}" "$(ratio "$s_p99" "$h_p99")" "lower is better"

# --- start-up: exec to the first frame on stdout ---------------------------
startup=()
for _ in $(seq "$RUNS"); do
    t=$(IF0='-|-' IP0=192.0.2.1/24 STDIN_KEEP=1 python3 - "$STDPKT" <<'PY'
import os, subprocess, sys, time
t0 = time.monotonic()
p = subprocess.Popen([sys.argv[1], "instance", "--ping", "192.0.2.9", "--count", "1",
                      "--timeout", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL)
p.stdout.read(2)
t1 = time.monotonic()
p.kill(); p.wait()
print(f"{(t1 - t0) * 1000:.2f}")
PY
)
    startup+=("$t")
done
s_start=$(printf '%s\n' "${startup[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
row "start-up: exec to first frame on stdout (ms, median of $RUNS)" "$s_start" "-" "-" "<= 10"

# --- memory and boot -------------------------------------------------------
d=$(mktemp -d -p "$work")
mkfifo "$d/in"
IF0="$d/in|/dev/null" IP0=192.0.2.1/24 "$STDPKT" instance --linger 2>/dev/null &
pid=$!
exec 9>"$d/in"
sleep 1
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
exec 9>&-
wait $pid || true
row "resident memory, idle instance (MiB)" "$rss" "-" "-" "<= 24"
boot_bench=$(find target/release/deps -maxdepth 1 -type f -regex '.*/boot-[0-9a-f]*' | head -1)
boot=$(STDPKT_BENCH_RUNS=$RUNS "$boot_bench" \
    | awk -F'|' '/boot to usable/ {gsub(/ /, "", $3); print $3}')
row "boot to usable loopback (ms, median of $RUNS)" "${boot:-n/a}" "-" "-" "<= 10"

# --- chain scaling: A | R1 | ... | Rn | B -----------------------------------
# Links: A-R1 on 192.0.2.0/24, Rk-Rk+1 on 198.51.100.(4k)/30, Rn-B on
# 203.0.113.0/24. Each router forwards, with a default route towards B and
# a route back to A's net.
chain_rtt() {
    local n=$1 d; d=$(mktemp -d -p "$work")
    for i in $(seq 0 "$n"); do mkfifo "$d/r$i" "$d/l$i"; done   # link i: r = rightwards, l = leftwards
    addr_left() {  # address of router k on its left link
        if [ "$1" = 1 ]; then echo 192.0.2.254; else echo "198.51.100.$(( 4 * ($1 - 1) + 2 ))"; fi
    }
    addr_right() {  # address of router k on its right link
        if [ "$1" = "$n" ]; then echo 203.0.113.254; else echo "198.51.100.$(( 4 * $1 + 1 ))"; fi
    }
    prefix() { case "$1" in 192.*|203.*) echo 24 ;; *) echo 30 ;; esac; }
    for k in $(seq 1 "$n"); do
        local l r gw back
        l=$(addr_left "$k"); r=$(addr_right "$k")
        if [ "$k" = "$n" ]; then gw=203.0.113.1; else gw="198.51.100.$(( 4 * k + 2 ))"; fi
        back=()
        [ "$k" = 1 ] || back=(--route "192.0.2.0/24=198.51.100.$(( 4 * (k - 1) + 1 ))")
        IF0="$d/r$((k-1))|$d/l$((k-1))" IP0="$l/$(prefix "$l")" \
        IF1="$d/l$k|$d/r$k" IP1="$r/$(prefix "$r")" GW="$gw" \
        STDPKT_SYSCTL='net.ipv4.ip_forward=1' "$STDPKT" instance --linger "${back[@]}" 2>/dev/null &
    done
    # With no router (the base), B sits on A's own network.
    local b_ip=203.0.113.1/24 b_gw=203.0.113.254 target=203.0.113.1
    [ "$n" = 0 ] && { b_ip=192.0.2.2/24; b_gw=192.0.2.254; target=192.0.2.2; }
    IF0="$d/r$n|$d/l$n" IP0=$b_ip GW=$b_gw "$STDPKT" instance --linger 2>/dev/null &
    local line
    line=$(IF0="$d/l0|$d/r0" IP0=192.0.2.1/24 GW=192.0.2.254 "$STDPKT" instance \
        --ping $target --ping $target --count "$PINGS" --interval 10 --timeout 3000 2>&1 | field)
    # Routers and B wait for each other's input to end: stop them.
    jobs -p | xargs -r kill 2>/dev/null || true
    wait
    read -r _ avg _ <<<"$line"
    echo "${avg:-nan}"
}
declare -A chain
for n in 0 $CHAIN; do chain[$n]=$(chain_rtt "$n"); done
one=${chain[1]}
for n in 0 $CHAIN; do
    row "ping RTT through $n forwarding instance(s) (ms)" "${chain[$n]}" "-" "-" "linear in hops"
done
last=${CHAIN##* }
# The base: the same two end hosts, joined directly, measured the same way.
base=${chain[0]}
if [ "$last" != 1 ]; then
    verdict=$(awk -v r="${chain[$last]}" -v one="$one" -v base="$base" -v n="$last" \
        'BEGIN { inc = one - base; lim = base + 1.2 * n * inc; printf "%.3f vs limit %.3f: %s", r, lim, (r <= lim ? "met" : "missed") }')
    row "per-hop growth: RTT($last hops) <= base + 1.2 x $last x (RTT(1) - base)" "$verdict" "-" "-" "linear"
fi

# --- netperf ----------------------------------------------------------------
# The result: TCP_STREAM and UDP_STREAM the last field of the last numeric
# line (for UDP, the receiver's rate), TCP_RR the sixth of the first.
np_parse() {
    case "$1" in
        TCP_RR) awk 'NF >= 6 && $1 ~ /^[0-9]+$/ && $6 ~ /^[0-9.]+$/ {print $6; exit}' ;;
        *) awk 'NF >= 4 && $1 ~ /^[0-9]+$/ {v = $NF} END {print v}' ;;
    esac
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
median() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "nan"}'; }

# $PIN (e.g. "taskset -c 0") prefixes both ends when set.
np_stdpkt() {  # test framing -> value
    local d; d=$(mktemp -d -p "$work")
    mkfifo "$d/a2b" "$d/b2a"
    IF0="$d/a2b|$d/b2a" IFTYPE0="$2" IP0=192.0.2.2/24 $PIN "$HIJACK" netserver -D -f -4 >/dev/null 2>&1 &
    local ns=$!
    sleep 0.5
    IF0="$d/b2a|$d/a2b" IFTYPE0="$2" IP0=192.0.2.1/24 $PIN "$HIJACK" netperf -H 192.0.2.2 -t "$1" \
        -l "$NP_LEN" -- -m 1400 2>/dev/null | np_parse "$1"
    kill $ns 2>/dev/null || true
    wait $ns 2>/dev/null || true
}
np_host() {  # test -> value
    $PIN ip netns exec "$ns_b" netserver -D -f -4 -p 12866 >/dev/null 2>&1 &
    local ns=$!
    sleep 0.3
    $PIN ip netns exec "$ns_a" netperf -p 12866 -H 192.0.2.2 -t "$1" -l "$NP_LEN" -- -m 1400 2>/dev/null | np_parse "$1"
    kill $ns 2>/dev/null || true
    wait $ns 2>/dev/null || true
}
PIN=
declare -A cpu_per_gb
for t in TCP_STREAM TCP_RR UDP_STREAM; do
    vals=(); hvals=()
    for _ in $(seq "$NP_RUNS"); do
        b0=$(busy_ticks)
        v=$(np_stdpkt "$t" raw)
        b1=$(busy_ticks)
        vals+=("${v:-nan}")
        if [ $host = 1 ]; then
            hv=$(np_host "$t")
            b2=$(busy_ticks)
            hvals+=("${hv:-nan}")
        fi
        if [ "$t" = TCP_STREAM ]; then
            # CPU seconds (whole machine, both ends) per GB moved.
            cpu_per_gb[stdpkt]=$(awk -v t=$((b1 - b0)) -v r="${v:-0}" -v l="$NP_LEN" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { gb = r * l / 8000; if (gb > 0) printf "%.2f", t / hz / gb; else print "nan" }')
            [ $host = 1 ] && cpu_per_gb[host]=$(awk -v t=$((b2 - b1)) -v r="${hv:-0}" -v l="$NP_LEN" -v hz="$(getconf CLK_TCK)" \
                'BEGIN { gb = r * l / 8000; if (gb > 0) printf "%.2f", t / hz / gb; else print "nan" }')
        fi
    done
    s=$(printf '%s\n' "${vals[@]}" | median)
    h=$( [ $host = 1 ] && printf '%s\n' "${hvals[@]}" | median || echo "")
    case $t in
        TCP_STREAM) unit="Mbit/s"; goal=">= 1.0x host" ;;
        TCP_RR) unit="transactions/s"; goal=">= 0.8x host" ;;
        UDP_STREAM) unit="Mbit/s received"; goal="-" ;;
    esac
    row "netperf $t, 1400-byte messages ($unit, median of $NP_RUNS x ${NP_LEN}s)" "$s" "${h:-needs root}" "$(ratio "$s" "$h")" "$goal"
done
# The same TCP_RR with every process of both ends on one CPU: no
# cross-CPU wake-ups (costly in a VM), so it shows the CPU cost of a
# transaction rather than the scheduler's placement.
vals=(); hvals=()
PIN="taskset -c 0"
for _ in $(seq "$NP_RUNS"); do
    vals+=("$(np_stdpkt TCP_RR raw)")
    [ $host = 1 ] && hvals+=("$(np_host TCP_RR)")
done
PIN=
s=$(printf '%s\n' "${vals[@]}" | median)
h=$( [ $host = 1 ] && printf '%s\n' "${hvals[@]}" | median || echo "")
row "netperf TCP_RR, both ends on one CPU (taskset -c 0; transactions/s, median of $NP_RUNS x ${NP_LEN}s)" \
    "$s" "${h:-needs root}" "$(ratio "$s" "$h")" "-"
row "CPU seconds per GB, TCP_STREAM (whole machine)" "${cpu_per_gb[stdpkt]:-nan}" "${cpu_per_gb[host]:-needs root}" \
    "$(ratio "${cpu_per_gb[stdpkt]:-nan}" "${cpu_per_gb[host]:-}")" "lower is better"

# --- the ASCII path: UDP frames through grep ----------------------------------
d=$(mktemp -d -p "$work")
mkfifo "$d/a_out" "$d/a2b" "$d/b2a"
IF0="$d/a2b|$d/b2a" IFTYPE0=ascii IP0=192.0.2.2/24 "$HIJACK" netserver -D -f -4 >/dev/null 2>&1 &
ns=$!
grep --line-buffered -v 020000000099 < "$d/a_out" > "$d/a2b" &
sleep 0.5
ascii=$(IF0="$d/b2a|$d/a_out" IFTYPE0=ascii IP0=192.0.2.1/24 "$HIJACK" netperf -H 192.0.2.2 -t UDP_STREAM \
    -l "$NP_LEN" -- -m 64 2>/dev/null | awk 'NF == 4 && $1 ~ /^[0-9]+$/ {n = $3; t = $2} END {if (t > 0) printf "%.0f", n / t}')
kill $ns 2>/dev/null || true
wait $ns 2>/dev/null || true
row "ASCII path: 64-byte UDP frames/s through grep --line-buffered (received)" "${ascii:-nan}" "-" "-" ">= 100000"

table="| metric | stdpkt | host (veth) | stdpkt/host | goal |
|---|---|---|---|---|
$(printf '%s\n' "${rows[@]}")"

echo "$table"
if [ -n "$out" ]; then
    # Sections after the table (the soak record) are kept as they are.
    rest=""
    [ -f "$out" ] && rest=$(sed -n '/^## /,$p' "$out")
    {
        echo "# Benchmarks"
        echo
        echo "Measured by \`scripts/bench.sh\` on $(date -u +%Y-%m-%d) at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
        echo "Machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)."
        echo
        echo "$table"
        if [ -n "$rest" ]; then
            echo
            echo "$rest"
        fi
    } > "$out"
    echo "written to $out" >&2
fi
