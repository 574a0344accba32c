# Shared helpers for ./bighorn and scripts/*. Source it; it defines functions only (and BIGHORN_ROOT).
# shellcheck shell=bash

BIGHORN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIGHORN_MIN_JAVA=25

# Prints the feature version (e.g. 25) of the JDK at $1, or nothing if $1 is not a usable JDK.
bighorn_jdk_version() {
    local home="$1" release version
    [[ -x "$home/bin/java" && -x "$home/bin/javac" ]] || return 0
    release="$home/release"
    if [[ -r "$release" ]]; then
        version="$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$release")"
    fi
    if [[ -z "${version:-}" ]]; then
        version="$("$home/bin/java" -XshowSettings:properties -version 2>&1 |
            sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')"
    fi
    printf '%s' "${version:-}"
}

# Finds a JDK >= 25 and exports JAVA_HOME (and puts it first on PATH). Order: $JAVA_HOME if it is 25+,
# /usr/lib/jvm/temurin-25-jdk-amd64, then any other /usr/lib/jvm/* that is 25 or newer (newest first).
# Exits 1 with a message naming the places it looked when there is none.
bighorn_find_jdk() {
    local candidates=() looked=() home version
    [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME")
    candidates+=(/usr/lib/jvm/temurin-25-jdk-amd64)
    local d
    while IFS= read -r d; do
        candidates+=("$d")
    done < <(ls -d /usr/lib/jvm/*/ 2>/dev/null | sed 's:/$::' | sort -V -r)
    for home in "${candidates[@]}"; do
        looked+=("$home")
        version="$(bighorn_jdk_version "$home")"
        if [[ -n "$version" && "$version" -ge "$BIGHORN_MIN_JAVA" ]]; then
            export JAVA_HOME="$home"
            export PATH="$JAVA_HOME/bin:$PATH"
            return 0
        fi
    done
    {
        echo "${0##*/}: a JDK $BIGHORN_MIN_JAVA or newer is needed, and none was found."
        echo "Looked at: JAVA_HOME (${JAVA_HOME:-unset}), /usr/lib/jvm/temurin-25-jdk-amd64, /usr/lib/jvm/*"
        echo "Checked: ${looked[*]:-nothing}"
        echo "Install one (e.g. Temurin 25) or set JAVA_HOME to it."
    } >&2
    exit 1
}

# bighorn_bench_dir GIVEN SCRATCH...: a benchmark's scratch directory. DIR becomes GIVEN, or when that
# is empty a fresh directory under /var/tmp (it must be on a real disk, not tmpfs) that is removed again
# on exit. The SCRATCH paths (relative to DIR) are removed on exit either way.
bighorn_bench_dir() {
    local given=$1
    shift
    if [[ -n "$given" ]]; then
        DIR=$given
        BIGHORN_OWN_DIR=0
    else
        DIR=$(mktemp -d /var/tmp/bighorn-bench.XXXXXX)
        BIGHORN_OWN_DIR=1
    fi
    BIGHORN_SCRATCH=("$@")
    trap bighorn_bench_cleanup EXIT
}

bighorn_bench_cleanup() {
    local p
    for p in "${BIGHORN_SCRATCH[@]}"; do
        rm -rf "${DIR:?}/$p"
    done
    if [[ $BIGHORN_OWN_DIR == 1 ]]; then
        rmdir "$DIR" 2>/dev/null || true
    fi
}

# bighorn_wait_for PID FILE PATTERN: waits (up to 60 s) until FILE, the log of process PID, has a line
# matching the extended regex PATTERN and prints the first match; fails, showing the log, if the process
# ends or the time runs out first.
bighorn_wait_for() {
    local pid=$1 file=$2 pattern=$3
    for _ in $(seq 600); do
        if grep -qE "$pattern" "$file" 2>/dev/null; then
            grep -oE "$pattern" "$file" | head -1
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "process $pid did not come up; its log:" >&2
    cat "$file" >&2
    return 1
}
