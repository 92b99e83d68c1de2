#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Click Approve or Deny on an approval, as Slack would: sends a correctly signed block_actions
# interaction (X-Slack-Signature with the dev signing secret of deploy/config/slack.dev.json)
# to the local silo's /slack/interactions, and prints the silo's answer.
#
#   deploy/slack-click.sh approve|deny APPROVAL_ID [--as SLACK_USER] [--silo URL]
#
#   --as SLACK_USER   who clicks (default U0SECURITY, mapped to sam in group security;
#                     U0ALICE is alice in agents, who may not approve)
#   --silo URL        the silo to send it to (default http://127.0.0.1:5610)
#
# The approval id is in the gateway's answer (approvalId) and in the posted Slack message:
#   curl -s http://127.0.0.1:5602/_fake/calls
# Needs the stack built by deploy/up.sh. Exit 0 when the silo answered 2xx.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/common.sh
source deploy/lib/common.sh

usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"; }

FAKES_DLL="$HOOP_ROOT/tests/Hoop.Fakes/bin/Release/net10.0/Hoop.Fakes.dll"
action="${1:-}"
approval="${2:-}"
case "$action" in
    -h | --help)
        usage
        exit 0
        ;;
    approve | deny) ;;
    *)
        usage >&2
        hoop_die "the first argument must be approve or deny"
        ;;
esac
[[ -n "$approval" && "$approval" != -* ]] || {
    usage >&2
    hoop_die "missing APPROVAL_ID"
}
shift 2

as=U0SECURITY
silo=http://127.0.0.1:5610
while (($#)); do
    case "$1" in
        --as)
            as="${2:?--as needs a Slack user id}"
            shift 2
            ;;
        --silo)
            silo="${2:?--silo needs a URL}"
            shift 2
            ;;
        *)
            usage >&2
            hoop_die "unknown argument: $1"
            ;;
    esac
done

[[ -f "$FAKES_DLL" ]] || hoop_die "$FAKES_DLL is missing; start the stack with deploy/up.sh (it builds it)"
exec dotnet "$FAKES_DLL" slack-click "$action" "$approval" --as "$as" --silo "$silo" \
    --config "$HOOP_ROOT/deploy/config/slack.dev.json"
