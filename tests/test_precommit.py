"""The pre-commit hooks, through the real pre-commit (``pre-commit try-repo``) on a temporary repo.

try-repo installs the hook repository into a fresh virtualenv with pip (from PyPI), so this
test needs the network to PyPI and takes a minute or two. It copies the files the package
is built from into a temporary git repository first: try-repo clones a repository at a
commit, and that way the test checks the working tree, whether or not it is committed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from needs import need_tool

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml")
PACKAGE_DIRS = ("cwlint", "rules", "docs/rules")  # docs/rules: the wheel ships the rule pages (cwlint/_docs)

BAD = '''# /// script
# requires-python = ">=3.11"
# dependencies = ["codewords-client==0.3.4", "fastapi==0.115.0"]
# ///
from codewords_client import AsyncCodewordsClient


async def scrape(url: str) -> dict:
    async with AsyncCodewordsClient() as client:
        return await client.run(service_id="firecrawl", data={"url": url})
'''
FIXED = BAD.replace("data=", "inputs=")


def git(*args: str, cwd: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "cwlint test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "cwlint test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def hook_repository(target: Path) -> Path:
    """This project's package files, committed in a repository of their own."""
    target.mkdir()
    for name in PACKAGE_FILES:
        shutil.copy2(ROOT / name, target / name)
    for name in PACKAGE_DIRS:
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".cwlint_cache"))
    git("init", "-q", cwd=target)
    git("add", "-A", cwd=target)
    git("commit", "-q", "-m", "cwlint hooks under test", cwd=target)
    return target


def try_repo(hooks: Path, project: Path, *hook: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRE_COMMIT", "CWLINT_", "GIT_"))}
    env["PRE_COMMIT_COLOR"] = "never"
    command = [sys.executable, "-m", "pre_commit", "try-repo", str(hooks), *hook, "--files", "workflow.py", "--verbose"]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=900)


def test_pre_commit_hooks_check_then_fix(tmp_path: Path) -> None:
    need_tool("git")  # pre-commit works on a git repository (pre-commit itself is in the test extra)
    hooks = hook_repository(tmp_path / "hooks")
    project = tmp_path / "project"
    project.mkdir()
    git("init", "-q", cwd=project)
    (project / "workflow.py").write_text(BAD)
    git("add", "workflow.py", cwd=project)
    git("commit", "-q", "-m", "a workflow with a mistake", cwd=project)

    check = try_repo(hooks, project, "cwlint")
    output = check.stdout + check.stderr
    assert check.returncode == 1, output
    assert "workflow.py:10:57: CW101" in output, output  # the finding, by file, line and code
    assert (project / "workflow.py").read_text() == BAD  # the check hook writes nothing

    fix = try_repo(hooks, project, "cwlint-fix")
    output = fix.stdout + fix.stderr
    assert fix.returncode == 1, output  # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in output, output
    assert (project / "workflow.py").read_text() == FIXED

    both = try_repo(hooks, project)  # every hook of the repository: cwlint and cwlint-fix
    output = both.stdout + both.stderr
    assert both.returncode == 0, output
    assert output.count("Passed") == 2, output
    assert (project / "workflow.py").read_text() == FIXED
