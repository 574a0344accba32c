#!/usr/bin/env bash
# bench/backup.sh - backup and restore throughput against a plain transfer of the same bytes.
#
#   bench/backup.sh [DIR] [SIZE_MiB] [CONCURRENCY] [TARGETS]
#
# On the disk under DIR (default: a fresh directory under /var/tmp, removed afterwards), BackupBench
# writes a SIZE_MiB volume (default 4096) into a Bighorn replica, the first half random data and the
# second half written zeros, snapshots it, and then for each target, one after the other:
#   file  a directory target (file://DIR/target);
#   s3    s3proxy started in the same JVM on a free port of 127.0.0.1, storing its objects on disk under
#         DIR/s3, reached over HTTP with AWS signature V4 (s3://bench@us-east-1/backups, AWS_ENDPOINTS);
# (TARGETS: a comma-separated subset of "file,s3", default both)
# it takes a full backup (lz4, 2 MiB blocks, CONCURRENCY uploads at once, default 4) and times it, then
# times the plain transfer of the same compressed blocks (read into memory first): written as files with
# write + fsync, or put with the same AWS SDK v2 client settings, CONCURRENCY at a time. Then it restores
# the backup into a new replica directory (download, decompress, verify each block's SHA-512, write) and
# times a plain parallel download of the same objects. Ratio = plain time / Bighorn time (goal >= 0.8
# for the backup). The page cache is not dropped: the volume and the objects are read from memory.
# BENCH_JAVA_OPTS adds options to the JVM (e.g. for a profiler). Output: progress on stderr; a Markdown table on stdout (MB = 10^6 bytes). Needs about 3 x SIZE of disk.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
bighorn_find_jdk

bighorn_bench_dir "${1:-}" src s3 target plain-file plain-s3 restored-file restored-s3
SIZE="${2:-4096}"
CONCURRENCY="${3:-4}"
TARGETS="${4:-file,s3}"

(cd "$ROOT" && ./mvnw -q -B -DskipTests -Dit.test=NONE -Dfailsafe.failIfNoSpecifiedTests=false -pl bench -am package) >&2
CP="$ROOT/bench/target/bighorn-bench-0.1.0-SNAPSHOT.jar:$(cat "$ROOT/bench/target/classpath.txt")"

echo "## Backup and restore, $SIZE MiB volume (half random, half zeros), concurrency $CONCURRENCY, $(nproc) cores, $(date -u +%F)"
echo
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx8g ${BENCH_JAVA_OPTS:-} -cp "$CP" \
    io.bighorn.bench.BackupBench "$DIR" "$SIZE" "$CONCURRENCY" "$TARGETS"
echo
echo "Command: bench/backup.sh ${1:-\"\"} $SIZE $CONCURRENCY $TARGETS"
