#!/usr/bin/env bash
# Regenerates the test vectors of src/trust/signers.rs with the openssl
# command line: fresh keys (the private keys are not kept), the public keys,
# and each key's base64 signature of payload.json, as cosign writes one
# (DER for ECDSA, PKCS#1 v1.5 for RSA; over SHA-256 of the payload), and the
# payloads' digests. Run from this folder: `bash generate.sh`.
set -euo pipefail
cd "$(dirname "$0")"
private=$(mktemp -d)
trap 'rm -rf "$private"' EXIT

printf '%s' '{"critical":{"identity":{"docker-reference":"registry.example.net/storefront/app"},"image":{"docker-manifest-digest":"sha256:4c3a2f4b1b1f2b7ee1e1f5c7b3e0d7d5f6f0e8a1b2c3d4e5f60718293a4b5c6d"},"type":"cosign container image signature"},"optional":null}' > payload.json
printf '%s' '{"critical":{"identity":{"docker-reference":"registry.example.net/storefront/app"},"image":{"docker-manifest-digest":"sha256:9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa99887766554433221100"},"type":"cosign container image signature"},"optional":null}' > other-payload.json
for payload in payload other-payload; do
  echo "sha256:$(openssl dgst -sha256 -r "$payload.json" | cut -d' ' -f1)" > "$payload.digest"
done

key() { # NAME, then openssl genpkey options
  local name=$1; shift
  openssl genpkey "$@" -out "$private/$name.key" 2>/dev/null
  openssl pkey -in "$private/$name.key" -pubout -out "$name.pub"
}
sign() { # KEY NAME, DIGEST, OUTPUT, extra openssl dgst options
  local name=$1 digest=$2 out=$3; shift 3
  openssl dgst "-$digest" -sign "$private/$name.key" "$@" payload.json | base64 -w0 > "$out"
  echo >> "$out"
}

key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p256-other -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa3072-e3 -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -pkeyopt rsa_keygen_pubexp:3
key rsa4096 -algorithm RSA -pkeyopt rsa_keygen_bits:4096
key ed25519 -algorithm ED25519

for name in p256 p256-other p384 rsa2048 rsa3072-e3 rsa4096; do
  sign "$name" sha256 "$name.sig"
done
# How the Kubewarden host (sigstore-rs) checks a P-384 key: over SHA-384.
sign p384 sha384 p384-sha384.sig
# Ed25519 signs the payload itself.
openssl pkeyutl -sign -rawin -inkey "$private/ed25519.key" -in payload.json | base64 -w0 > ed25519.sig
echo >> ed25519.sig

# Each signature checks with openssl before it is kept.
for name in p256 p256-other p384 rsa2048 rsa3072-e3 rsa4096; do
  base64 -d "$name.sig" > "$private/sig"
  openssl dgst -sha256 -verify "$name.pub" -signature "$private/sig" payload.json > /dev/null
done
