# shellcheck shell=bash
# The local stack's cluster certificates (development only). Source it; do not run it.
#
#   hoop_dev_cluster_certs_ensure DIR   create, with openssl, unless they exist:
#       DIR/cluster-ca.crt, cluster-ca.key          the dev cluster CA (EC P-256, 10 years)
#       DIR/cluster-silo.crt, cluster-silo.key      the silos' certificate (server and client auth)
#       DIR/cluster-gateway.crt, cluster-gateway.key the gateways' certificate (client auth)
#   Silos and gateways present these on the Orleans cluster channel (mutual TLS) and accept only
#   certificates issued by the CA (Hoop:Orleans:Tls, docs/OPERATIONS.md). Keys are mode 600.
#
# Needs hoop_die (deploy/lib/common.sh) and openssl.

_hoop_dev_cert_issue() {
    local dir="$1" name="$2" usage="$3" tmp
    [[ -s "$dir/cluster-$name.crt" && -s "$dir/cluster-$name.key" ]] && return 0
    tmp="$(mktemp -d "$dir/.cert-$name.XXXXXX")"
    (
        umask 077
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key" 2>/dev/null &&
            openssl req -new -key "$tmp/key" -subj "/CN=hoop-dev-$name" -out "$tmp/csr" 2>/dev/null &&
            printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' \
                "$usage" >"$tmp/ext" &&
            openssl x509 -req -in "$tmp/csr" -CA "$dir/cluster-ca.crt" -CAkey "$dir/cluster-ca.key" -CAcreateserial \
                -days 825 -sha256 -extfile "$tmp/ext" -out "$tmp/crt" 2>/dev/null
    ) || {
        rm -rf "$tmp"
        hoop_die "openssl could not issue the dev cluster certificate '$name' in $dir"
    }
    mv -f "$tmp/key" "$dir/cluster-$name.key"
    mv -f "$tmp/crt" "$dir/cluster-$name.crt"
    rm -rf "$tmp"
}

hoop_dev_cluster_certs_ensure() {
    local dir="$1" tmp
    mkdir -p "$dir"
    if [[ ! -s "$dir/cluster-ca.crt" || ! -s "$dir/cluster-ca.key" ]]; then
        # A new CA invalidates certificates issued by an old one.
        rm -f "$dir"/cluster-silo.* "$dir"/cluster-gateway.*
        tmp="$(mktemp -d "$dir/.cert-ca.XXXXXX")"
        (
            umask 077
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/key" 2>/dev/null &&
                openssl req -new -x509 -key "$tmp/key" -subj "/CN=hoop-dev-cluster-ca" -days 3650 -sha256 \
                    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
                    -out "$tmp/crt" 2>/dev/null
        ) || {
            rm -rf "$tmp"
            hoop_die "openssl could not create the dev cluster CA in $dir"
        }
        mv -f "$tmp/key" "$dir/cluster-ca.key"
        mv -f "$tmp/crt" "$dir/cluster-ca.crt"
        rm -rf "$tmp"
        echo "Created the dev cluster CA in $dir/cluster-ca.crt" >&2
    fi
    _hoop_dev_cert_issue "$dir" silo "serverAuth,clientAuth"
    _hoop_dev_cert_issue "$dir" gateway "clientAuth,serverAuth"
}
