#!/usr/bin/env bash
# The servers the deferred-delivery tests start for themselves (tests/deferred):
# redis-server and rabbitmq-server, from Debian's packages. Installs whichever
# is missing and starts nothing: the tests run their own instances on free
# loopback ports with their data in temporary directories, never the system
# services (which this script keeps from starting during the install).
#
# Usage: .ci/services.sh        (root, or sudo; needs Debian's package mirror)
set -euo pipefail

declare -A binary_of=([redis-server]=redis-server [rabbitmq-server]=/usr/lib/rabbitmq/bin/rabbitmq-server)
missing=()
for package in redis-server rabbitmq-server; do
    binary=${binary_of[$package]}
    if command -v "$binary" >/dev/null 2>&1 || [ -x "$binary" ]; then
        echo "services: $package is installed"
    else
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "services: need root to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "services: installing ${missing[*]}"
# Debian starts a service when its package is installed unless policy-rc.d
# says no: say no for this install only.
policy=/usr/sbin/policy-rc.d
placed_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    placed_policy=1
fi
cleanup() { if [ -n "$placed_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "services: installed ${missing[*]}"
