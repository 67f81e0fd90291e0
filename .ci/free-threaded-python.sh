#!/usr/bin/env bash
# Build (or reuse) a free-threaded CPython from Debian's source package.
#
#   .ci/free-threaded-python.sh [3.13|3.14]    prints the interpreter's path
#
# The build goes to $FASTDISPATCH_CACHE (default ~/.cache/fastdispatch)/py<ver>t
# and is reused when it is already there and works. A private apt
# configuration is used, so the machine's own sources stay as they are.
# Build output goes to stderr; stdout is only the interpreter's path.
set -euo pipefail
version=${1:-3.13}
cache=${FASTDISPATCH_CACHE:-$HOME/.cache/fastdispatch}
prefix=$cache/py${version/./}t
python=$prefix/bin/python${version}t

works() { [ -x "$python" ] && "$python" -c 'import sys; sys.exit(sys._is_gil_enabled())' 2>/dev/null; }
if works; then echo "$python"; exit 0; fi

{
    d=$(mktemp -d)
    trap 'rm -rf "$d"' EXIT
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial"
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    # 3.13 is in trixie; 3.14 is looked for in forky and sid. One suite at a
    # time: a suite's index can name a version its pool no longer serves.
    case $version in 3.13) suites="trixie" ;; *) suites="forky sid" ;; esac
    fetched=
    for suite in $suites; do
        echo "deb-src $mirror $suite main" > "$d/sources.list"
        A=(-o Dir::Etc::SourceList="$d/sources.list" -o Dir::Etc::SourceParts=/dev/null
           -o Dir::State::Lists="$d/lists" -o Dir::Cache="$d/cache")
        apt-get "${A[@]}" update -q || continue
        if (cd "$d" && apt-get "${A[@]}" source --download-only "python$version"); then
            fetched=$suite
            break
        fi
    done
    [ -n "$fetched" ] || { echo "no source package of python$version could be fetched (tried: $suites)" >&2; exit 1; }
    tar xf "$(ls "$d"/python"$version"_*.orig.tar.[gx]z | head -n 1)" -C "$d"
    cd "$d"/Python-"$version".*/
    ./configure --disable-gil --prefix="$prefix" -q
    make -j"$(nproc)" -s
    make install -s
} >&2
works || { echo "free-threaded Python $version: built, but $python does not run without the GIL" >&2; exit 1; }
echo "$python"
