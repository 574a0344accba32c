#!/usr/bin/env bash
# bench/wire.sh - the wire throughput check: 4 KiB random writes and reads from WireReplicaEndpoint to a
# ReplicaServer over loopback (both in one JVM), with IN_FLIGHT requests outstanding.
#
#   bench/wire.sh [DIR] [SIZE_MiB] [SECONDS] [IN_FLIGHT] [CONNECTIONS] [TRANSPORT]
#
# TRANSPORT: tcp (loopback, the default) or unix (a Unix domain socket in DIR).
#
# DIR (default: a temp dir under /var/tmp) must be on a real disk. Prints a Markdown table.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
bighorn_find_jdk

bighorn_bench_dir "${1:-}" wire-replica
SIZE="${2:-1024}"
SECONDS_PER_RUN="${3:-5}"
IN_FLIGHT="${4:-32}"
CONNECTIONS="${5:-2}"
TRANSPORT="${6:-tcp}"

(cd "$ROOT" && ./mvnw -q -B -DskipTests -pl bench -am package) >&2
CP="$ROOT/bench/target/bighorn-bench-0.1.0-SNAPSHOT.jar:$(cat "$ROOT/bench/target/classpath.txt")"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx2g -cp "$CP" \
    io.bighorn.bench.WireBench "$DIR" "$SIZE" "$SECONDS_PER_RUN" "$IN_FLIGHT" "$CONNECTIONS" "$TRANSPORT"
