"""A workflow's environment: its PEP 723 header's Python and pinned dependencies, built with uv.

Environments are cached under ``<cache>/envs/<key>``, where the key hashes the normalised header
(``requires-python`` and the sorted, normalised ``dependencies``) plus what cwtest adds. A build
happens in a temporary directory next to the target and is renamed into place, under an exclusive
``flock`` on ``<key>.lock``, so two runs (or two threads of one run) never build the same
environment at once and nobody ever sees half of one. Fixtures with identical headers share one
environment.

uv runs with ``UV_PYTHON_DOWNLOADS=never``: a header asking for a Python that is not installed is
a finding carrying uv's one-line error, never a download. ``--env current`` uses the interpreter
cwtest runs on, when it satisfies ``requires-python`` and every pin (checked with
``importlib.metadata``); otherwise the workflow gets an ``env-mismatch`` finding listing the pins.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cwlint.header import Header, normalize_distribution, parse_header

#: Bump when the layout of an environment changes, so that old caches are not reused.
ENV_FORMAT = 1
#: Distributions that bring uvicorn, which the child serves the app with.
_SERVER_PROVIDERS = {"uvicorn", "codewords-client"}


class EnvError(Exception):
    """Why a workflow's environment cannot be had; ``kind`` is the finding kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def default_cache_dir() -> Path:
    base = os.environ.get("CWTEST_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "cwtest"


def _normalise_requirement(text: str) -> str:
    try:
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:  # pragma: no cover - packaging is a dependency
        return re.sub(r"\s+", "", text)
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return re.sub(r"\s+", "", text)
    req.name = normalize_distribution(req.name)
    return str(req)


@dataclass(frozen=True)
class EnvSpec:
    """What an environment must hold: read from a header, plus what the harness adds."""

    requires_python: str | None
    dependencies: tuple[str, ...]
    added: tuple[str, ...] = ()

    @classmethod
    def from_header(cls, header: Header) -> EnvSpec:
        requires = header.data.get("requires-python")
        deps = tuple(sorted({_normalise_requirement(d.strip()) for d in header.dependencies if d.strip()}))
        names = header.distribution_names()
        added = () if names & _SERVER_PROVIDERS else ("uvicorn",)
        return cls(requires.strip() if isinstance(requires, str) and requires.strip() else None, deps, added)

    def key(self) -> str:
        spec = {"format": ENV_FORMAT, "requires-python": self.requires_python, "dependencies": list(self.dependencies),
                "added": list(self.added)}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]

    def requirements(self) -> list[str]:
        return [*self.dependencies, *self.added]


def spec_for(path: Path, text: str) -> EnvSpec:
    """The environment a workflow file asks for; EnvError("header") when its header cannot say."""
    header = parse_header(text)
    if header is None:
        raise EnvError("header", f"{path.name} has no PEP 723 '# /// script' header, so its dependencies are unknown")
    if header.error:
        raise EnvError("header", f"the PEP 723 header is invalid (line {header.error_line}): {header.error}")
    return EnvSpec.from_header(header)


@dataclass
class Environment:
    """A ready environment: the interpreter to run and how it was obtained."""

    python: Path
    kind: str  #: "uv" or "current"
    key: str | None = None
    cached: bool = False
    seconds: float = 0.0
    python_version: str = ""
    root: Path | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "current":
            return f"current interpreter {self.python} (Python {self.python_version})"
        how = "cached" if self.cached else f"built in {self.seconds:.1f} s"
        return f"uv env {self.key} ({how}, Python {self.python_version})"

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "python": str(self.python), "key": self.key, "cached": self.cached,
                "seconds": round(self.seconds, 3), "python_version": self.python_version,
                "root": str(self.root) if self.root else None, "notes": self.notes}


def find_uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found:
            return found
    raise EnvError("env-build", "uv is not installed (pip install uv)")


def _uv_error(stderr: str, limit: int = 6) -> str:
    """uv's own error, without the hints and the indented causes it prints around it."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.lower().startswith("error")), None)
    if start is None:
        return " ".join(lines[-limit:]) or "uv failed without a message"
    picked = [lines[start]]
    for line in lines[start + 1:]:
        if line.lower().startswith(("hint", "warning")):
            break
        picked.append(line.strip())
        if len(picked) >= limit:
            break
    return " ".join(picked)


class EnvManager:
    """Builds (or reuses) environments; ``mode`` is ``"uv"`` or ``"current"``."""

    def __init__(self, mode: str = "uv", cache_dir: Path | None = None) -> None:
        if mode not in ("uv", "current"):
            raise ValueError(f"unknown env mode {mode!r}")
        self.mode = mode
        self.cache_dir = (cache_dir or default_cache_dir()) / "envs"

    def prepare(self, spec: EnvSpec) -> Environment:
        if self.mode == "current":
            return self._current(spec)
        return self._uv(spec)

    # --- --env current ----------------------------------------------------------------------

    def _current(self, spec: EnvSpec) -> Environment:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.specifiers import SpecifierSet

        problems = []
        version = platform.python_version()
        if spec.requires_python and not SpecifierSet(spec.requires_python).contains(version, prereleases=True):
            problems.append(f"requires-python {spec.requires_python} (this is {version})")
        for text in spec.requirements():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                problems.append(f"{text} (not a valid requirement)")
                continue
            if req.marker is not None and not req.marker.evaluate():
                continue
            try:
                installed = importlib.metadata.version(req.name)
            except importlib.metadata.PackageNotFoundError:
                problems.append(f"{text} (not installed)")
                continue
            if req.specifier and not req.specifier.contains(installed, prereleases=True):
                problems.append(f"{text} ({installed} installed)")
        if problems:
            raise EnvError("env-mismatch", "--env current: this interpreter does not satisfy " + "; ".join(problems))
        return Environment(Path(sys.executable), "current", python_version=version)

    # --- uv ---------------------------------------------------------------------------------

    def _uv(self, spec: EnvSpec) -> Environment:
        key = spec.key()
        target = self.cache_dir / key
        if self._valid(target):
            return self._loaded(target, key, cached=True, seconds=0.0)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.cache_dir / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self._valid(target):  # built by someone else while we waited
                    return self._loaded(target, key, cached=True, seconds=time.monotonic() - started)
                self._build(spec, target)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return self._loaded(target, key, cached=False, seconds=time.monotonic() - started)

    @staticmethod
    def _valid(target: Path) -> bool:
        return (target / "cwtest-env.json").is_file() and (target / "bin" / "python").exists()

    def _loaded(self, target: Path, key: str, cached: bool, seconds: float) -> Environment:
        info = json.loads((target / "cwtest-env.json").read_text())
        env = Environment(target / "bin" / "python", "uv", key=key, cached=cached, seconds=seconds,
                          python_version=info.get("python_version", ""), root=target)
        if info.get("added"):
            env.notes.append("added by cwtest (the header brings no server): " + ", ".join(info["added"]))
        return env

    def _build(self, spec: EnvSpec, target: Path) -> None:
        uv = find_uv()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME")}
        env.update({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"})
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.cache_dir))
        try:
            python_request = spec.requires_python or sys.executable
            # cwd: the cache, so that uv never takes the caller's project .venv for the interpreter.
            done = subprocess.run([uv, "venv", "--quiet", "--relocatable", "--python", python_request, str(staging)],
                                  env=env, capture_output=True, text=True, cwd=self.cache_dir)
            if done.returncode != 0:
                raise EnvError("python-unavailable", f"requires-python {python_request}: {_uv_error(done.stderr, 1)}")
            python = staging / "bin" / "python"
            if spec.requirements():
                done = subprocess.run(
                    [uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python),
                     *spec.requirements()],
                    env=env, capture_output=True, text=True, cwd=self.cache_dir,
                )
                if done.returncode != 0:
                    raise EnvError("env-build", f"uv could not install the dependencies: {_uv_error(done.stderr)}")
            version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True, check=True).stdout.strip()
            (staging / "cwtest-env.json").write_text(json.dumps({
                "format": ENV_FORMAT, "requires-python": spec.requires_python,
                "dependencies": list(spec.dependencies), "added": list(spec.added), "python_version": version,
            }, indent=2))
            if target.exists():
                shutil.rmtree(target)  # a leftover without its marker file
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
