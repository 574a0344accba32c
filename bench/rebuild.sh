#!/usr/bin/env bash
# bench/rebuild.sh - what a replica rebuild costs: full rebuild vs a plain copy, a fragmented rebuild,
# a catch-up's bytes vs the bytes written while the replica was away, foreground IOPS during a rebuild.
#
#   bench/rebuild.sh [DIR]
#
# On the disk under DIR (default /var/tmp), one case after the other, each on a fresh volume of SIZE
# served by `bighorn replica` processes and a `bighorn engine` (written through NBD with fio's nbd engine):
#   full        2 replicas, SIZE written (fio sequential 1M), sync + drop caches, then
#               a) plain copy: `dd bs=1M conv=fsync` of one replica's layer file (all SIZE bytes of data)
#                  to a new file on the same disk, page cache dropped before; the time includes dd's
#                  final fsync of the copy;
#               b) rebuild: drop caches, `ctl add-replica --wait` of a third, empty replica (its process
#                  started with the others and idle since, as in an agent that hosts it). Its time is
#                  the engine's (rebuild-status started -> finished; finished comes after finishRebuild,
#                  which datasyncs every layer of the target, so the rebuild is durable like the copy)
#                  and the wall clock of the ctl command (which adds the ctl client's JVM start and up
#                  to 0.5 s of polling). Ratio = copy time / rebuild time; goal >= 0.7.
#   fragmented  2 replicas, every other 4 KiB block written (fio --rw=write:4k --bs=4k, SIZE/2 of data),
#               then the same rebuild (caches dropped first): its time and MB/s of data.
#   catchup     3 replicas, SIZE written; one replica SIGKILLed; fio 4k random writes of WRITTEN bytes
#               over the whole volume, rate-limited to spread over SPREAD s (the first write turns the
#               replica ERR); the replica restarted on its dir and port and added again. Reports the
#               mode (must be catch-up), bytesSent, digestBytes and (bytesSent+digestBytes)/written
#               (written = fio's io_bytes); goal <= 2.
#   foreground  2 replicas, SIZE written; fio 4k random write QD32 for RUNTIME s without a rebuild, then
#               the same while a full rebuild of a third, empty replica runs (add-replica without --wait,
#               then fio). Reports both IOPS, their ratio, and how much of the fio run the rebuild covered
#               (the output says so when the rebuild ended before fio). The rebuilding replica takes every
#               write from the start (WO), so the ratio includes the cost of a third replica's writes.
# Processes listen on 127.0.0.1 port 0 (the script reads their "serving on" lines), with a fresh random
# cluster secret. Every process the script starts is stopped by its PID on exit, also on failure or
# Ctrl-C, and the scratch dir is removed. Must run as root (it drops the page cache).
#
# Environment:
#   SIZE     volume size (default 4G; fio sizes: G = GiB)
#   WRITTEN  bytes the catchup case writes while the replica is away (default 100M)
#   RUNTIME  seconds of each foreground fio run (default 30; RAMP, default 2, is added)
#   SPREAD   seconds the catchup case's writes are spread over (default 30)
#   CASES    subset/order of "full fragmented catchup foreground" (default: all four)
#   RESULTS  if set, one JSON line per case is also appended to this file
# Output: progress on stderr; on stdout a Markdown table (every figure, the goal where there is one)
# and the exact command line. MB/s = 10^6 bytes/s; MiB = 2^20 bytes. Exit status 1 when a rebuild failed
# (the table says which). The rest of the machine's load is not controlled: the load average around each
# case is printed with the table.
# With defaults: about 4 x SIZE of free disk space and roughly 10-15 minutes on 2 cores (mostly writing
# SIZE four times through NBD, the rebuilds, and JVM starts). With SIZE=256M WRITTEN=16M RUNTIME=5 about
# 4 minutes. Requires: fio (nbd engine), jq, awk, numfmt, dd, a JDK 25.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"

BASE="${1:-/var/tmp}"
SIZE="${SIZE:-4G}"
WRITTEN="${WRITTEN:-100M}"
RUNTIME="${RUNTIME:-30}"
RAMP="${RAMP:-2}"
CASES="${CASES:-full fragmented catchup foreground}"
SPREAD="${SPREAD:-30}"

for tool in fio jq awk numfmt dd; do
    command -v "$tool" >/dev/null || { echo "bench/rebuild.sh: $tool not found" >&2; exit 1; }
done
fio --enghelp=nbd >/dev/null 2>&1 || { echo "bench/rebuild.sh: this fio has no nbd ioengine" >&2; exit 1; }
[[ -w /proc/sys/vm/drop_caches ]] || { echo "bench/rebuild.sh: must run as root (drops the page cache)" >&2; exit 1; }
[[ $SPREAD =~ ^[1-9][0-9]*$ && $RUNTIME =~ ^[1-9][0-9]*$ && $RAMP =~ ^[0-9]+$ ]] || {
    echo "bench/rebuild.sh: SPREAD, RUNTIME and RAMP are whole seconds" >&2
    exit 2
}
SIZE_BYTES=$(numfmt --from=iec "$SIZE")
WRITTEN_BYTES=$(numfmt --from=iec "$WRITTEN")
for c in $CASES; do
    case "$c" in
        full | fragmented | catchup | foreground) ;;
        *) echo "bench/rebuild.sh: unknown case $c (CASES: full fragmented catchup foreground)" >&2; exit 2 ;;
    esac
done

mkdir -p "$BASE"
WORK="$(mktemp -d "$BASE/bighorn-rebuild.XXXXXX")"
ALL="$WORK/results.jsonl"  # one JSON object per case
ROWS="$WORK/rows.tsv"      # the table: case, figure, value, goal, met
NOTES="$WORK/notes.txt"
: >"$ALL"
: >"$ROWS"
: >"$NOTES"
PIDS=()
ENGINE_PID=
FAILED=0
declare -A URL=() PID_OF=() WHAT=() # WHAT: pid -> what it is, for the log

log() { echo "[rebuild.sh $(date +%T)] $*" >&2; }

stop_pid() { # pid: TERM, up to 15 s for a clean shutdown, then KILL
    local pid=$1 t0=$SECONDS
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid (${WHAT[$pid]:-?}) did not stop in 15 s; killing it"
        kill -9 "$pid" 2>/dev/null || true
    elif ((SECONDS - t0 > 2)); then
        log "pid $pid (${WHAT[$pid]:-?}) took $((SECONDS - t0)) s to stop"
    fi
    wait "$pid" 2>/dev/null || true
}

forget_pid() { # pid: no longer ours to stop (it ended and was waited for)
    local p kept=()
    for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
    PIDS=("${kept[@]}")
}

stop_all() { # the engine first (it flushes to its replicas), then the rest, newest first
    local i
    if [[ -n $ENGINE_PID ]]; then
        stop_pid "$ENGINE_PID"
        forget_pid "$ENGINE_PID"
        ENGINE_PID=
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
    PIDS=()
    URL=()
    PID_OF=()
}

cleanup() {
    stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a command in the background and waits for it, so that a signal is handled at once and cleanup
# can stop the command. Never call it in $(...): the PID must be recorded in this shell.
run_bg() {
    local pid rc=0
    "$@" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

# Waits until $2 (a log file) holds a line matching $3, or the process $1 died; prints the match.

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }  # expression [decimals]
epoch_of() { date -d "$1" +%s.%N; }                      # ISO-8601 instant -> seconds
mib() { calc "$1 / 1048576" 1; }
met() { # value op bound
    awk -v v="$1" -v op="$2" -v b="$3" 'BEGIN { ok = op == ">=" ? v >= b : v <= b; print ok ? "yes" : "**no**" }'
}
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$ROWS"; }
note() { log "$*"; echo "$*" >>"$NOTES"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Starts one `bighorn replica` per NAME (in $CASE_DIR/NAME, a free port; NAME=HOST:PORT to choose the
# port), all at once, then waits for each; sets URL[NAME] and PID_OF[NAME].
start_replicas() {
    local spec name listen pids=() names=() logs=() i
    for spec in "$@"; do
        name=${spec%%=*}
        listen=127.0.0.1:0
        [[ $spec == *=* ]] && listen=${spec#*=}
        logs+=("$CASE_DIR/$name.$(date +%s%N).log")
        "$ROOT/bighorn" replica --dir "$CASE_DIR/$name" --size "$SIZE" --listen "$listen" \
            --secret-file "$WORK/secret" >"${logs[-1]}" 2>&1 &
        PIDS+=("$!")
        pids+=("$!")
        WHAT[$!]="replica $name"
        names+=("$name")
    done
    for i in "${!names[@]}"; do
        PID_OF[${names[i]}]=${pids[i]}
        URL[${names[i]}]=$(bighorn_wait_for "${pids[i]}" "${logs[i]}" 'serving on tcp://[0-9.]+:[0-9]+' | sed 's/^serving on //')
    done
}

# Starts the engine on the named replicas; sets NBD (the export's URI) and CTL (the control address).
start_engine() {
    local args=() n line
    for n in "$@"; do args+=(--replica "${URL[$n]}"); done
    "$ROOT/bighorn" engine --volume vol0 --size "$SIZE" "${args[@]}" --nbd 127.0.0.1:0 \
        --control 127.0.0.1:0 --secret-file "$WORK/secret" >"$CASE_DIR/engine.log" 2>&1 &
    ENGINE_PID=$!
    PIDS+=("$ENGINE_PID")
    WHAT[$ENGINE_PID]=engine
    line=$(bighorn_wait_for "$ENGINE_PID" "$CASE_DIR/engine.log" 'serving nbd://[^,]+, control on [0-9.]+:[0-9]+')
    NBD=$(sed -E 's/^serving (nbd:[^,]+),.*/\1/' <<<"$line")
    CTL=${line##*control on }
    log "engine pid $ENGINE_PID serving $NBD (control $CTL) on $*"
}

ctl() { # ctl arguments...: one `bighorn ctl` call against this case's engine (in the background)
    run_bg "$ROOT/bighorn" ctl --engine "$CTL" "$@"
}

# fio on the volume: fio_nbd NAME ARGS...; its JSON report is $CASE_DIR/NAME.json
fio_nbd() {
    local name=$1
    shift
    if ! run_bg fio --name="$name" --ioengine=nbd --uri="$NBD" --size="$SIZE" --numjobs=1 --group_reporting \
        --randrepeat=0 --norandommap --output-format=json --output="$CASE_DIR/$name.json" "$@" \
        >"$CASE_DIR/$name.log" 2>&1; then
        log "fio $name failed:"
        cat "$CASE_DIR/$name.log" "$CASE_DIR/$name.json" >&2 2>/dev/null || true
        return 1
    fi
}
fio_get() { jq -r ".jobs[0].write.$2" "$CASE_DIR/$1.json"; } # name field

fill() {
    log "writing $SIZE sequentially (fio 1M, QD16)"
    fio_nbd fill --rw=write --bs=1M --iodepth=16
}

# add-replica --wait of replica NAME; the final status goes to $CASE_DIR/NAME.rebuild.json and
# REBUILD_WALL is the command's wall clock. Fails (with the engine's reason on stderr) if the rebuild does.
rebuild() {
    local out="$CASE_DIR/$1.rebuild.json" t0 rc=0
    t0=$(now)
    ctl add-replica "${URL[$1]}" --wait --json >"$out" 2>"$out.err" || rc=$?
    REBUILD_WALL=$(calc "$(now) - $t0" 3)
    if ((rc != 0)); then
        log "add-replica ${URL[$1]} failed (exit $rc):"
        cat "$out" "$out.err" >&2
    fi
    return "$rc"
}
st() { jq -r ".$2" "$CASE_DIR/$1.rebuild.json"; }                       # name field
st_error() { jq -r '.error' "$CASE_DIR/$1.rebuild.json" 2>/dev/null || echo "see the log above"; }
engine_secs() { calc "$(epoch_of "$(st "$1" finished)") - $(epoch_of "$(st "$1" started)")" 3; }

record() { tee -a "$ALL" >&2; } # a case's JSON line: into the results, and shown on stderr

case_failed() { # case message
    FAILED=1
    row "$1" "**FAILED**" "$2" "-" "**no**"
    note "$1: $2"
}

# ---- the cases

case_full() {
    local layer copy_s t0 eng mbps ratio ratio_wall state
    # c, the replica to rebuild, is started with the others and idles until then, as a replica hosted by a
    # node's long-running agent would: the rebuild's time is the copy's, not a fresh JVM's start
    start_replicas a b c
    start_engine a b
    fill
    layer=$(ls "$CASE_DIR"/a/layer-*.img)
    [[ $(wc -l <<<"$layer") == 1 ]] || { log "expected one layer file in replica a, found: $layer"; return 1; }
    log "plain copy: dd bs=1M conv=fsync of $(basename "$layer") ($(stat -c %s "$layer") bytes), caches dropped"
    drop_caches
    t0=$(now)
    run_bg dd if="$layer" of="$CASE_DIR/copy.img" bs=1M conv=fsync status=none
    copy_s=$(calc "$(now) - $t0" 3)
    rm -f "$CASE_DIR/copy.img"
    log "plain copy took $copy_s s; rebuilding the empty replica c, caches dropped"
    drop_caches
    if ! rebuild c; then
        case_failed full "rebuild of an empty replica failed: $(st_error c)"
        return 0
    fi
    state=$(st c state)
    eng=$(engine_secs c)
    mbps=$(calc "$(st c bytesPerSecond) / 1e6" 1)
    ratio=$(calc "$copy_s / $eng")
    ratio_wall=$(calc "$copy_s / $REBUILD_WALL")
    log "rebuild $state: engine $eng s, wall $REBUILD_WALL s, $mbps MB/s; copy/rebuild $ratio"
    row full "data copied (rebuild bytesDone)" "$(mib "$(st c bytesDone)") MiB" "-" "-"
    row full "plain copy: dd bs=1M conv=fsync, caches dropped" "$copy_s s ($(calc "$SIZE_BYTES / $copy_s / 1e6" 1) MB/s)" "-" "-"
    row full "rebuild, engine time (started → finished, incl. datasync)" "$eng s ($mbps MB/s = bytesPerSecond)" "-" "-"
    row full "rebuild, wall clock of add-replica --wait" "$REBUILD_WALL s" "-" "-"
    row full "copy time / rebuild time (engine)" "$ratio" "≥ 0.7" "$(met "$ratio" ">=" 0.7)"
    row full "copy time / rebuild time (wall clock)" "$ratio_wall" "≥ 0.7" "$(met "$ratio_wall" ">=" 0.7)"
    row full "rebuild bytesSent / digestBytes" "$(mib "$(st c bytesSent)") MiB / $(mib "$(st c digestBytes)") MiB" "-" "-"
    jq -nc --arg mode "$(st c mode)" --arg state "$state" --argjson size "$SIZE_BYTES" \
        --argjson copy "$copy_s" --argjson eng "$eng" --argjson wall "$REBUILD_WALL" \
        --argjson bdone "$(st c bytesDone)" --argjson sent "$(st c bytesSent)" \
        --argjson digest "$(st c digestBytes)" --argjson bps "$(st c bytesPerSecond)" \
        '{case: "full", size: $size, copy_s: $copy, rebuild_s: $eng, rebuild_wall_s: $wall, mode: $mode,
          state: $state, bytes_done: $bdone, bytes_sent: $sent, digest_bytes: $digest,
          bytes_per_second: $bps, ratio: ($copy / $eng), ratio_wall: ($copy / $wall)}' | record
}

case_fragmented() {
    local eng mbps
    start_replicas a b c # c idles until its rebuild (see case_full)
    start_engine a b
    log "writing every other 4 KiB block ($((SIZE_BYTES / 2)) bytes of data, fio write:4k QD16)"
    fio_nbd frag --rw=write:4k --bs=4k --iodepth=16 --io_size=$((SIZE_BYTES / 2))
    drop_caches
    log "rebuilding the empty replica c, caches dropped"
    if ! rebuild c; then
        case_failed fragmented "rebuild of an empty replica failed: $(st_error c)"
        return 0
    fi
    eng=$(engine_secs c)
    mbps=$(calc "$(st c bytesPerSecond) / 1e6" 1)
    log "rebuild $(st c state): engine $eng s, wall $REBUILD_WALL s, $mbps MB/s of data"
    row fragmented "data (bytesDone; every other 4 KiB block of $SIZE)" "$(mib "$(st c bytesDone)") MiB" "-" "-"
    row fragmented "rebuild, engine time (started → finished)" "$eng s" "-" "-"
    row fragmented "rebuild, wall clock of add-replica --wait" "$REBUILD_WALL s" "-" "-"
    row fragmented "rebuild rate of data (bytesPerSecond)" "$mbps MB/s" "-" "-"
    row fragmented "rebuild bytesSent / digestBytes" "$(mib "$(st c bytesSent)") MiB / $(mib "$(st c digestBytes)") MiB" "-" "-"
    jq -nc --arg state "$(st c state)" --argjson size "$SIZE_BYTES" --argjson eng "$eng" \
        --argjson wall "$REBUILD_WALL" --argjson bdone "$(st c bytesDone)" --argjson sent "$(st c bytesSent)" \
        --argjson digest "$(st c digestBytes)" --argjson bps "$(st c bytesPerSecond)" \
        '{case: "fragmented", size: $size, rebuild_s: $eng, rebuild_wall_s: $wall, state: $state,
          bytes_done: $bdone, bytes_sent: $sent, digest_bytes: $digest, bytes_per_second: $bps}' | record
}

case_catchup() {
    local rate written mode cmode sent digest ratio port eng
    start_replicas a b c
    start_engine a b c
    fill
    port=${URL[c]##*:}
    log "SIGKILL replica c (pid ${PID_OF[c]}, ${URL[c]})"
    kill -9 "${PID_OF[c]}"
    wait "${PID_OF[c]}" 2>/dev/null || true
    forget_pid "${PID_OF[c]}"
    rate=$(((WRITTEN_BYTES + SPREAD - 1) / SPREAD))
    log "fio 4k random writes of $WRITTEN over the volume at $rate bytes/s (about ${SPREAD}s)"
    fio_nbd away --rw=randwrite --bs=4k --iodepth=8 --io_size="$WRITTEN_BYTES" --rate="$rate"
    written=$(fio_get away io_bytes)
    ctl replicas --json >"$CASE_DIR/replicas.json"
    cmode=$(jq -r --arg u "${URL[c]}" '.[] | select(.address == $u) | .mode' "$CASE_DIR/replicas.json")
    log "replica c is $cmode after the writes; restarting it on port $port"
    [[ $cmode == ERR ]] || note "catchup: replica c was $cmode, not ERR, after the writes"
    start_replicas c="127.0.0.1:$port"
    if ! rebuild c; then
        case_failed catchup "add-replica of the returning replica failed: $(st_error c)"
        return 0
    fi
    mode=$(st c mode)
    sent=$(st c bytesSent)
    digest=$(st c digestBytes)
    eng=$(engine_secs c)
    ratio=$(calc "($sent + $digest) / $written")
    log "rebuild $(st c state), mode $mode: sent $sent, digests $digest, written $written: ratio $ratio"
    row catchup "written while away (fio io_bytes, 4k random)" "$(mib "$written") MiB in $(calc "$(fio_get away runtime) / 1000" 1) s" "-" "-"
    row catchup "mode" "$mode" "catch-up" "$([[ $mode == catch-up ]] && echo yes || echo "**no**")"
    row catchup "regions resynced (bytesDone)" "$(mib "$(st c bytesDone)") MiB" "-" "-"
    row catchup "bytesSent / digestBytes" "$(mib "$sent") MiB / $(mib "$digest") MiB" "-" "-"
    row catchup "(bytesSent + digestBytes) / written" "$ratio" "≤ 2" "$(met "$ratio" "<=" 2)"
    row catchup "catch-up, engine time / wall clock of add-replica --wait" "$eng s / $REBUILD_WALL s" "-" "-"
    jq -nc --arg mode "$mode" --arg state "$(st c state)" --argjson size "$SIZE_BYTES" \
        --argjson written "$written" --argjson bdone "$(st c bytesDone)" --argjson sent "$sent" \
        --argjson digest "$digest" --argjson eng "$eng" --argjson wall "$REBUILD_WALL" \
        '{case: "catchup", size: $size, written: $written, mode: $mode, state: $state, bytes_done: $bdone,
          bytes_sent: $sent, digest_bytes: $digest, ratio: (($sent + $digest) / $written),
          rebuild_s: $eng, rebuild_wall_s: $wall}' | record
}

case_foreground() {
    local base during ratio fio_t0 fio_t1 state started finished window overlap eng
    start_replicas a b c # c idles until its rebuild (see case_full)
    start_engine a b
    fill
    sync
    log "fio 4k random write QD32 for ${RUNTIME}s (+${RAMP}s ramp), no rebuild"
    fio_nbd base --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$RUNTIME" --ramp_time="$RAMP"
    base=$(fio_get base iops)
    sync
    log "starting a full rebuild of the empty replica c, then the same fio"
    if ! ctl add-replica "${URL[c]}" --json >"$CASE_DIR/c.start.json"; then
        case_failed foreground "add-replica of an empty replica failed"
        return 0
    fi
    fio_t0=$(now)
    fio_nbd during --rw=randwrite --bs=4k --iodepth=32 --time_based --runtime="$RUNTIME" --ramp_time="$RAMP"
    fio_t1=$(now)
    during=$(fio_get during iops)
    while :; do
        ctl rebuild-status --json >"$CASE_DIR/c.rebuild.json"
        state=$(st c state)
        [[ $state == running ]] || break
        sleep 1
    done
    if [[ $state != "done" ]]; then
        case_failed foreground "the rebuild during fio ended $state: $(st_error c)"
    fi
    started=$(epoch_of "$(st c started)")
    finished=$(epoch_of "$(st c finished)")
    eng=$(engine_secs c)
    # the share of fio's measured window (after its ramp) the rebuild was running in
    window=$(calc "$fio_t1 - ($fio_t0 + $RAMP)" 3)
    overlap=$(awk -v s="$started" -v f="$finished" -v a="$(calc "$fio_t0 + $RAMP" 3)" -v b="$fio_t1" \
        'BEGIN { lo = s > a ? s : a; hi = f < b ? f : b; o = (hi - lo) / (b - a); if (o < 0) o = 0; if (o > 1) o = 1; printf "%.0f", 100 * o }')
    if awk -v f="$finished" -v b="$fio_t1" 'BEGIN { exit !(f < b) }'; then
        if ((overlap == 0)); then
            note "foreground: the rebuild ($eng s) ended before fio's measured window began: the 'during' IOPS are those of 3 RW replicas with no rebuild; use a larger SIZE"
        else
            note "foreground: the rebuild finished $(calc "$fio_t1 - $finished" 1) s before fio did: it ran during $overlap% of fio's ${window}s measured window, the rest of it is 3 RW replicas with no rebuild"
        fi
    fi
    ratio=$(calc "$during / $base")
    log "IOPS $base without, $during during the rebuild ($ratio); rebuild $state in $eng s, overlap $overlap%"
    row foreground "IOPS, 4k random write QD32, no rebuild" "$(calc "$base" 0)" "-" "-"
    row foreground "IOPS, same, during a full rebuild" "$(calc "$during" 0)" "-" "-"
    row foreground "IOPS during / IOPS without" "$ratio" "-" "-"
    row foreground "share of the fio run with the rebuild running" "$overlap %" "-" "-"
    row foreground "rebuild under this load, engine time ($state)" "$eng s ($(calc "$(st c bytesPerSecond) / 1e6" 1) MB/s)" "-" "-"
    jq -nc --arg state "$state" --argjson size "$SIZE_BYTES" --argjson base "$base" --argjson during "$during" \
        --argjson overlap "$overlap" --argjson eng "$eng" --argjson runtime "$RUNTIME" \
        '{case: "foreground", size: $size, runtime: $runtime, iops_base: $base, iops_during: $during,
          ratio: ($during / $base), rebuild_overlap_pct: $overlap, rebuild_s: $eng, rebuild_state: $state}' | record
}

log "building bighorn (when stale)"
"$ROOT/bighorn" --version >/dev/null
head -c 32 /dev/urandom | base64 >"$WORK/secret"
chmod 600 "$WORK/secret"

avail=$(df --output=avail -B1 "$WORK" | tail -1)
if ((avail < 4 * SIZE_BYTES)); then
    log "only $avail bytes free under $BASE; the full case needs about 4 x $SIZE"
    exit 1
fi
log "scratch dir $WORK on $(df --output=source "$WORK" | tail -1), SIZE $SIZE, WRITTEN $WRITTEN, RUNTIME ${RUNTIME}s, $(nproc) cores"
log "cases: $CASES"
LOADS=()
for c in $CASES; do
    CASE_DIR="$WORK/$c"
    mkdir -p "$CASE_DIR"
    sync
    before=$(load)
    log "---- $c"
    "case_$c"
    LOADS+=("$c $before → $(load)")
    stop_all
    rm -rf "$CASE_DIR"
    log "$c: processes stopped, scratch removed"
done

[[ -n "${RESULTS:-}" ]] && cat "$ALL" >>"$RESULTS"

# ---- the table
echo
echo "## Bighorn rebuild ($SIZE volume, $(nproc) cores, $(date -u +%F))"
echo
echo "| case | figure | value | goal | met |"
echo "|---|---|---|---|---|"
while IFS=$'\t' read -r c f v g m; do
    echo "| $c | $f | $v | $g | $m |"
done <"$ROWS"
echo
if [[ -s $NOTES ]]; then
    sed 's/^/- /' "$NOTES"
    echo
fi
loads=$(printf '%s; ' "${LOADS[@]}")
echo "Load average (1/5/15 min) before → after each case: ${loads%; }"
echo
echo "Command: \`SIZE=$SIZE WRITTEN=$WRITTEN RUNTIME=$RUNTIME RAMP=$RAMP SPREAD=$SPREAD CASES=\"$CASES\" bench/rebuild.sh $BASE\`"
if ((FAILED)); then exit 1; fi
