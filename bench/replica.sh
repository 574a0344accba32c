#!/usr/bin/env bash
# bench/replica.sh - the replica micro-benchmark and the index RAM measurement.
#
#   bench/replica.sh [DIR] [SIZE_MiB] [SECONDS]
#
# 4 KiB random writes and reads at 1 and 8 threads into the page cache, on a Bighorn replica and on a
# plain FileChannel over a sparse file, in the same run; then the block index's RAM per GiB for volumes
# written in several patterns. DIR (default: a temp dir under /var/tmp) must be on a real disk.
# Prints Markdown tables for docs/performance.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
bighorn_find_jdk

bighorn_bench_dir "${1:-}" plain.img replica ram fresh.img fresh
SIZE="${2:-1024}"
SECONDS_PER_RUN="${3:-5}"

(cd "$ROOT" && ./mvnw -q -B -DskipTests -pl bench -am package) >&2
CP="$ROOT/bench/target/bighorn-bench-0.1.0-SNAPSHOT.jar:$(cat "$ROOT/bench/target/classpath.txt")"
JAVA=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx2g -cp "$CP")

echo "## Replica vs FileChannel ($SIZE MiB, ${SECONDS_PER_RUN} s per cell, $(nproc) cores, $(date -u +%F))"
echo
"${JAVA[@]}" io.bighorn.bench.ReplicaBench "$DIR" "$SIZE" "$SECONDS_PER_RUN"
echo
echo "## Index RAM ($SIZE MiB volume, reopened so the index is rebuilt from the files)"
echo
"${JAVA[@]}" io.bighorn.bench.IndexRamBench "$DIR" "$SIZE"
