#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Stop what deploy/up.sh started: the processes recorded in .data/run/*.pid, then the
# PostgreSQL cluster in .data/pg. Safe to run when nothing is running.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh

RUN_DIR="$HOOP_ROOT/.data/run"
PG_DIR="$HOOP_ROOT/.data/pg"

# Alive and a Hoop process (guards against a recycled pid).
pid_is_hoop() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qi 'hoop'
}

stopped=0
pids=()
names=()
for pidfile in "$RUN_DIR"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    name="$(basename "$pidfile" .pid)"
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    if pid_is_hoop "$pid"; then
        echo "Stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
        names+=("$name")
    fi
    rm -f "$pidfile"
done

for i in "${!pids[@]}"; do
    pid="${pids[$i]}"
    waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        hoop_warn "${names[$i]} (pid $pid) did not stop within 15 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    stopped=$((stopped + 1))
done

if hoop_pg_running "$PG_DIR"; then
    hoop_pg_stop "$PG_DIR"
    stopped=$((stopped + 1))
fi

if ((stopped == 0)); then
    echo "Nothing was running."
else
    echo "Local stack stopped."
fi
