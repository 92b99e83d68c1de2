#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Print a JWT for the local stack, signed RS256 by the dev key in .data/dev/ (the key pair
# is created there with openssl if missing; the silo and gateway started by deploy/up.sh
# trust its public key).
#
#   deploy/dev-token.sh --sub alice --groups agents[,g2] [--roles hoop:auditor,...] [--ttl 3600]
#
#   --sub ID        the identity (claim sub); required
#   --groups LIST   comma-separated groups (claim groups, a JSON array); default none
#   --roles LIST    comma-separated roles: hoop:auditor, hoop:approver, hoop:admin
#                   (claim roles, a JSON array; omitted when none)
#   --ttl SECONDS   lifetime, 1 to 2592000 (30 days); default 3600
#
# Values may use only A-Z a-z 0-9 . _ @ : + -. Claims: iss hoop-dev, aud hoop, sub, groups,
# roles, iat, nbf, exp, jti. HOOP_DEV_DIR overrides the key directory (default .data/dev).
#
# Example:  curl -H "Authorization: Bearer $(deploy/dev-token.sh --sub sam --groups security --roles hoop:auditor)" \
#             http://127.0.0.1:5610/api/approvals
set -euo pipefail

# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/devkeys.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/devkeys.sh"

readonly ISSUER="hoop-dev"
readonly AUDIENCE="hoop"
readonly SAFE='^[A-Za-z0-9._@:+-]+$'
readonly MAX_TTL=2592000

usage() { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "${BASH_SOURCE[0]}"; }
fail_usage() {
    printf 'error: %s\n' "$1" >&2
    printf 'usage: deploy/dev-token.sh --sub ID [--groups G1,G2] [--roles R1,R2] [--ttl SECONDS] (--help for more)\n' >&2
    exit 2
}

sub=""
groups=""
roles=""
ttl=3600
while (($# > 0)); do
    case "$1" in
        --sub | --groups | --roles | --ttl)
            (($# >= 2)) || fail_usage "$1 needs a value"
            case "$1" in
                --sub) sub="$2" ;;
                --groups) groups="$2" ;;
                --roles) roles="$2" ;;
                --ttl) ttl="$2" ;;
            esac
            shift 2
            ;;
        --sub=* | --groups=* | --roles=* | --ttl=*)
            value="${1#*=}"
            case "$1" in
                --sub=*) sub="$value" ;;
                --groups=*) groups="$value" ;;
                --roles=*) roles="$value" ;;
                --ttl=*) ttl="$value" ;;
            esac
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) fail_usage "unknown argument: $1" ;;
    esac
done

[[ -n "$sub" ]] || fail_usage "--sub is required"
[[ "$sub" =~ $SAFE ]] || fail_usage "--sub '$sub' has characters outside A-Z a-z 0-9 . _ @ : + -"
if ! [[ "$ttl" =~ ^[0-9]{1,7}$ ]] || ((10#$ttl < 1 || 10#$ttl > MAX_TTL)); then
    fail_usage "--ttl must be a whole number of seconds from 1 to $MAX_TTL, got '$ttl'"
fi
ttl=$((10#$ttl))

# A JSON string. Inputs are validated against SAFE, which excludes every character JSON
# would need escaped; escape backslash and quote anyway so this stays correct on its own.
json_string() {
    local s="$1"
    s="${s//\\/\\\\}"
    s="${s//\"/\\\"}"
    printf '"%s"' "$s"
}

# json_array NAME LIST: a JSON array of the comma-separated LIST (empty LIST: []).
json_array() {
    local name="$1" list="$2" item out="" sep=""
    local -a items=()
    if [[ -n "$list" ]]; then
        [[ "$list" != ,* && "$list" != *, && "$list" != *,,* ]] || fail_usage "--$name '$list' has an empty item"
        IFS=, read -r -a items <<<"$list"
    fi
    for item in "${items[@]}"; do
        [[ "$item" =~ $SAFE ]] || fail_usage "--$name item '$item' has characters outside A-Z a-z 0-9 . _ @ : + -"
        out+="$sep$(json_string "$item")"
        sep=","
    done
    printf '[%s]' "$out"
}

groups_json="$(json_array groups "$groups")"
roles_json="$(json_array roles "$roles")"
if [[ -n "$roles" ]]; then
    IFS=, read -r -a role_items <<<"$roles"
    for role in "${role_items[@]}"; do
        case "$role" in
            hoop:auditor | hoop:approver | hoop:admin) ;;
            *) printf 'warning: role %s is not one the silo knows (hoop:auditor, hoop:approver, hoop:admin)\n' "$role" >&2 ;;
        esac
    done
fi

dev_dir="${HOOP_DEV_DIR:-$HOOP_ROOT/.data/dev}"
hoop_dev_keys_ensure "$dev_dir"
private_key="$dev_dir/jwt-private.pem"
kid="$(hoop_dev_key_id "$dev_dir/jwt-public.pem")"

now="$(date +%s)"
jti="$(openssl rand -hex 16)"
header="{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":$(json_string "$kid")}"
payload="{\"iss\":$(json_string "$ISSUER"),\"aud\":$(json_string "$AUDIENCE"),\"sub\":$(json_string "$sub"),\"groups\":$groups_json"
if [[ -n "$roles" ]]; then
    payload+=",\"roles\":$roles_json"
fi
payload+=",\"iat\":$now,\"nbf\":$now,\"exp\":$((now + ttl)),\"jti\":$(json_string "$jti")}"

signing_input="$(printf '%s' "$header" | hoop_b64url).$(printf '%s' "$payload" | hoop_b64url)"
signature="$(printf '%s' "$signing_input" | openssl dgst -sha256 -sign "$private_key" | hoop_b64url)"
[[ -n "$signature" ]] || hoop_die "openssl could not sign with $private_key"
printf '%s.%s\n' "$signing_input" "$signature"
