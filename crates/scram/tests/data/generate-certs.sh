#!/bin/sh
# Regenerates the certificates behind tests/channel_binding_certs.rs.
#
# Each line of tls-server-end-point.txt is "<file> <digest> <hex>", where <digest> is the hash
# RFC 5929 section 4.1 picks for that certificate's signature algorithm (MD5 and SHA-1 become
# SHA-256) and <hex> is `openssl dgst` of the DER file; "<file> none -" marks a certificate
# whose signature has no digest (EdDSA), which cannot be used for tls-server-end-point.
# Keys are throwaway and not kept. Run from this directory: sh generate-certs.sh
set -eu
umask 022
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
manifest=tls-server-end-point.txt
: > "$manifest"

# cert <file> <key> <expected digest or "none"> [extra openssl req options...]
cert() {
    file=$1 key=$2 digest=$3
    shift 3
    openssl req -x509 -new -key "$key" -subj "/CN=$file" -days 36500 -outform DER -out "$file" "$@"
    if [ "$digest" = none ]; then
        echo "$file none -" >> "$manifest"
    else
        echo "$file $digest $(openssl dgst -"$digest" -r "$file" | cut -d' ' -f1)" >> "$manifest"
    fi
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$tmp/rsa.key" 2>/dev/null
openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:1024 -out "$tmp/rsapss.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/p256.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p384.key"
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:1024 -pkeyopt dsa_paramgen_q_bits:160 -out "$tmp/dsa.param" 2>/dev/null
openssl genpkey -paramfile "$tmp/dsa.param" -out "$tmp/dsa.key"
openssl genpkey -algorithm ED25519 -out "$tmp/ed25519.key"
openssl genpkey -algorithm ED448 -out "$tmp/ed448.key"

cert rsa-md5.der "$tmp/rsa.key" sha256 -md5
cert rsa-sha1.der "$tmp/rsa.key" sha256 -sha1
cert rsa-sha224.der "$tmp/rsa.key" sha224 -sha224
cert rsa-sha256.der "$tmp/rsa.key" sha256 -sha256
cert rsa-sha384.der "$tmp/rsa.key" sha384 -sha384
cert rsa-sha512.der "$tmp/rsa.key" sha512 -sha512
# RSASSA-PSS signatures made with a plain RSA key: hashAlgorithm sits in the parameters.
cert rsa-pss-sha256.der "$tmp/rsa.key" sha256 -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
cert rsa-pss-sha512.der "$tmp/rsa.key" sha512 -sha512 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
# SHA-1 is PSS's default hash, so DER leaves hashAlgorithm out: absent means SHA-1, bound as SHA-256.
cert rsa-pss-sha1-default.der "$tmp/rsa.key" sha256 -sha1 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:20
# An RSA-PSS key (id-RSASSA-PSS public key), as PostgreSQL's own SSL tests use.
cert rsapss-key-sha384.der "$tmp/rsapss.key" sha384 -sha384
cert ecdsa-p256-sha1.der "$tmp/p256.key" sha256 -sha1
cert ecdsa-p256-sha256.der "$tmp/p256.key" sha256 -sha256
cert ecdsa-p256-sha512.der "$tmp/p256.key" sha512 -sha512
cert ecdsa-p384-sha384.der "$tmp/p384.key" sha384 -sha384
cert ecdsa-p384-sha224.der "$tmp/p384.key" sha224 -sha224
cert dsa-sha1.der "$tmp/dsa.key" sha256 -sha1
cert dsa-sha256.der "$tmp/dsa.key" sha256 -sha256
cert ed25519.der "$tmp/ed25519.key" none
cert ed448.der "$tmp/ed448.key" none
