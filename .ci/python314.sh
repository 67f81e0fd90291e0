#!/usr/bin/env bash
# The whole suite on Python 3.14 (the GIL build), in a Debian sid chroot.
#
#   .ci/python314.sh WORKDIR
#
# Debian's pool serves sid's python3.14 binary packages but not its source
# package, and those binaries need sid's C library, newer than this machine's.
# So debootstrap installs a minimal sid, with python3.14 and a compiler, into
# WORKDIR/sid (about a minute), and the suite runs inside it against a clone
# of this checkout. Debian ships no free-threaded 3.14 (no python3.14-nogil),
# so 3.14t is not tested here.
#
# Exit codes: 0 passed; 1 a test or the install failed; 3 no sid chroot with
# python3.14 could be made (the caller reports 3.14 as not tested).
set -euo pipefail
work=$1
root=$work/sid
checkout=$(cd "$(dirname "$0")/.." && pwd)

# What was mounted inside the chroot is unmounted before anything is removed,
# and rm never crosses into a mounted file system.
cleanup() {
    local mount
    for mount in tmp dev/shm proc; do
        if mountpoint -q "$root/$mount" 2>/dev/null; then umount "$root/$mount" || true; fi
    done
    rm -rf --one-file-system "$root"
}
trap cleanup EXIT

if ! command -v debootstrap >/dev/null; then
    apt-get install -y -q debootstrap >/dev/null || { echo "debootstrap could not be installed" >&2; exit 3; }
fi
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
if ! debootstrap --variant=minbase --include=python3.14,python3.14-venv,python3.14-dev,gcc,libc6-dev \
        sid "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    echo "debootstrap of sid with python3.14 failed" >&2
    exit 3
fi

# Name resolution and the machine's certificates (PyPI may be reached through
# a proxy whose certificate only this machine's bundle has).
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-bundle.crt"
mount -t proc proc "$root/proc"
mount -t tmpfs tmpfs "$root/dev/shm"   # multiprocessing's semaphores
mount -t tmpfs tmpfs "$root/tmp"
git clone -q "$checkout" "$root/root/fastdispatch"

chroot "$root" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/host-bundle.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off \
    FASTDISPATCH_REQUIRE_EXTENSION=1 bash -euo pipefail -c '
        cd /root/fastdispatch
        python3.14 -VV
        python3.14 -m venv /opt/venv
        /opt/venv/bin/python -m pip install -q ".[test]"
        # As on 3.10 and 3.13: Django'\''s wider apps (slow) and the brokers'\''
        # tests (services) run on 3.11 and 3.12 only.
        /opt/venv/bin/python -m pytest --require-compiled --require-network \
            -m "not slow and not services" -q -p no:cacheprovider
    '
