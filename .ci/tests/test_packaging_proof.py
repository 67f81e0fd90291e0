"""The packaging proof's own logic: its environment and the source export."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from checks import distributions as rules
from checks.packaging_proof import (
    CIBUILDWHEEL_VERSION,
    ROOT,
    PackagingFailed,
    clean_environment,
    export_source_tree,
)


def test_the_environment_is_cleaned_of_ours_and_cibuildwheels() -> None:
    caller = {
        "PATH": "/usr/bin",
        "FASTDISPATCH_NO_EXTENSIONS": "1",
        "FASTDISPATCH_REQUIRE_EXTENSION": "1",
        "PIP_BUILD_CONSTRAINT": "x.txt",
        "FORCE_COLOR": "1",
        "CIBW_ARCHS": "x86_64",
        "CIBW_BUILD": "cp311-*",
    }
    env = clean_environment(caller, Path("/repo"))
    assert env == {
        "PATH": "/usr/bin",
        "NO_COLOR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_PROGRESS_BAR": "off",
        "PYTHONDONTWRITEBYTECODE": "1",
        "FASTDISPATCH_DJANGO_SDIST_DIR": "/repo/.django-sdist",
    }
    kept = clean_environment({"FASTDISPATCH_DJANGO_SDIST_DIR": "/cache"}, Path("/repo"))
    assert kept["FASTDISPATCH_DJANGO_SDIST_DIR"] == "/cache"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_the_export_has_tracked_and_untracked_files_not_ignored_or_deleted(tmp_path: Path) -> None:
    repo, tree = tmp_path / "repo", tmp_path / "tree"
    (repo / "src").mkdir(parents=True)
    for name in (".gitignore", "tracked.py", "src/deleted.py", "src/x.so"):
        (repo / name).write_text("*.so\n" if name == ".gitignore" else "")
    git(repo, "init", "-q")
    git(repo, "add", ".gitignore", "tracked.py", "src/deleted.py")
    (repo / "src" / "deleted.py").unlink()
    (repo / "src" / "untracked.py").write_text("")
    export_source_tree(repo, tree)
    exported = sorted(str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file())
    assert exported == [".gitignore", "src/untracked.py", "tracked.py"]


def test_the_export_needs_a_git_checkout(tmp_path: Path) -> None:
    with pytest.raises(PackagingFailed, match="needs a git checkout"):
        export_source_tree(tmp_path, tmp_path / "tree")


def test_the_cibuildwheel_pin_is_the_workflows() -> None:
    workflow = (ROOT / ".github" / "workflows" / "wheels.yml").read_text()
    assert rules.workflow_uses_cibuildwheel(workflow, CIBUILDWHEEL_VERSION)
