# shellcheck shell=bash
# The local stack's JWT signing key pair (development only). Source it; do not run it.
#
#   hoop_dev_keys_ensure DIR   create DIR/jwt-private.pem (RSA-2048, mode 600) and
#                              DIR/jwt-public.pem with openssl unless both exist;
#                              derive a missing public key from the private one
#   hoop_b64url                read stdin, print it base64url-encoded without padding
#   hoop_dev_key_id PUBLIC_PEM print the key id the silo gives that PEM key:
#                              base64url(SHA-256(SubjectPublicKeyInfo DER))
#
# Needs hoop_die (deploy/lib/common.sh) and openssl.

hoop_b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

hoop_dev_key_id() {
    openssl pkey -pubin -in "$1" -outform DER | openssl dgst -sha256 -binary | hoop_b64url
}

_hoop_dev_keys_create() {
    local dir="$1" private="$1/jwt-private.pem" public="$1/jwt-public.pem" tmp
    if [[ -s "$private" && -s "$public" ]]; then
        return 0
    fi
    if [[ -s "$private" ]]; then
        openssl pkey -in "$private" -pubout -out "$public.tmp" 2>/dev/null ||
            hoop_die "$private is not a readable private key; delete it and run again to create a new dev key pair"
        mv -f "$public.tmp" "$public"
        echo "Derived $public from the existing dev private key" >&2
        return 0
    fi
    # Write to temporary names and rename, so a reader never sees half a key.
    tmp="$(mktemp "$dir/.jwt-private.XXXXXX")"
    if ! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$tmp" 2>/dev/null; then
        rm -f "$tmp"
        hoop_die "openssl could not create an RSA key in $dir"
    fi
    chmod 600 "$tmp"
    openssl pkey -in "$tmp" -pubout -out "$public.tmp" 2>/dev/null || {
        rm -f "$tmp" "$public.tmp"
        hoop_die "openssl could not derive the public key"
    }
    mv -f "$public.tmp" "$public"
    mv -f "$tmp" "$private"
    echo "Created the dev JWT key pair in $dir (jwt-private.pem, jwt-public.pem)" >&2
}

hoop_dev_keys_ensure() {
    local dir="$1"
    command -v openssl >/dev/null 2>&1 ||
        hoop_die "'openssl' not found; install it (apt-get install openssl) and retry"
    (umask 077 && mkdir -p "$dir") || hoop_die "cannot create $dir"
    if command -v flock >/dev/null 2>&1; then
        # One creator at a time (up.sh and dev-token.sh may race on a fresh checkout).
        (
            flock -w 30 9 || hoop_die "timed out waiting for the lock on $dir/.jwt-keys.lock"
            _hoop_dev_keys_create "$dir"
        ) 9>"$dir/.jwt-keys.lock"
    else
        _hoop_dev_keys_create "$dir"
    fi
    chmod 600 "$dir/jwt-private.pem"
}
