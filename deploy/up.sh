#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Start the local Hoop.Actors stack: PostgreSQL (.data/pg, 127.0.0.1:5544), the fake Claude
# upstream (127.0.0.1:5601), the fake Slack (127.0.0.1:5602), the fake identity provider the
# console signs in with (127.0.0.1:5630), the silo(s) (127.0.0.1:5610,
# 5611, ...) and the gateway(s) (127.0.0.1:5600, 5603, ...). Installs PostgreSQL with apt when missing.
#
#   deploy/up.sh               stay in the foreground; Ctrl-C stops everything it started
#   deploy/up.sh --detach      return once everything is healthy; stop with deploy/down.sh
#   HOOP_SILOS=2 HOOP_GATEWAYS=2 deploy/up.sh   start two silos and two gateways
#
# Logs: .data/logs/   pids: .data/run/
# Dev retention master key (wraps the data keys of session content): .data/dev/retention-master-key
# Dev JWT keys: .data/dev/jwt-private.pem, jwt-public.pem (tokens: deploy/dev-token.sh)
# Dev cluster CA and certificates (mutual TLS between silos and gateways): .data/dev/cluster-*.crt|key
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh
# shellcheck source=lib/devkeys.sh
source deploy/lib/devkeys.sh
# shellcheck source=lib/devcerts.sh
source deploy/lib/devcerts.sh

# Print the comment block at the top of this file (after the shellcheck directive).
usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"; }

detach=false
for arg in "$@"; do
    case "$arg" in
        --detach | -d) detach=true ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            hoop_die "unknown argument: $arg"
            ;;
    esac
done

silos="${HOOP_SILOS:-1}"
[[ "$silos" =~ ^[1-9]$ ]] || hoop_die "HOOP_SILOS must be a number from 1 to 9, got '$silos'"
gateways="${HOOP_GATEWAYS:-1}"
[[ "$gateways" =~ ^[1-9]$ ]] || hoop_die "HOOP_GATEWAYS must be a number from 1 to 9, got '$gateways'"

PG_DIR="$HOOP_ROOT/.data/pg"
PG_PORT=5544
SILO_BASE_PORT=5610
SILO_DLL="$HOOP_ROOT/src/Silo/bin/Release/net10.0/hoop-silo.dll"
GATEWAY_DLL="$HOOP_ROOT/src/Gateway/bin/Release/net10.0/hoop-gateway.dll"
FAKES_DLL="$HOOP_ROOT/tests/Hoop.Fakes/bin/Release/net10.0/Hoop.Fakes.dll"
UPSTREAM_PORT=5601
SLACK_PORT=5602
SLACK_CONFIG="$HOOP_ROOT/deploy/config/slack.dev.json"
OIDC_PORT=5630
OIDC_CONFIG="$HOOP_ROOT/deploy/config/oidc.dev.json"
GATEWAY_PORTS=(5600 5603 5604 5605 5606 5607 5608 5609 5620)
RUN_DIR="$HOOP_ROOT/.data/run"
LOG_DIR="$HOOP_ROOT/.data/logs"
DEV_DIR="$HOOP_ROOT/.data/dev"

mkdir -p "$RUN_DIR" "$LOG_DIR" "$DEV_DIR"

# A process recorded in a pid file is ours only if it is alive and is a Hoop process
# (guards against a recycled pid).
pid_is_hoop() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qi 'hoop'
}

# Refuse to start twice; forget stale pid files.
for pidfile in "$RUN_DIR"/*.pid; do
    [[ -e "$pidfile" ]] || continue
    if pid_is_hoop "$(cat "$pidfile")"; then
        hoop_die "the stack is already running ($(basename "$pidfile" .pid) has pid $(cat "$pidfile")); stop it with deploy/down.sh"
    fi
    rm -f "$pidfile"
done

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

hoop_ensure_postgres
hoop_ensure_dotnet
hoop_ensure_curl

wanted_ports=("$UPSTREAM_PORT:fake-upstream" "$SLACK_PORT:fake-slack" "$OIDC_PORT:fake-oidc")
for ((i = 0; i < silos; i++)); do wanted_ports+=("$((SILO_BASE_PORT + i)):silo-$i"); done
for ((i = 0; i < gateways; i++)); do wanted_ports+=("${GATEWAY_PORTS[$i]}:gateway-$i"); done
for entry in "${wanted_ports[@]}"; do
    if port_in_use "${entry%%:*}"; then
        hoop_die "port ${entry%%:*} (${entry#*:}) is already in use on 127.0.0.1; stop whatever listens there (deploy/down.sh?)"
    fi
done

# --- cleanup of what this run started ---------------------------------------------------
started_pids=()
started_names=()
started_pg=false
cleaning=false

cleanup() {
    $cleaning && return 0
    cleaning=true
    local i pid name
    for i in "${!started_pids[@]}"; do
        pid="${started_pids[$i]}"
        name="${started_names[$i]}"
        if kill -0 "$pid" 2>/dev/null; then
            echo "Stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for i in "${!started_pids[@]}"; do
        pid="${started_pids[$i]}"
        name="${started_names[$i]}"
        local waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            hoop_warn "$name (pid $pid) did not stop within 15 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$RUN_DIR/$name.pid"
    done
    if $started_pg; then
        hoop_pg_stop "$PG_DIR" || true
    fi
}

on_exit() {
    local rc=$?
    if ((rc != 0)) && ! $cleaning; then
        echo "deploy/up.sh: stopping what it started" >&2
    fi
    cleanup
    exit "$rc"
}
on_signal() {
    echo
    echo "Shutting down..."
    cleanup
    exit 130
}
trap on_exit EXIT
trap on_signal INT TERM

# --- build ---------------------------------------------------------------------------------
hoop_info "Building Hoop.Actors.sln (Release)"
if ! dotnet build Hoop.Actors.sln -c Release -nologo -v quiet >"$LOG_DIR/build.log" 2>&1; then
    grep -E '(error|warning) [A-Z]+[0-9]+:' "$LOG_DIR/build.log" | sed 's/^[[:space:]]*//' | sort -u | head -n 30 >&2 || true
    hoop_die "build failed (full log: $LOG_DIR/build.log)"
fi
[[ -f "$SILO_DLL" ]] || hoop_die "build succeeded but $SILO_DLL is missing"

# --- PostgreSQL ----------------------------------------------------------------------------
if ! hoop_pg_running "$PG_DIR"; then
    started_pg=true
fi
hoop_pg_start "$PG_DIR" "$PG_PORT"
hoop_pg_createdb "$PG_PORT" hoop
CONN="$(hoop_pg_connstr "$PG_PORT" hoop)"

# --- dev retention master key (created once, reused; it wraps the data keys of session content) ---
MASTER_KEY_FILE="$DEV_DIR/retention-master-key"
if [[ ! -s "$MASTER_KEY_FILE" ]]; then
    (
        umask 077
        printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$MASTER_KEY_FILE"
    )
    echo "Created dev retention master key in .data/dev/retention-master-key"
fi
chmod 600 "$MASTER_KEY_FILE"
export Hoop__Retention__MasterKeyFile="$MASTER_KEY_FILE"

# --- dev cluster CA and certificates (created once, reused): the Orleans channel is mutual TLS ---
# Silos present cluster-silo.*, gateways (Orleans clients, gateway list from PostgreSQL) cluster-gateway.*.
hoop_dev_cluster_certs_ensure "$DEV_DIR"
export Hoop__Orleans__Tls__CaFile="$DEV_DIR/cluster-ca.crt"

# --- dev JWT key pair (created once, reused; deploy/dev-token.sh signs with it) -----------
hoop_dev_keys_ensure "$DEV_DIR"
export Hoop__Auth__KeyFile="$DEV_DIR/jwt-public.pem"
export Hoop__Auth__Issuer="hoop-dev"
export Hoop__Auth__Audience="hoop"

# --- telemetry: Prometheus /metrics on every silo and gateway (unauthenticated, loopback callers
# only); traces go out over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/OPERATIONS.md) --------
export Hoop__Telemetry__Prometheus="${Hoop__Telemetry__Prometheus:-true}"

# --- policy (connections, rules, approver groups, Slack): checked in, DESIGN §15 ---------
export Hoop__PolicyFile="$HOOP_ROOT/deploy/config/policy.json"

# --- migrations ----------------------------------------------------------------------------
hoop_info "Running migrations"
if ! ConnectionStrings__Hoop="$CONN" \
    dotnet "$SILO_DLL" migrate >"$LOG_DIR/migrate.log" 2>&1; then
    tail -n 30 "$LOG_DIR/migrate.log" >&2
    hoop_die "migrations failed (full log: $LOG_DIR/migrate.log)"
fi

# --- processes ----------------------------------------------------------------------------
# start_process NAME URL COMMAND...: starts it (in its own session with --detach), records
# its pid, and remembers it for the health wait and for Ctrl-C.
process_urls=()
start_process() {
    local name="$1" url="$2"
    shift 2
    local log="$LOG_DIR/$name.log"
    printf '\n=== %s starting %s on %s\n' "$(date -Is)" "$name" "$url" >>"$log"
    if $detach; then
        setsid "$@" >>"$log" 2>&1 </dev/null &
    else
        "$@" >>"$log" 2>&1 </dev/null &
    fi
    local pid=$!
    started_pids+=("$pid")
    started_names+=("$name")
    process_urls+=("$url")
    echo "$pid" >"$RUN_DIR/$name.pid"
}

wait_healthy() {
    for i in "${!process_urls[@]}"; do
        if ! hoop_wait_http "${process_urls[$i]}/healthz" 60 "${started_pids[$i]}"; then
            tail -n 30 "$LOG_DIR/${started_names[$i]}.log" >&2
            hoop_die "${started_names[$i]} did not become healthy (log: .data/logs/${started_names[$i]}.log)"
        fi
    done
}

# The dev credential the gateway injects and the fake upstream requires (never the agent's).
API_KEY_FILE="$DEV_DIR/claude-api-key"
if [[ ! -s "$API_KEY_FILE" ]]; then
    (umask 077 && printf 'sk-ant-dev-%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$API_KEY_FILE")
fi
export HOOP_CLAUDE_API_KEY HOOP_OPENAI_API_KEY
HOOP_CLAUDE_API_KEY="$(cat "$API_KEY_FILE")"
# The "openai" connection of policy.json reaches the same fake (its /v1/chat/completions), which
# wants the same key, sent as "Authorization: Bearer <key>".
HOOP_OPENAI_API_KEY="$HOOP_CLAUDE_API_KEY"

# Started from the repo root, ASP.NET would watch the whole tree (PostgreSQL data included) for
# configuration changes: measured at 8-12 % of the gateway's CPU under load. Nothing here is
# reloaded live, so switch the watching off.
export DOTNET_hostBuilder__reloadConfigOnChange=false

start_process fake-upstream "http://127.0.0.1:$UPSTREAM_PORT" \
    dotnet "$FAKES_DLL" upstream --urls "http://127.0.0.1:$UPSTREAM_PORT" --api-key-env HOOP_CLAUDE_API_KEY
# The fake Slack Web API the silos post approvals to (policy.json includes slack.dev.json,
# whose apiBaseUrl points here); its bot token and users come from the same file.
start_process fake-slack "http://127.0.0.1:$SLACK_PORT" \
    dotnet "$FAKES_DLL" slack --urls "http://127.0.0.1:$SLACK_PORT" --config "$SLACK_CONFIG"

# The console's single sign-on: a fake OpenID Connect provider signing with the dev key.
start_process fake-oidc "http://127.0.0.1:$OIDC_PORT" \
    dotnet "$FAKES_DLL" oidc --urls "http://127.0.0.1:$OIDC_PORT" --config "$OIDC_CONFIG" --signing-key "$DEV_DIR/jwt-private.pem"
export Hoop__Console__Authority="http://127.0.0.1:$OIDC_PORT"
export Hoop__Console__ClientId="hoop-console"

silo_urls=()
for ((i = 0; i < silos; i++)); do
    url="http://127.0.0.1:$((SILO_BASE_PORT + i))"
    start_process "silo-$i" "$url" \
        env ConnectionStrings__Hoop="$CONN" \
        Hoop__Orleans__Tls__CertificateFile="$DEV_DIR/cluster-silo.crt" Hoop__Orleans__Tls__KeyFile="$DEV_DIR/cluster-silo.key" \
        dotnet "$SILO_DLL" serve --urls "$url"
    silo_urls+=("$url")
done
wait_healthy

gateway_urls=()
for ((i = 0; i < gateways; i++)); do
    url="http://127.0.0.1:${GATEWAY_PORTS[$i]}"
    start_process "gateway-$i" "$url" \
        env Hoop__Gateway__GatewayId="gateway-$i" ConnectionStrings__Hoop="$CONN" \
        Hoop__Orleans__Tls__CertificateFile="$DEV_DIR/cluster-gateway.crt" Hoop__Orleans__Tls__KeyFile="$DEV_DIR/cluster-gateway.key" \
        dotnet "$GATEWAY_DLL" --urls "$url"
    gateway_urls+=("$url")
done
wait_healthy

# --- report --------------------------------------------------------------------------------
echo
echo "Hoop.Actors local stack is up:"
echo "  PostgreSQL      127.0.0.1:$PG_PORT   $CONN"
for i in "${!process_urls[@]}"; do
    printf '  %-15s %s   (pid %s, log .data/logs/%s.log)\n' "${started_names[$i]}" "${process_urls[$i]}" "${started_pids[$i]}" "${started_names[$i]}"
done
echo
echo "Try (an agent's JWT in place of an Anthropic API key):"
echo "  TOKEN=\$(deploy/dev-token.sh --sub alice --groups agents)"
echo "  curl -N ${gateway_urls[0]}/claude/v1/messages -H \"x-api-key: \$TOKEN\" -H 'content-type: application/json' \\"
echo "    -d '{\"model\":\"claude-dev\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Hello through Hoop\"}]}'"
echo "Approvals from Slack: a prompt with 'export all customers' is held and posted to the fake Slack"
echo "  (curl -s http://127.0.0.1:$SLACK_PORT/_fake/calls); approve it with"
echo "  deploy/slack-click.sh approve APPROVAL_ID --as U0SECURITY"
echo "The console: ${silo_urls[0]}/console/ (Sign in with single sign-on, as sam, audrey or alice)"
echo "Metrics (Prometheus text, loopback only): ${silo_urls[0]}/metrics  ${gateway_urls[0]}/metrics"
echo

if $detach; then
    trap - EXIT INT TERM
    echo "Running in the background; stop with deploy/down.sh"
    exit 0
fi

echo "Press Ctrl-C to stop."
while :; do
    for i in "${!started_pids[@]}"; do
        if ! kill -0 "${started_pids[$i]}" 2>/dev/null; then
            echo "${started_names[$i]} exited unexpectedly; last log lines:" >&2
            tail -n 20 "$LOG_DIR/${started_names[$i]}.log" >&2
            exit 1
        fi
    done
    sleep 1 &
    wait $! || true
done
