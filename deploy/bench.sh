#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run the load benchmarks and print one line per figure: "NAME VALUE UNIT" (ratios as
# "NAME_ratio VALUE"). Method and recorded results: docs/BENCHMARKS.md.
#
#   deploy/bench.sh            full run (about 2 minutes of measurement, plus micro-benchmarks)
#   deploy/bench.sh --quick    short run (seconds per scenario), no micro-benchmarks
#
# Starts its own PostgreSQL with default (durable) settings in .data/bench-pg on
# 127.0.0.1:5545, fresh each run, and stops it at the end. Full output: .data/logs/bench.log
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh

quick=false
for arg in "$@"; do
    case "$arg" in
        --quick) quick=true ;;
        -h | --help)
            awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) hoop_die "unknown argument: $arg (try --help)" ;;
    esac
done

seconds=8
$quick && seconds=2

hoop_ensure_dotnet
hoop_ensure_postgres

PG_DIR="$HOOP_ROOT/.data/bench-pg"
PG_PORT=5545
mkdir -p "$HOOP_ROOT/.data/logs"
log="$HOOP_ROOT/.data/logs/bench.log"
: >"$log"

hoop_info "Building (Release)"
dotnet build Hoop.Actors.sln -c Release >>"$log" 2>&1 || {
    tail -n 30 "$log" >&2
    hoop_die "build failed; see $log"
}

hoop_pg_stop "$PG_DIR" >/dev/null
rm -rf "$PG_DIR"
trap 'hoop_pg_stop "$PG_DIR" >/dev/null' EXIT
hoop_pg_start "$PG_DIR" "$PG_PORT" >>"$log"
hoop_pg_createdb "$PG_PORT" hoop_bench >>"$log"
conn="$(hoop_pg_connstr "$PG_PORT" hoop_bench)"
ConnectionStrings__Hoop="$conn" dotnet src/Silo/bin/Release/net10.0/hoop-silo.dll migrate >>"$log" 2>&1 ||
    hoop_die "migration of the bench database failed; see $log"

hoop_info "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
hoop_info "Event store appends (${seconds}s per scenario)"
dotnet tests/Hoop.Benchmarks/bin/Release/net10.0/Hoop.Benchmarks.dll append --conn "$conn" --seconds "$seconds" | tee -a "$log"

hoop_info "Silo: grain calls over loopback HTTP, cross-silo approval release"
calls=3000
approvals=40
$quick && calls=500 && approvals=10
dotnet tests/Hoop.Benchmarks/bin/Release/net10.0/Hoop.Benchmarks.dll silo --conn "$conn" \
    --policy "$HOOP_ROOT/deploy/config/policy.json" --calls "$calls" --approvals "$approvals" | tee -a "$log"

if ! $quick; then
    hoop_info "Micro-benchmarks (BenchmarkDotNet; details in $log)"
    (cd "$HOOP_ROOT/.data" && dotnet "$HOOP_ROOT/tests/Hoop.Benchmarks/bin/Release/net10.0/Hoop.Benchmarks.dll" micro --filter '*' --join) >>"$log" 2>&1 ||
        hoop_warn "micro-benchmarks failed; see $log"
    grep -E '^\| *[A-Za-z]+ *\|' "$log" | tail -n 4 || true
fi
