#!/usr/bin/env bash
# bench/nbd.sh - a Bighorn volume end to end over NBD vs nbdkit and the raw file, in one run.
#
#   bench/nbd.sh [DIR] [SIZE] [RUNTIME]
#
# On the disk under DIR (default /var/tmp), with the same fio job set from the shared harness
# (shared/bench: nbd-fio.sh, peers.sh, file-fio.sh), one after the other:
#   bighorn-3r  3 `bighorn replica` processes (replicas on this disk) + a `bighorn engine` process
#   bighorn-1r  the same with 1 replica
#   bighorn-node  (not in the default set) `bighorn server`, the manager and this node's agent in one
#               JVM, with a 1-replica volume made and attached through the CLI: the engine reaches its
#               replica in-process, as an engine does on a node holding one of its replicas
#   nbdkit      nbdkit's file plugin on a plain file (peers.sh, PEERS=nbdkit)
#   raw         the plain file itself, O_DIRECT libaio (peers.sh, PEERS=raw -> file-fio.sh)
# Every target is prefilled (SIZE written sequentially) by the harness before its jobs. Bighorn
# processes listen on 127.0.0.1 port 0 (the OS picks free ports; the script reads them from their
# output), peers.sh picks free ports itself. A fresh random cluster secret is used (secret file in the
# scratch dir). Every process is stopped by its PID on exit and the scratch dir is removed.
#
#   SIZE     volume / file size and fio working set (default 2G)
#   RUNTIME  seconds per fio job (default 20; RAMP, default 2, is added per job)
# Environment:
#   JOBS       fio-jobset.sh job names (default: randwrite4k_qd32 randread4k_qd32 seqwrite1m_qd8
#              seqread1m_qd8 randwrite4k_qd1; add randread4k_qd1 for all six)
#   TARGETS    subset/order of "bighorn-3r bighorn-1r bighorn-node nbdkit raw" (default: all but bighorn-node)
#   RAMP       fio ramp_time seconds (default 2)
#   TRANSPORT  how the engine reaches its replicas: tcp (loopback, default) or unix (each replica also
#              listens on a Unix domain socket in the scratch dir, bighorn replica --socket)
#   BENCH_HARNESS  the shared harness dir (default: shared/bench beside this checkout)
#   ENGINE_JAVA_OPTS  JVM options for the engine process only (JAVA_TOOL_OPTIONS), e.g.
#              -XX:StartFlightRecording=filename=/tmp/engine.jfr,settings=profile
#   RESULTS    if set, every JSON result line is also appended to this file
# Output: progress on stderr; on stdout one JSON line per target and job
# {target,job,iops,mbps,lat_p50_us,lat_p99_us}, the load average around each target, then a Markdown
# table (absolute figures, ratios vs nbdkit, the goals) and the exact command.
# With defaults the whole run takes about 10 minutes on 2 cores.
# Requires: fio (nbd engine), jq, nbdkit, libnbd-bin (nbdinfo), iproute2 (ss), a JDK 25.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

BASE="${1:-/var/tmp}"
SIZE="${2:-2G}"
RUNTIME="${3:-20}"
export RAMP="${RAMP:-2}"
export JOBS="${JOBS:-randwrite4k_qd32 randread4k_qd32 seqwrite1m_qd8 seqread1m_qd8 randwrite4k_qd1}"
TARGETS="${TARGETS:-bighorn-3r bighorn-1r nbdkit raw}"
TRANSPORT="${TRANSPORT:-tcp}"
case "$TRANSPORT" in
    tcp) UNIX="" ;;
    unix) UNIX=1 ;;
    *) echo "bench/nbd.sh: TRANSPORT must be tcp or unix, not $TRANSPORT" >&2; exit 2 ;;
esac
HARNESS="${BENCH_HARNESS:-$ROOT/../shared/bench}"

for tool in fio jq nbdkit nbdinfo ss; do
    command -v "$tool" >/dev/null || { echo "bench/nbd.sh: $tool not found" >&2; exit 1; }
done
[[ -x "$HARNESS/nbd-fio.sh" && -x "$HARNESS/peers.sh" ]] || {
    echo "bench/nbd.sh: no shared harness at $HARNESS (set BENCH_HARNESS)" >&2
    exit 1
}
HARNESS="$(cd "$HARNESS" && pwd)"

mkdir -p "$BASE"
WORK="$(mktemp -d "$BASE/bighorn-nbd.XXXXXX")"
ALL="$WORK/results.jsonl"
: >"$ALL"
PIDS=()

log() { echo "[nbd.sh $(date +%T)] $*" >&2; }

stop_pid() { # pid: TERM, up to 15 s for a clean shutdown, then KILL
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_all() { # engine first (it flushes to its replicas), then the replicas: reverse start order
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    PIDS=()
}

cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until $2 (a log file) holds a line matching $3, or the process $1 died; prints the match.

load() { cut -d' ' -f1-3 /proc/loadavg; }

note_load() { # target when(before|after)
    jq -nc --arg t "$1" --arg w "$2" --arg l "$(load)" '{target:$t,load:$w,loadavg:$l}' | tee -a "$ALL"
}

tag() { # target: adds the target name to the harness' JSON lines
    jq -c --arg t "$1" '. + {target:$t}' | tee -a "$ALL"
}

# Starts N replica processes and an engine on them, runs the job set on the volume, stops them all.
run_bighorn() { # target replicas
    local target=$1 n=$2 dir="$WORK/$1" urls=() i pid url nbd
    mkdir -p "$dir"
    log "$target: starting $n replica process(es) in $dir"
    for i in $(seq "$n"); do
        "$ROOT/bighorn" replica --dir "$dir/r$i" --size "$SIZE" --listen 127.0.0.1:0 \
            ${UNIX:+--socket "$dir/r$i.sock"} --secret-file "$WORK/secret" >"$dir/r$i.log" 2>&1 &
        PIDS+=("$!")
    done
    for i in $(seq "$n"); do
        pid=${PIDS[${#PIDS[@]} - n + i - 1]}
        if [[ -n "$UNIX" ]]; then
            url=$(bighorn_wait_for "$pid" "$dir/r$i.log" 'and unix://[^ ]+' | sed 's/^and //')
        else
            url=$(bighorn_wait_for "$pid" "$dir/r$i.log" 'serving on tcp://[0-9.]+:[0-9]+' | sed 's/^serving on //')
        fi
        urls+=(--replica "$url")
    done
    JAVA_TOOL_OPTIONS="${ENGINE_JAVA_OPTS:-${JAVA_TOOL_OPTIONS:-}}" \
        "$ROOT/bighorn" engine --volume vol0 --size "$SIZE" "${urls[@]}" \
        --nbd 127.0.0.1:0 --control 127.0.0.1:0 --secret-file "$WORK/secret" >"$dir/engine.log" 2>&1 &
    PIDS+=("$!")
    nbd=$(bighorn_wait_for "$!" "$dir/engine.log" 'serving nbd://[^,]+' | sed 's/^serving //')
    log "$target: engine pid ${PIDS[-1]} serving $nbd on ${urls[*]}"
    note_load "$target" before
    "$HARNESS/nbd-fio.sh" "$nbd" "$SIZE" "$RUNTIME" | tag "$target"
    note_load "$target" after
    stop_all
    rm -rf "$dir"
}

# The single-machine server (`bighorn server`: the manager and this node's agent in one JVM) with a
# 1-replica volume: its engine reaches the replica in-process, as on any node that holds a replica of
# the volume it serves. Driven through the CLI, as a user would.
run_node() { # target
    local target=$1 dir="$WORK/$1" pid api nbd
    mkdir -p "$dir"
    log "$target: starting bighorn server in $dir"
    JAVA_TOOL_OPTIONS="${ENGINE_JAVA_OPTS:-${JAVA_TOOL_OPTIONS:-}}" \
        "$ROOT/bighorn" server --data "$dir/data" --listen 127.0.0.1:0 --nbd 127.0.0.1:0 >"$dir/server.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    api=$(bighorn_wait_for "$pid" "$dir/server.log" 'API at http://[^ ]+' | sed 's/^API at //')
    bighorn_wait_for "$pid" "$dir/server.log" 'NBD at' >/dev/null
    export BIGHORN_SERVER="$api"
    # the scratch disk may be fuller than Longhorn's default minimum allows
    "$ROOT/bighorn" setting set storage-minimal-available-percentage 1 >/dev/null
    "$ROOT/bighorn" volume create vol0 --size "$SIZE" --replicas 1 --wait >"$dir/create.log"
    nbd=$("$ROOT/bighorn" volume attach vol0 --wait | grep -oE 'nbd://[^ ]+' | head -1)
    [[ -n "$nbd" ]] || { log "$target: no NBD endpoint"; cat "$dir/server.log" >&2; exit 1; }
    log "$target: server pid $pid serving $nbd"
    note_load "$target" before
    "$HARNESS/nbd-fio.sh" "$nbd" "$SIZE" "$RUNTIME" | tag "$target"
    note_load "$target" after
    unset BIGHORN_SERVER
    stop_all
    rm -rf "$dir"
}

run_peer() { # nbdkit|raw, through the harness' peers.sh (one run, no nbdcopy)
    local peer=$1
    note_load "$peer" before
    PEERS="$peer" RUNS=1 NBDCOPY=0 WORKDIR="$WORK/$peer" \
        "$HARNESS/peers.sh" "$SIZE" "$RUNTIME" >"$WORK/$peer.out"
    grep '^{' "$WORK/$peer.out" | jq -c 'del(.peer, .run)' | tag "$peer"
    note_load "$peer" after
}

log "building bighorn (when stale)"
"$ROOT/bighorn" --version >/dev/null
head -c 32 /dev/urandom | base64 >"$WORK/secret"
chmod 600 "$WORK/secret"

log "scratch dir $WORK on $(df --output=source "$WORK" | tail -1), size $SIZE, ${RUNTIME}s + ${RAMP}s per job, $(nproc) cores"
log "jobs: $JOBS; targets: $TARGETS"
for target in $TARGETS; do
    sync # the previous target's dirty pages are not this one's write-back
    case "$target" in
        bighorn-3r) run_bighorn "$target" 3 ;;
        bighorn-1r) run_bighorn "$target" 1 ;;
        bighorn-node) run_node "$target" ;;
        nbdkit | raw) run_peer "$target" ;;
        *) log "unknown target $target"; exit 2 ;;
    esac
done

[[ -n "${RESULTS:-}" ]] && cat "$ALL" >>"$RESULTS"

# ---- the table: one row per job; Bighorn rows compared with nbdkit measured above
echo
echo "## Bighorn over NBD vs nbdkit ($SIZE, ${RUNTIME} s per job, $(nproc) cores, $(date -u +%F))"
echo
jq -rs --arg targets "$TARGETS" '
  def num: if . == null then "-" elif . >= 100 then (round | tostring) else (. * 10 | round / 10 | tostring) end;
  def x: if . == null then "-" else ((. * 100 | round / 100 | tostring) + "×") end;
  # per job: the metric, and the goal as [op, bound] on the ratio Bighorn/nbdkit
  def spec: {
    randwrite4k_qd32: {m: "iops", unit: "IOPS", goal: [">=", 0.6]},
    randread4k_qd32:  {m: "iops", unit: "IOPS", goal: [">=", 0.8]},
    seqwrite1m_qd8:   {m: "mbps", unit: "MB/s", goal: [">=", 0.5]},
    seqread1m_qd8:    {m: "mbps", unit: "MB/s", goal: [">=", 0.8]},
    randwrite4k_qd1:  {m: "lat_p50_us", unit: "p50 µs", goal: ["<=", 2]},
    randread4k_qd1:   {m: "lat_p50_us", unit: "p50 µs", goal: null}};
  map(select(.job != null)) as $R
  | def v($t; $j; $m): [$R[] | select(.target == $t and .job == $j) | .[$m]] | first;
    def ratio($t; $j; $m): (v($t; $j; $m)) as $a | (v("nbdkit"; $j; $m)) as $b
      | if $a == null or $b == null or $b == 0 then null else $a / $b end;
    def met($r; $g): if $g == null or $r == null then "-"
      elif ($g[0] == ">=" and $r >= $g[1]) or ($g[0] == "<=" and $r <= $g[1]) then "yes" else "**no**" end;
    ($targets | split(" ") | index("bighorn-node") != null) as $node
    | def nodecols($j; $m): if $node then " \(v("bighorn-node"; $j; $m) | num) | \(ratio("bighorn-node"; $j; $m) | x) |" else "" end;
    "| workload | metric | Bighorn 3 replicas | Bighorn 1 replica | nbdkit file | raw file (O_DIRECT) | 3r / nbdkit | 1r / nbdkit | goal | met (3r) | met (1r) |\(if $node then " node 1r in-process | node / nbdkit |" else "" end)",
    "|---|---|---|---|---|---|---|---|---|---|---|\(if $node then "---|---|" else "" end)",
    ( ["randwrite4k_qd32", "randread4k_qd32", "seqwrite1m_qd8", "seqread1m_qd8", "randwrite4k_qd1", "randread4k_qd1"][]
      as $j
      | select([$R[] | select(.job == $j)] | length > 0)
      | (spec | .[$j]) as $s
      | ratio("bighorn-3r"; $j; $s.m) as $r3 | ratio("bighorn-1r"; $j; $s.m) as $r1
      | "| \($j) | \($s.unit) | \(v("bighorn-3r"; $j; $s.m) | num) | \(v("bighorn-1r"; $j; $s.m) | num) | \(v("nbdkit"; $j; $s.m) | num) | \(v("raw"; $j; $s.m) | num) | \($r3 | x) | \($r1 | x) | \(if $s.goal == null then "-" else "\($s.goal[0] | sub(">="; "≥") | sub("<="; "≤")) \($s.goal[1])×" end) | \(met($r3; $s.goal)) | \(met($r1; $s.goal)) |\(nodecols($j; $s.m))")
' "$ALL"
echo
echo "Load average (1/5/15 min) before → after each target: $(jq -rs --arg targets "$TARGETS" '
  . as $R | [$targets | split(" ")[] | select(. != "") as $t
   | [$R[] | select(.target == $t and .load == "before") | .loadavg][0] as $b
   | [$R[] | select(.target == $t and .load == "after") | .loadavg][0] as $a
   | select($b != null) | "\($t) \($b) → \($a // "-")"] | join("; ")' "$ALL")"
echo
cmd="bench/nbd.sh"
[[ $# -gt 0 ]] && cmd+=" $*"
for knob in JOBS TARGETS RAMP TRANSPORT; do
    if [[ -n "${!knob:-}" && "$knob=${!knob}" != "JOBS=randwrite4k_qd32 randread4k_qd32 seqwrite1m_qd8 seqread1m_qd8 randwrite4k_qd1" && "$knob=${!knob}" != "RAMP=2" && "$knob=${!knob}" != "TARGETS=bighorn-3r bighorn-1r nbdkit raw" && "$knob=${!knob}" != "TRANSPORT=tcp" ]]; then
        cmd="$knob=\"${!knob}\" $cmd"
    fi
done
echo "Command: \`$cmd\`"
