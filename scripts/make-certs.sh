#!/usr/bin/env bash
# Makes a certificate authority and certificates for a test cluster of dsq nodes, with the
# openssl command-line tool:
#
#   scripts/make-certs.sh DIR [WORKERS] [SERVER_NAME]
#
# DIR/ca.pem, ca.key         the CA (keep ca.key away from the nodes)
# DIR/server.pem, .key       the server's certificate and key (CN and subjectAltName SERVER_NAME,
#                            default localhost; 127.0.0.1 is always in the subjectAltName)
# DIR/worker-I.pem, .key     one per worker, I = 1..WORKERS (default 2)
#
# Every node runs with --tls-ca=DIR/ca.pem and its own --tls-cert and --tls-key. CAF checks that
# a peer's certificate chains to the CA; it does not compare names, so the names are for people.
# Keys are EC P-256 and unencrypted (mode 600); certificates are valid for 30 days.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 3 ]; then
  echo "usage: $0 DIR [WORKERS] [SERVER_NAME]" >&2
  exit 2
fi
dir=$1
workers=${2:-2}
server_name=${3:-localhost}
if ! [[ "$workers" =~ ^[0-9]+$ ]]; then
  echo "make-certs: WORKERS must be a number, got '$workers'" >&2
  exit 2
fi
command -v openssl >/dev/null || { echo "make-certs: needs the openssl command (Debian: openssl)" >&2; exit 1; }

mkdir -p "$dir"
umask 077
days=30

new_key() { # file
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
}

# sign NAME CN SAN EXTENDED_KEY_USAGE: NAME.key, NAME.pem signed by the CA
sign() {
  local name=$1 cn=$2 san=$3 eku=$4
  local ext="$dir/$name.ext"
  new_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "/O=dsq test cluster/CN=$cn" \
    -out "$dir/$name.csr" 2>/dev/null
  printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=$eku" \
    "subjectAltName=$san" >"$ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days "$days" -sha256 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
}

new_key "$dir/ca.key"
openssl req -new -x509 -key "$dir/ca.key" -subj "/O=dsq test cluster/CN=dsq test CA" \
  -days "$days" -sha256 -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$dir/ca.pem" 2>/dev/null

if [[ "$server_name" =~ ^[0-9.]+$ ]] || [[ "$server_name" == *:* ]]; then
  server_san="IP:$server_name"
else
  server_san="DNS:$server_name"
fi
[ "$server_name" = 127.0.0.1 ] || server_san="$server_san,IP:127.0.0.1"
# Both ends present certificates, so each may act as TLS client and server.
sign server "$server_name" "$server_san" serverAuth,clientAuth
for i in $(seq 1 "$workers"); do
  sign "worker-$i" "dsq worker $i" "DNS:worker-$i" serverAuth,clientAuth
done
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.pem

for f in "$dir"/server.pem "$dir"/worker-*.pem; do
  [ -e "$f" ] || continue
  openssl verify -CAfile "$dir/ca.pem" "$f" >/dev/null
done
echo "make-certs: CA, server and $workers worker certificates in $dir"
