# shellcheck shell=bash
# Shared helpers for deploy/*.sh and .ci/run. Source it; do not run it.
#
#   hoop_pg_bindir                 print the PostgreSQL server bin dir (empty if none)
#   hoop_ensure_postgres           install PostgreSQL with apt when missing (root only)
#   hoop_ensure_dotnet             fail unless `dotnet` is on PATH
#   hoop_ensure_curl               install curl with apt when missing (root only)
#   hoop_pg_start DIR PORT         initdb DIR/data if needed, start it on 127.0.0.1:PORT
#   hoop_pg_running DIR            exit 0 when the cluster in DIR/data is running
#   hoop_pg_stop DIR               stop the cluster in DIR/data if it is running
#   hoop_pg_connstr PORT [DB]      print an Npgsql connection string (DB default: hoop)
#   hoop_pg_createdb PORT DB       create database DB unless it exists
#   hoop_wait_http URL SECONDS [PID]  wait for HTTP 200 (fail early if PID exits)
#   hoop_parse_test_summaries      read `dotnet test` output on stdin, print
#                                  "PASSED FAILED SKIPPED SUMMARY_LINES"

# Repository root: two levels above this file (deploy/lib/common.sh).
HOOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export HOOP_ROOT

hoop_info() { printf '==> %s\n' "$*"; }
hoop_warn() { printf 'warning: %s\n' "$*" >&2; }
hoop_die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

hoop_is_root() { [[ "$(id -u)" == 0 ]]; }

# Print the PostgreSQL server bin dir: the first PATH entry holding initdb, pg_ctl
# and postgres, else the highest /usr/lib/postgresql/*/bin. Empty when none.
hoop_pg_bindir() {
    local dir
    local -a path_dirs
    IFS=: read -r -a path_dirs <<<"${PATH:-}"
    for dir in "${path_dirs[@]}"; do
        [[ -n "$dir" ]] || continue
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    local best=""
    while IFS= read -r dir; do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            best="$dir"
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V)
    [[ -n "$best" ]] && printf '%s\n' "$best"
    return 0
}

# Install Debian packages quietly (root only).
_hoop_apt_install() {
    hoop_info "installing with apt-get: $*"
    local log
    log="$(mktemp)"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        hoop_die "apt-get install $* failed (output above)"
    fi
    rm -f "$log"
}

hoop_ensure_postgres() {
    if [[ -n "$(hoop_pg_bindir)" ]]; then
        return 0
    fi
    if ! hoop_is_root; then
        hoop_die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found.
  Install them as root:   apt-get install postgresql
  or point the tests at an existing server:   HOOP_TEST_PG='Host=...;Port=...;Username=...;Password=...'"
    fi
    # Debian's package also creates and starts a system cluster on 5432; that is fine,
    # we leave it alone and run our own clusters elsewhere.
    _hoop_apt_install postgresql
    [[ -n "$(hoop_pg_bindir)" ]] ||
        hoop_die "apt-get installed postgresql but no initdb/pg_ctl/postgres found in PATH or /usr/lib/postgresql/*/bin"
}

hoop_ensure_dotnet() {
    command -v dotnet >/dev/null 2>&1 ||
        hoop_die "'dotnet' not found on PATH; install the .NET 10 SDK (https://dot.net) and retry"
}

# The console's browser tests (tests/console): node + npm, Debian's chromium, and playwright-core
# from the lock file. Never downloads a browser build: playwright-core drives /usr/bin/chromium.
hoop_ensure_browser_tests() {
    local missing=()
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    if ((${#missing[@]} > 0)); then
        hoop_is_root || hoop_die "the console's browser tests need: ${missing[*]} (apt-get install -y ${missing[*]} as root)"
        _hoop_apt_install "${missing[@]}"
    fi
    if [[ ! -f tests/console/node_modules/playwright-core/package.json ]]; then
        hoop_info "npm ci in tests/console"
        (cd tests/console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) ||
            hoop_die "npm ci failed in tests/console"
    fi
}

hoop_ensure_curl() {
    command -v curl >/dev/null 2>&1 && return 0
    hoop_is_root || hoop_die "'curl' not found; install it (apt-get install curl) and retry"
    _hoop_apt_install curl ca-certificates
}

# Run a PostgreSQL server program: as the postgres user when we are root (the server
# refuses to run as root), directly otherwise. Runs from / so a private cwd is harmless.
_hoop_pg_as_owner() {
    if hoop_is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

_hoop_pg_require_bindir() {
    local bindir
    bindir="$(hoop_pg_bindir)"
    [[ -n "$bindir" ]] || hoop_die "PostgreSQL server binaries not found (run hoop_ensure_postgres / apt-get install postgresql)"
    printf '%s\n' "$bindir"
}

_hoop_abs() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# Exit 0 when the cluster in DIR/data is running.
hoop_pg_running() {
    local dir="$1" bindir
    [[ -f "$dir/data/PG_VERSION" ]] || return 1
    bindir="$(hoop_pg_bindir)"
    [[ -n "$bindir" ]] || return 1
    _hoop_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

# hoop_pg_start DIR PORT: create DIR/data with initdb if needed and start it listening on
# 127.0.0.1:PORT, socket dir DIR/run, log DIR/log/postgres.log. Idempotent.
hoop_pg_start() {
    local dir port bindir
    [[ $# -eq 2 ]] || hoop_die "usage: hoop_pg_start DIR PORT"
    port="$2"
    [[ "$port" =~ ^[0-9]+$ ]] || hoop_die "hoop_pg_start: port must be a number, got '$port'"
    bindir="$(_hoop_pg_require_bindir)"
    dir="$(_hoop_abs "$1")"
    [[ "$dir" != *"'"* ]] || hoop_die "hoop_pg_start: directory must not contain a single quote: $dir"
    # Unix socket paths are limited to 107 bytes.
    local sock="$dir/run/.s.PGSQL.$port"
    ((${#sock} <= 107)) || hoop_die "socket path too long for PostgreSQL (${#sock} > 107 bytes): $sock; use a shorter directory"

    mkdir -p "$dir/data" "$dir/log" "$dir/run"
    if hoop_is_root; then
        id postgres >/dev/null 2>&1 ||
            hoop_die "running as root but there is no 'postgres' user to run the server as (apt-get install postgresql creates it)"
        chown -R postgres:postgres "$dir"
        chmod 700 "$dir/data"
        runuser -u postgres -- test -w "$dir/data" ||
            hoop_die "user 'postgres' cannot write $dir/data; make its parent directories traversable (chmod o+x)"
    fi

    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        if ! _hoop_pg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale \
            >"$dir/log/initdb.log" 2>&1; then
            tail -n 30 "$dir/log/initdb.log" >&2
            hoop_die "initdb failed for $dir/data (full log: $dir/log/initdb.log)"
        fi
    fi

    if _hoop_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        local running_port
        running_port="$(sed -n 4p "$dir/data/postmaster.pid" 2>/dev/null || true)"
        if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
            hoop_warn "PostgreSQL in $dir/data is already running on port $running_port, not $port"
        fi
        echo "PostgreSQL already running on 127.0.0.1:${running_port:-$port} (data: $dir/data)"
        return 0
    fi

    if ! _hoop_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log/postgres.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k '$dir/run' -c max_connections=300" \
        start >"$dir/log/pg_ctl.log" 2>&1; then
        cat "$dir/log/pg_ctl.log" >&2
        tail -n 20 "$dir/log/postgres.log" >&2 2>/dev/null || true
        hoop_die "PostgreSQL failed to start on 127.0.0.1:$port (log: $dir/log/postgres.log)"
    fi
    echo "PostgreSQL started on 127.0.0.1:$port (data: $dir/data)"
}

# hoop_pg_stop DIR: fast shutdown of the cluster in DIR/data if it is running.
hoop_pg_stop() {
    local dir="$1" bindir
    [[ -f "$dir/data/PG_VERSION" ]] || return 0
    bindir="$(hoop_pg_bindir)"
    if [[ -z "$bindir" ]]; then
        hoop_warn "PostgreSQL binaries not found; cannot stop the cluster in $dir/data"
        return 0
    fi
    if _hoop_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        _hoop_pg_as_owner "$bindir/pg_ctl" -D "$dir/data" stop -m fast -w -t 60 >/dev/null ||
            hoop_die "could not stop PostgreSQL in $dir/data"
        echo "PostgreSQL stopped (data: $dir/data)"
    fi
}

hoop_pg_connstr() {
    local port="$1" db="${2:-hoop}"
    printf 'Host=127.0.0.1;Port=%s;Username=postgres;Database=%s\n' "$port" "$db"
}

_hoop_psql() {
    local port="$1" bindir psql
    shift
    bindir="$(hoop_pg_bindir)"
    if [[ -n "$bindir" && -x "$bindir/psql" ]]; then
        psql="$bindir/psql"
    elif [[ -n "$bindir" && -x "$(dirname "$(readlink -f "$bindir/initdb")")/psql" ]]; then
        # bindir holds symlinks (e.g. /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb)
        psql="$(dirname "$(readlink -f "$bindir/initdb")")/psql"
    else
        psql="$(command -v psql)" || hoop_die "psql not found"
    fi
    PGCONNECT_TIMEOUT=10 "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"
}

# hoop_pg_createdb PORT DB: create DB unless it exists (trust auth over TCP).
hoop_pg_createdb() {
    local port="$1" db="$2" exists
    [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || hoop_die "hoop_pg_createdb: invalid database name '$db'"
    exists="$(_hoop_psql "$port" -tAc "select 1 from pg_database where datname = '$db'")" ||
        hoop_die "cannot connect to PostgreSQL on 127.0.0.1:$port"
    if [[ "$exists" != 1 ]]; then
        _hoop_psql "$port" -c "create database \"$db\"" >/dev/null ||
            hoop_die "could not create database '$db' on 127.0.0.1:$port"
        echo "Created database '$db'"
    fi
}

# hoop_wait_http URL SECONDS [PID]: poll until URL answers 200; fail after SECONDS,
# or as soon as PID (when given) has exited.
hoop_wait_http() {
    local url="$1" seconds="$2" pid="${3:-}" code deadline
    deadline=$((SECONDS + seconds))
    while :; do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)"
        [[ "$code" == 200 ]] && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            printf 'error: process %s exited before %s answered 200\n' "$pid" "$url" >&2
            return 1
        fi
        if ((SECONDS >= deadline)); then
            printf 'error: %s did not answer 200 within %ss (last status: %s)\n' "$url" "$seconds" "${code:-none}" >&2
            return 1
        fi
        sleep 0.5
    done
}

# Read `dotnet test` output on stdin; sum every per-assembly summary line such as
#   Passed!  - Failed:     0, Passed:    25, Skipped:     0, Total:    25, Duration: 2 s - X.dll (net10.0)
# and print "PASSED FAILED SKIPPED SUMMARY_LINES".
hoop_parse_test_summaries() {
    sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | awk '
        /Failed:[[:space:]]*[0-9]+,[[:space:]]*Passed:[[:space:]]*[0-9]+,[[:space:]]*Skipped:[[:space:]]*[0-9]+/ {
            line = $0
            sub(/.*Failed:[[:space:]]*/, "", line);  f = line + 0
            sub(/.*Passed:[[:space:]]*/, "", line);  p = line + 0
            sub(/.*Skipped:[[:space:]]*/, "", line); s = line + 0
            passed += p; failed += f; skipped += s; n++
        }
        END { printf "%d %d %d %d\n", passed, failed, skipped, n }
    '
}
