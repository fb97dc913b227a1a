#!/usr/bin/env bash
# Fetches a realm access token with the password grant of the public `portal` client and
# prints it: the curl pipeline of our users' existing scripts, unchanged.
#
#   ./realm-token.sh                       # asks for username, realm URL and password
#   REALM=http://127.0.0.1:8080/realms/default USERNAME=admin ./realm-token.sh
#   TOKEN=$(./realm-token.sh)              # prompts go to stderr, only the token to stdout
#
# REALM is the realm's base URL, {public_url}/realms/{realm}. Values already set in the
# environment are used as they are; mind that some desktop sessions export USERNAME.
# Nothing is printed when the request fails; the exit status is then non-zero. Run the curl
# command without the pipe to see the error JSON.
#
# curl receives the password on its command line, where other local users can see it with
# `ps` while the request runs; on a shared machine prefer reading it from a file
# (--data-urlencode "password@FILE").
set -o pipefail

if [ -z "${USERNAME:-}" ]; then
    read -p "Enter Username: " USERNAME
fi
if [ -z "${REALM:-}" ]; then
    read -p "Enter Realm: " REALM
fi
echo "$REALM" >&2
if [ -z "${PASSWORD:-}" ]; then
    read -sp "Enter Password: " PASSWORD
    echo >&2
fi

curl -L -X POST "$REALM/protocol/openid-connect/token" \
-H 'Content-Type: application/x-www-form-urlencoded' \
--data-urlencode "client_id=portal" \
--data-urlencode "grant_type=password" \
--data-urlencode "username=$USERNAME" \
--data-urlencode "password=$PASSWORD" | grep -o '"access_token":"[^"]*"' | awk -F'"' '{print $4}'
status=$?

# Do not leave the password in the environment (this matters when the script is sourced).
export PASSWORD=""
unset PASSWORD
exit "$status"
