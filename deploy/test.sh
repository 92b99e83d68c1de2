#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Run every test in Hoop.Actors.sln and finish with one line: "N passed, N failed, N skipped".
#
#   deploy/test.sh                                   # everything
#   deploy/test.sh --filter 'FullyQualifiedName~EventStore'   # extra args go to dotnet test
#
# Integration tests start their own throwaway PostgreSQL (tests/Hoop.Testing PostgresFixture)
# from the server binaries found here; set HOOP_TEST_PG to a connection string to use an
# existing server instead. Full output: .data/test-output.log
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh

hoop_ensure_dotnet
hoop_ensure_browser_tests
if [[ -z "${HOOP_TEST_PG:-}" ]]; then
    hoop_ensure_postgres
    # Lets the fixture find initdb/pg_ctl/postgres even when they are not on PATH.
    HOOP_PG_BINDIR="$(hoop_pg_bindir)"
    export HOOP_PG_BINDIR
fi

mkdir -p .data
log=.data/test-output.log

hoop_info "dotnet test Hoop.Actors.sln -c Release $*"
set +e
dotnet test Hoop.Actors.sln -c Release "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

read -r passed failed skipped summaries < <(hoop_parse_test_summaries <"$log")

echo
# Build errors (MSBuild "error CS1234:" style), each once.
build_errors="$(grep -E 'error [A-Z]+[0-9]+:' "$log" | sed 's/^[[:space:]]*//' | sort -u | head -n 30 || true)"
if [[ -n "$build_errors" ]]; then
    echo "Build failed. Errors:"
    printf '%s\n' "$build_errors"
fi

# Test hosts that crashed or could not start (their tests are in no summary line).
aborted="$(grep -E "(Testhost process for source\(s\) .* exited with error|The active test run was aborted|Test Run Aborted)" "$log" | sed 's/^[[:space:]]*//' | sort -u | head -n 10 || true)"
if [[ -n "$aborted" ]]; then
    echo "Test run aborted:"
    printf '%s\n' "$aborted"
fi

if ((summaries == 0)); then
    if [[ -n "$build_errors" ]] || grep -q 'Build FAILED' "$log"; then
        echo "No tests ran because the build failed; see $log"
    else
        echo "No test summary found in the dotnet test output (exit code $rc); see $log"
    fi
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi

if ((rc != 0 && failed == 0)); then
    # e.g. a project failed to build or a test host crashed: its tests are in no summary
    # line, so count the run itself as one failure.
    echo "dotnet test exited with code $rc although no summary reported a failed test; see $log"
    failed=1
fi
if ((failed > 0 && rc == 0)); then
    rc=1
fi

echo "$passed passed, $failed failed, $skipped skipped"
exit "$rc"
