#!/usr/bin/env bash
# Fetches an access token with the client_credentials grant (RFC 6749 §4.4) and prints it.
#
#   CLIENT_ID=svc CLIENT_SECRET=... ./client-credentials.sh
#   REALM=http://127.0.0.1:8080/realms/acme SCOPE="jobs:read clusters:read" ./client-credentials.sh
#
# Create the client first; its secret is printed once:
#   tessera client create svc --scope jobs:read,clusters:read
#
# REALM is the realm's base URL, {public_url}/realms/{realm}; the default realm also answers
# at the short path {public_url}/oauth/token. SCOPE may separate names with spaces or commas;
# when empty, the client's default scopes are granted (an empty parameter counts as absent).
#
# The secret travels as HTTP Basic credentials (client_secret_basic), never in the URL. curl -u
# does not form-encode it as RFC 6749 §2.3.1 asks: generated secrets (base64url) need no
# encoding, but a fixed secret containing '+' or '%' would have to be encoded first.
set -euo pipefail

REALM=${REALM:-http://127.0.0.1:8080/realms/default}
SCOPE=${SCOPE:-}
if [ -z "${CLIENT_ID:-}" ]; then
    read -p "Client ID: " CLIENT_ID
fi
if [ -z "${CLIENT_SECRET:-}" ]; then
    read -sp "Client secret: " CLIENT_SECRET
    echo >&2
fi

# --fail-with-body: on an OAuth error (4xx) curl keeps the error JSON and exits non-zero.
response=$(curl -sS --fail-with-body -u "$CLIENT_ID:$CLIENT_SECRET" \
    -d grant_type=client_credentials \
    --data-urlencode "scope=$SCOPE" \
    "$REALM/protocol/openid-connect/token") || { echo "$response" >&2; exit 1; }

printf '%s\n' "$response" | grep -o '"access_token":"[^"]*"' | awk -F'"' '{print $4}'
