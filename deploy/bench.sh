#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run the load benchmarks and print one line per figure: "NAME VALUE UNIT" (ratios as
# "NAME_ratio VALUE"). Method and recorded results: docs/BENCHMARKS.md.
#
#   deploy/bench.sh                 full run (about 4 minutes of measurement, plus micro-benchmarks)
#   deploy/bench.sh --quick         short run (seconds per scenario), no micro-benchmarks
#   deploy/bench.sh --only gateway  only that section: append, silo, projections, mask, gateway,
#                                   telemetry, rebuild or failover (repeatable)
#
# Event store and silo: its own PostgreSQL with default (durable) settings in .data/bench-pg
# on 127.0.0.1:5545, fresh each run, stopped at the end.
# Gateway and failover: the local stack (HOOP_SILOS=2 HOOP_GATEWAYS=2 deploy/up.sh --detach unless
# set otherwise; stopped at the end, unless it was already up: then it is used and left running,
# except for the silo the failover section kills), Telemetry: the gateway's headline figures on a stack
# started with telemetry on (as up.sh runs it) and on one started with it off, same sitting (needs
# to restart the stack: skipped when it was up before the run). And Debian's nginx (installed with apt-get when
# missing, as root) as a plain reverse proxy to the fake upstream on 127.0.0.1:5690, config,
# pid and logs in .data/bench-nginx/, stopped at the end. Full output: .data/logs/bench.log
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh

quick=false
only=()
while (($# > 0)); do
    case "$1" in
        --quick) quick=true ;;
        --only)
            [[ $# -ge 2 && "$2" =~ ^(append|silo|projections|mask|gateway|telemetry|rebuild|failover)$ ]] || hoop_die "--only needs append, silo, projections, mask, gateway, telemetry, rebuild or failover"
            only+=("$2")
            shift
            ;;
        -h | --help)
            awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *) hoop_die "unknown argument: $1 (try --help)" ;;
    esac
    shift
done

# wanted SECTION: whether the section runs (all of them, unless --only names some).
wanted() {
    ((${#only[@]} == 0)) && return 0
    local section
    for section in "${only[@]}"; do
        [[ "$section" == "$1" ]] && return 0
    done
    return 1
}

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

BENCH_DLL="$HOOP_ROOT/tests/Hoop.Benchmarks/bin/Release/net10.0/Hoop.Benchmarks.dll"
NGINX_DIR="$HOOP_ROOT/.data/bench-nginx"
NGINX_PORT=5690
started_stack=false
started_nginx=false

# On exit: stop what this run started (nginx, the local stack, the bench PostgreSQL).
cleanup() {
    if $started_nginx; then
        started_nginx=false
        nginx -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" -s quit >>"$log" 2>&1 ||
            hoop_warn "could not stop nginx (pid file $NGINX_DIR/nginx.pid)"
    fi
    if $started_stack; then
        started_stack=false
        deploy/down.sh >>"$log" 2>&1 || hoop_warn "deploy/down.sh failed; see $log"
    fi
    hoop_pg_stop "$PG_DIR" >/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hoop_info "Machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
# The disk's flush, back to back and about 1 ms apart (the pace of one request at a time): every
# commit waits for one, and on virtual disks the second is often many times the first. Latency
# figures below (c=1 above all: two commits per exchange) move with it from run to run.
dotnet "$BENCH_DLL" disk --dir "$HOOP_ROOT/.data" | tee -a "$log"

if wanted append || wanted silo || wanted projections; then
    hoop_pg_stop "$PG_DIR" >/dev/null
    rm -rf "$PG_DIR"
    hoop_pg_start "$PG_DIR" "$PG_PORT" >>"$log"
    # The silo section gets a database of its own: the append section leaves about a million
    # events in hoop_bench, and silos started over them spend their first minute projecting that
    # history, which would be measured as slow approvals and grain calls.
    for db in hoop_bench hoop_bench_silo; do
        hoop_pg_createdb "$PG_PORT" "$db" >>"$log"
        ConnectionStrings__Hoop="$(hoop_pg_connstr "$PG_PORT" "$db")" dotnet src/Silo/bin/Release/net10.0/hoop-silo.dll migrate >>"$log" 2>&1 ||
            hoop_die "migration of the bench database $db failed; see $log"
    done
    conn="$(hoop_pg_connstr "$PG_PORT" hoop_bench)"
    silo_conn="$(hoop_pg_connstr "$PG_PORT" hoop_bench_silo)"
fi

if wanted append; then
    hoop_info "Event store appends (${seconds}s per scenario)"
    dotnet "$BENCH_DLL" append --conn "$conn" --seconds "$seconds" | tee -a "$log"
fi

if wanted silo; then
    # activation_100k_ms: median of the activations of a session of >= 100,000 events from its snapshot plus a
    # short tail (target <= 200 ms); activation_100k_full_fold_ms: its first activation, the whole stream folded.
    hoop_info "Silo: grain calls from an Orleans client, cross-silo approval release, activation of a 100,000-event session"
    calls=3000
    approvals=40
    activations=11
    $quick && calls=500 && approvals=10 && activations=5
    dotnet "$BENCH_DLL" silo --conn "$silo_conn" \
        --policy "$HOOP_ROOT/deploy/config/policy.json" --calls "$calls" --approvals "$approvals" \
        --activations "$activations" | tee -a "$log"
fi

if wanted projections; then
    # A synthetic history (1M events; 100k with --quick), each projection rebuilt from event 0,
    # then the daemon's lag while 16 writers append exchanges as the gateway does.
    history=1000000
    lag_seconds=10
    $quick && history=100000 && lag_seconds=3
    hoop_info "Projections: ${history} events of history, rebuilds, daemon lag under load (${lag_seconds}s)"
    dotnet "$BENCH_DLL" projections --conn "$conn" --events "$history" --seconds "$lag_seconds" --writers 16 | tee -a "$log"
fi

if wanted mask; then
    hoop_info "Masking: MB/s on one thread (prose, code, PII-dense), added time per streamed chunk"
    dotnet "$BENCH_DLL" mask --seconds "$((seconds / 2 > 0 ? seconds / 2 : 1))" | tee -a "$log"
fi

if ! $quick && ((${#only[@]} == 0)); then
    hoop_info "Micro-benchmarks (BenchmarkDotNet; details in $log)"
    (cd "$HOOP_ROOT/.data" && dotnet "$HOOP_ROOT/tests/Hoop.Benchmarks/bin/Release/net10.0/Hoop.Benchmarks.dll" micro --filter '*' --join) >>"$log" 2>&1 ||
        hoop_warn "micro-benchmarks failed; see $log"
    grep -E '^\| *[A-Za-z]+ *\|' "$log" | tail -n 4 || true
fi

# --- gateway: the same requests direct, through nginx, through the gateway ------------------
http_ok() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true)" == 200 ]]; }

# Debian's nginx as a plain reverse proxy to the fake upstream: HTTP/1.1 keep-alive to the
# upstream, no buffering (SSE passes event by event), no access log; everything under
# .data/bench-nginx/. Returns 1 (after a note) when nginx is not available.
start_nginx() {
    PATH="$PATH:/usr/sbin"
    if ! command -v nginx >/dev/null 2>&1; then
        if ! hoop_is_root; then
            hoop_warn "nginx is not installed and this is not root: skipping the nginx figures (apt-get install nginx)"
            return 1
        fi
        hoop_info "installing with apt-get: nginx"
        if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx; } >>"$log" 2>&1; then
            hoop_warn "apt-get install nginx failed (see $log): skipping the nginx figures"
            return 1
        fi
    fi
    if (: <"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; then
        hoop_warn "port $NGINX_PORT is already in use on 127.0.0.1: skipping the nginx figures"
        return 1
    fi
    rm -rf "$NGINX_DIR"
    mkdir -p "$NGINX_DIR/logs" "$NGINX_DIR/tmp"
    cat >"$NGINX_DIR/nginx.conf" <<NGINX_CONF
# Generated by deploy/bench.sh: a plain reverse proxy, for comparison with the gateway.
worker_processes auto;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $NGINX_DIR/tmp/body;
    proxy_temp_path $NGINX_DIR/tmp/proxy;
    fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
    uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
    scgi_temp_path $NGINX_DIR/tmp/scgi;
    upstream fake_upstream {
        server 127.0.0.1:5601;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://fake_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
NGINX_CONF
    if ! nginx -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/logs/error.log" >>"$log" 2>&1; then
        hoop_warn "nginx did not start (see $log and $NGINX_DIR/logs/error.log): skipping the nginx figures"
        return 1
    fi
    started_nginx=true
    if ! hoop_wait_http "http://127.0.0.1:$NGINX_PORT/healthz" 10 >>"$log" 2>&1; then
        hoop_warn "nginx on 127.0.0.1:$NGINX_PORT does not reach the fake upstream: skipping the nginx figures"
        return 1
    fi
}

# stack_cpu_args: sets cpu_args to --cpu NAME=PID for each process of the local stack, so that the
# gateway benchmark reports CPU time per request: fake-upstream -> upstream, silo-0 -> silo,
# gateway-1 -> gateway_1, PostgreSQL with its backends -> postgres.
stack_cpu_args() {
    cpu_args=()
    local pidfile name
    for pidfile in .data/run/*.pid; do
        [[ -s "$pidfile" ]] || continue
        name="$(basename "$pidfile" .pid)"
        name="${name#fake-}"
        name="${name%-0}"
        cpu_args+=(--cpu "${name//-/_}=$(cat "$pidfile")")
    done
    if [[ -s .data/pg/data/postmaster.pid ]]; then
        cpu_args+=(--cpu "postgres=$(head -n 1 .data/pg/data/postmaster.pid)")
    fi
}

# ensure_stack: the local stack is up (started here with 2 silos and 2 gateways unless
# HOOP_SILOS/HOOP_GATEWAYS say otherwise, and then stopped at the end).
ensure_stack() {
    hoop_ensure_curl
    if http_ok http://127.0.0.1:5600/healthz && http_ok http://127.0.0.1:5601/healthz; then
        $started_stack || hoop_info "Using the local stack that is already up (it stays up)"
    else
        hoop_info "Starting the local stack (deploy/up.sh --detach, ${HOOP_SILOS:-2} silos, ${HOOP_GATEWAYS:-2} gateways)"
        started_stack=true
        HOOP_SILOS="${HOOP_SILOS:-2}" HOOP_GATEWAYS="${HOOP_GATEWAYS:-2}" deploy/up.sh --detach >>"$log" 2>&1 ||
            hoop_die "deploy/up.sh --detach failed; see $log"
    fi
}

if wanted gateway; then
    ensure_stack

    # The gateway's grain calls on their own: an Orleans client of the local stack's cluster (its PostgreSQL
    # on 5544, as deploy/up.sh starts it) with the dev gateway certificate.
    gateway_args=(--direct http://127.0.0.1:5601 --gateway http://127.0.0.1:5600/claude --spread
        --cluster "$(hoop_pg_connstr 5544 hoop)" --cluster-tls .data/dev)
    if start_nginx; then
        gateway_args+=(--nginx "http://127.0.0.1:$NGINX_PORT" --cpu "nginx=$(cat "$NGINX_DIR/nginx.pid")")
    fi

    stack_cpu_args
    gateway_args+=("${cpu_args[@]}")

    # A fresh identity each run, so that its session starts empty.
    token="$(deploy/dev-token.sh --sub "bench-$(date +%s)" --groups agents --ttl 3600)"
    # Each target gets unmeasured load first: a freshly started gateway and silo spend their first
    # seconds compiling their hot paths, which is not what an exchange costs once they run.
    gateway_seconds=10
    sequential=300
    warm_up=15
    $quick && gateway_seconds=3 && sequential=150 && warm_up=8
    hoop_info "Gateway: direct, nginx, gateway at 32 connections (${gateway_seconds}s each), one at a time, streaming"
    if ! dotnet "$BENCH_DLL" gateway "${gateway_args[@]}" --agent-token "$token" \
        --upstream-key "$(cat .data/dev/claude-api-key)" --seconds "$gateway_seconds" --warm-up "$warm_up" --connections 32 \
        --sequential "$sequential" --streams "$sequential" 2>&1 | tee -a "$log"; then
        hoop_warn "the gateway benchmark reported failed requests (above): its figures do not count"
    fi

    # Memory with many slow streams open at once through one gateway (the fake upstream pauses
    # between events when asked to by a header).
    # --quick opens the same 1,000 streams over 5 s with shorter pauses (each lasts ~8 s).
    streams=1000
    stream_args=()
    $quick && stream_args=(--ramp-ms 5000 --chunk-delay-ms 500)
    gateway_pid="$(cat .data/run/gateway-0.pid 2>/dev/null || true)"
    if [[ -n "$gateway_pid" ]]; then
        hoop_info "Gateway: $streams slow streams at once, resident memory of the gateway"
        if ! dotnet "$BENCH_DLL" streams --gateway http://127.0.0.1:5600/claude --agent-token "$token" \
            --pid "$gateway_pid" --streams "$streams" "${stream_args[@]}" 2>&1 | tee -a "$log"; then
            hoop_warn "some slow streams failed (above)"
        fi
    else
        hoop_warn "no pid file for the gateway (.data/run/gateway-0.pid): skipping gateway_rss_mb_${streams}_streams"
    fi
fi

# --- telemetry: what traces, metrics and /metrics cost the gateway -----------------------------
# The same load on a freshly started stack with telemetry on (up.sh's defaults: traces, metrics,
# Prometheus /metrics) and off (Hoop__Telemetry__Tracing/Metrics/Prometheus=false). Figures end
# in _telemetry_on / _telemetry_off (means of two runs each); gateway_telemetry_rps_ratio is on / off (target >= 0.9),
# exchange_cpu_telemetry_ratio the CPU per exchange on / off (target <= 1.1).
if wanted telemetry; then
    hoop_ensure_curl
    if ! $started_stack && http_ok http://127.0.0.1:5600/healthz; then
        hoop_warn "telemetry: the local stack was up before this run and stays as it is: skipping the telemetry on/off figures (deploy/down.sh, then deploy/bench.sh --only telemetry)"
    else
        telemetry_seconds=10
        telemetry_sequential=300
        telemetry_warm_up=15
        $quick && telemetry_seconds=3 && telemetry_sequential=150 && telemetry_warm_up=8
        telemetry_out="$HOOP_ROOT/.data/logs/bench-telemetry.txt"
        : >"$telemetry_out"
        # On, off, off, on (each on a freshly started stack): the database grows with every run, so
        # a drift from run to run cancels out of the averages instead of favouring one mode.
        run=0
        for mode in on off off on; do
            run=$((run + 1))
            deploy/down.sh >>"$log" 2>&1 || true
            started_stack=true
            hoop_info "Telemetry $mode (run $run of 4): starting the local stack (deploy/up.sh --detach)"
            if [[ "$mode" == off ]]; then
                Hoop__Telemetry__Tracing=false Hoop__Telemetry__Metrics=false Hoop__Telemetry__Prometheus=false \
                    HOOP_SILOS="${HOOP_SILOS:-2}" HOOP_GATEWAYS="${HOOP_GATEWAYS:-2}" deploy/up.sh --detach >>"$log" 2>&1 || hoop_die "deploy/up.sh --detach (telemetry off) failed; see $log"
            else
                HOOP_SILOS="${HOOP_SILOS:-2}" HOOP_GATEWAYS="${HOOP_GATEWAYS:-2}" deploy/up.sh --detach >>"$log" 2>&1 ||
                    hoop_die "deploy/up.sh --detach (telemetry on) failed; see $log"
            fi
            stack_cpu_args
            token="$(deploy/dev-token.sh --sub "bench-telemetry-$mode-$run-$(date +%s)" --groups agents --ttl 3600)"
            hoop_info "Telemetry $mode: the gateway at 32 connections (${telemetry_seconds}s), one at a time, streaming"
            if ! dotnet "$BENCH_DLL" gateway --direct http://127.0.0.1:5601 --gateway http://127.0.0.1:5600/claude --spread \
                --agent-token "$token" --upstream-key "$(cat .data/dev/claude-api-key)" --seconds "$telemetry_seconds" \
                --warm-up "$telemetry_warm_up" --connections 32 --sequential "$telemetry_sequential" --streams "$telemetry_sequential" \
                "${cpu_args[@]}" >"$telemetry_out.$run" 2>&1; then
                hoop_warn "the telemetry-$mode gateway run reported failed requests (see $log): its figures do not count"
            fi
            cat "$telemetry_out.$run" >>"$log"
            awk -v mode="$mode" '$1 ~ /^(gateway_spread_rps|gateway_p50_added_ms|gateway_p99_added_ms|gateway_c1_p50_added_ms|stream_ttfb_added_ms|exchange_cpu_ms)$/ {
                print $1 "_telemetry_" mode, $2, $3 }' "$telemetry_out.$run" >>"$telemetry_out"
        done
        # The mean of each figure over the two runs of each mode; the ratios compare them.
        awk '{ sum[$1] += $2; n[$1]++; unit[$1] = $3 }
            END {
                for (k in sum) printf "%s %.3f %s\n", k, sum[k] / n[k], unit[k]
                on = sum["gateway_spread_rps_telemetry_on"] / n["gateway_spread_rps_telemetry_on"]
                off = sum["gateway_spread_rps_telemetry_off"] / n["gateway_spread_rps_telemetry_off"]
                if (on > 0 && off > 0) printf "gateway_telemetry_rps_ratio %.3f\n", on / off
                con = sum["exchange_cpu_ms_telemetry_on"] / n["exchange_cpu_ms_telemetry_on"]
                coff = sum["exchange_cpu_ms_telemetry_off"] / n["exchange_cpu_ms_telemetry_off"]
                if (con > 0 && coff > 0) printf "exchange_cpu_telemetry_ratio %.3f\n", con / coff
            }' "$telemetry_out" | sort | tee -a "$log"
    fi
fi

# --- rebuild: a zero-downtime projection rebuild on the stack while agents send requests -------
# A synthetic history (1M events; 100k with --quick) is written into the stack's log; once the
# projections have caught up, audit_log is rebuilt from event 0 through the API while 8 agents
# send requests through the gateway and an auditor queries /api/audit; then the time until its lag
# is 0 again. The history stays in the stack's database (deploy/down.sh and rm -rf .data/pg to drop it).
if wanted rebuild; then
    ensure_stack
    rebuild_events=1000000
    $quick && rebuild_events=100000
    admin_token="$(deploy/dev-token.sh --sub "bench-admin-$(date +%s)" --groups security --roles hoop:admin,hoop:auditor --ttl 3600)"
    token="$(deploy/dev-token.sh --sub "bench-rebuild-$(date +%s)" --groups agents --ttl 3600)"
    hoop_info "Rebuild: ${rebuild_events} events of history, audit_log rebuilt through the API under gateway traffic and audit queries"
    if ! dotnet "$BENCH_DLL" rebuild-live --conn "$(hoop_pg_connstr 5544 hoop)" --api http://127.0.0.1:5610 \
        --admin-token "$admin_token" --gateway http://127.0.0.1:5600/claude --agent-token "$token" \
        --events "$rebuild_events" --projection audit_log 2>&1 | tee -a "$log"; then
        hoop_warn "the live rebuild benchmark saw failed queries, unclean answers or no switch (above)"
    fi
fi

# --- failover: kill -9 of a silo while sessions spread over both silos keep sending -------------
# Last, because it leaves the stack with one silo fewer.
if wanted failover; then
    ensure_stack
    victim="$(cat .data/run/silo-1.pid 2>/dev/null || true)"
    if [[ -z "$victim" ]] || ! kill -0 "$victim" 2>/dev/null; then
        hoop_warn "failover needs a second silo (.data/run/silo-1.pid; HOOP_SILOS=2): skipping silo_failover_s"
    else
        token="$(deploy/dev-token.sh --sub "failover-$(date +%s)" --groups agents --ttl 3600)"
        hoop_info "Failover: 64 sessions through the gateway, kill -9 of silo-1 (pid $victim), time until every session answers again"
        if ! dotnet "$BENCH_DLL" failover --gateway http://127.0.0.1:5600/claude --agent-token "$token" \
            --kill-pid "$victim" --sessions 64 2>&1 | tee -a "$log"; then
            hoop_warn "the failover benchmark saw lost sessions or unclean answers (above)"
        fi
        $started_stack || hoop_warn "silo-1 of the running stack was killed: deploy/down.sh && deploy/up.sh --detach to restore it"
    fi
fi
