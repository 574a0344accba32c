#!/usr/bin/env bash
# bench/soak-rebuild.sh - the rebuild soak: RebuildIT with more rounds. Each round SIGKILLs one replica
# process while fio writes and verifies through the engine, restarts it, and rebuilds it with
# `bighorn ctl add-replica --wait`; at the end the three replicas must be byte-identical.
#
#   bench/soak-rebuild.sh [ROUNDS]      (default 100; the test suite runs 20)
#
# Needs fio (scripts/test installs it). Logs of every process: cli/target/it-logs/RebuildIT-*/.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# shellcheck source=../scripts/lib.sh
source "$ROOT/scripts/lib.sh"
bighorn_find_jdk

ROUNDS="${1:-100}"
cd "$ROOT"
./mvnw -q -B -DskipTests -Dit.test=NONE -Dfailsafe.failIfNoSpecifiedTests=false install >&2
./mvnw -B -pl cli verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false \
    -Dit.test=RebuildIT -Dfailsafe.failIfNoSpecifiedTests=false -Dbighorn.rebuild.rounds="$ROUNDS"
