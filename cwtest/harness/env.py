"""A workflow's environment: its PEP 723 header's Python and pinned dependencies, built with uv.

Environments are cached under ``<cache>/envs/<key>``, where the key hashes the normalised header
(``requires-python`` and the sorted, normalised ``dependencies``) plus what cwtest adds. A build
happens in a temporary directory next to the target and is renamed into place, under an exclusive
``flock`` on ``<key>.lock``, so two runs (or two threads of one run) never build the same
environment at once and nobody ever sees half of one. Fixtures with identical headers share one
environment.

Nothing of the workflow's runs outside a sandbox, the build included:

* every dependency string is parsed as a PEP 508 requirement (``packaging``) before anything runs;
  an installer option (``--index-url=...``, ``-r``, ``-e``), a string that is not a requirement,
  and a direct reference (``name @ https://...``, ``name @ file:///...``) unless
  ``allow_direct_references`` are refused: a ``refused-dependency`` finding naming them, and no
  build. ``requires-python`` must be a version specifier. uv receives the requirements after
  ``--``, re-serialised by ``packaging``; its options come from cwtest only (``--no-config``);
* only wheels are installed (``--no-build``) unless ``allow_builds``: an sdist's build backend is
  code of the workflow's choosing;
* uv runs in the build sandbox (``build_policy``): the layer's sandbox with the network (for the
  index), no host environment but what uv needs (``UV_*`` index and TLS settings, proxies), a
  private HOME, and nothing writable but the environment being built and uv's cache. Files are
  copied out of the cache (``--link-mode=copy``), never hard-linked, so that nothing written into
  an environment can reach the cache;
* no code of the environment's runs while uv's cache is writable: bytecode is compiled in a second
  sandboxed step (``python -I -S -m compileall``: no ``.pth`` file runs) that sees the environment
  alone, without the network. With ``allow_builds`` a build backend does run while uv writes its
  cache, so such a build gets a throwaway cache of its own;
* the interpreter is found on the host by ``uv python find`` (which runs only installed
  interpreters) and the environment's version is read from its ``pyvenv.cfg``, never by running it.

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
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cwlint.header import Header, normalize_distribution, parse_header
from cwtest.harness import seccomp
from cwtest.harness.policy import Policy, command
from cwtest.harness.sandbox import Layer

#: Bump when the layout of an environment changes, so that old caches are not reused. 2: built in
#: the build sandbox (copied out of uv's cache, bytecode compiled apart, readable by every user).
ENV_FORMAT = 2
#: Distributions that bring uvicorn, which the child serves the app with.
_SERVER_PROVIDERS = {"uvicorn", "codewords-client"}


class EnvError(Exception):
    """Why a workflow's environment cannot be had; ``kind`` is the finding kind.

    With ``unblock`` the cause is cwtest's own choice, not the workflow's (a dependency published
    only as an sdist, which cwtest builds only with ``--allow-builds``): the workflow is
    inconclusive, with that step, never a finding.
    """

    def __init__(self, kind: str, message: str, unblock: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.unblock = unblock


#: The cache when cwtest runs as root (and neither CWTEST_CACHE_DIR nor XDG_CACHE_HOME says
#: otherwise): root's home is not searchable by other users, and the workflow runs as one.
ROOT_CACHE = Path("/var/cache/cwtest")


def default_cache_dir() -> Path:
    base = os.environ.get("CWTEST_CACHE_DIR")
    if base:
        return Path(base)
    if os.geteuid() == 0 and not os.environ.get("XDG_CACHE_HOME"):
        return ROOT_CACHE
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "cwtest"


def parse_requirements(texts: list[str]) -> list[str]:
    """Every dependency string as a normalised PEP 508 requirement; ``EnvError("refused-dependency")``
    naming each string that is not one (an installer option, ``-r``/``-e``, anything ``packaging``
    cannot parse)."""
    from packaging.requirements import InvalidRequirement, Requirement

    parsed: list[str] = []
    refused: list[str] = []
    for text in texts:
        text = text.strip()
        if not text:
            continue
        if text.startswith("-"):
            refused.append(f"{_shown(text)} (an installer option: options never come from the workflow file)")
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            refused.append(f"{_shown(text)} (not a PEP 508 requirement: {str(exc).splitlines()[0][:160]})")
            continue
        req.name = normalize_distribution(req.name)
        parsed.append(str(req))
    if refused:
        raise EnvError("refused-dependency", "refused, so nothing was installed: " + "; ".join(refused))
    return parsed


def direct_references(requirements: tuple[str, ...]) -> list[str]:
    """The requirements that name a URL or a file (``name @ ...``) instead of a version from the index."""
    from packaging.requirements import Requirement

    return [text for text in requirements if Requirement(text).url is not None]


def local_references(requirements: tuple[str, ...]) -> list[Path]:
    """The local paths that direct references name (``name @ file:///path``): read-only in the build."""
    from urllib.parse import unquote, urlsplit

    from packaging.requirements import Requirement

    found = []
    for text in requirements:
        url = Requirement(text).url
        if url and url.startswith("file:"):
            path = Path(unquote(urlsplit(url).path))
            if path.exists():
                found.append(path)
    return found


def _shown(text: str, limit: int = 120) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True)
class EnvSpec:
    """What an environment must hold: read from a header, plus what the harness adds."""

    requires_python: str | None
    dependencies: tuple[str, ...]
    added: tuple[str, ...] = ()

    @classmethod
    def from_header(cls, header: Header) -> EnvSpec:
        """Raises ``EnvError``: ``refused-dependency`` (``parse_requirements``), or ``header`` for a
        ``requires-python`` that is not a version specifier."""
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        requires = header.data.get("requires-python")
        requires = requires.strip() if isinstance(requires, str) and requires.strip() else None
        if requires is not None:
            try:
                SpecifierSet(requires)
            except InvalidSpecifier:
                raise EnvError("header", f"requires-python {_shown(requires)} is not a version specifier") from None
        deps = tuple(sorted(set(parse_requirements(header.dependencies))))
        names = header.distribution_names()
        added = () if names & _SERVER_PROVIDERS else ("uvicorn",)
        return cls(requires, deps, added)

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
    """Builds (or reuses) environments; ``mode`` is ``"uv"`` or ``"current"``.

    ``layer`` is the sandbox layer builds run in (the strongest here by default);
    ``allow_direct_references`` lets ``name @ URL`` and ``file:`` requirements through;
    ``allow_builds`` lets uv build sdists (in the build sandbox, with a throwaway uv cache).
    """

    def __init__(self, mode: str = "uv", cache_dir: Path | None = None, *, layer: Layer | None = None,
                 allow_direct_references: bool = False, allow_builds: bool = False) -> None:
        if mode not in ("uv", "current"):
            raise ValueError(f"unknown env mode {mode!r}")
        self.mode = mode
        self.cache_dir = (cache_dir or default_cache_dir()) / "envs"
        self._layer = layer
        self.allow_direct_references = allow_direct_references
        self.allow_builds = allow_builds

    @property
    def layer(self) -> Layer:
        if self._layer is None:
            from cwtest.harness.sandbox import choose

            self._layer = choose("auto")
        return self._layer

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
        direct = direct_references(spec.dependencies)
        if direct and not self.allow_direct_references:
            raise EnvError("refused-dependency", "refused, so nothing was installed: " + "; ".join(
                f"{_shown(d)} (a direct reference to a URL or a file: --allow-direct-references allows it)"
                for d in direct))
        key = spec.key() if not self.allow_builds else spec.key() + "-b"
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
        return (target / "cwtest-env.json").is_file() and os.path.lexists(target / "bin" / "python")

    def _loaded(self, target: Path, key: str, cached: bool, seconds: float) -> Environment:
        info = json.loads((target / "cwtest-env.json").read_text())
        env = Environment(target / "bin" / "python", "uv", key=key, cached=cached, seconds=seconds,
                          python_version=info.get("python_version", ""), root=target)
        if info.get("added"):
            env.notes.append("added by cwtest (the header brings no server): " + ", ".join(info["added"]))
        return env

    def _build(self, spec: EnvSpec, target: Path) -> None:
        """Build into a staging directory beside ``target`` in the build sandbox, then rename it."""
        uv = find_uv()
        python = find_python(uv, spec.requires_python, self.cache_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=self.cache_dir))
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-home.", dir=self.cache_dir))
        uv_cache = Path(tempfile.mkdtemp(prefix=f".{target.name}-uv.", dir=self.cache_dir)) if self.allow_builds \
            else uv_cache_dir(uv, self.cache_dir)
        try:
            build = BuildSandbox(self.layer, uv=Path(uv), python=python, staging=staging, home=scratch,
                                 uv_cache=uv_cache, sources=tuple(local_references(spec.dependencies)))
            done = build.run([uv, "venv", "--quiet", "--no-config", "--relocatable", f"--python={python}",
                              str(staging)], network=False, uv_cache=True)
            if done.returncode != 0:
                raise EnvError("python-unavailable", f"requires-python {spec.requires_python or python}: "
                                                     f"{_uv_error(done.stderr, 1)}")
            if spec.requirements():
                install = [uv, "pip", "install", "--quiet", "--no-config", "--link-mode=copy",
                           f"--python={staging / 'bin' / 'python'}"]
                install += [] if self.allow_builds else ["--no-build"]
                done = build.run([*install, "--", *spec.requirements()], network=True, uv_cache=True)
                if done.returncode != 0:
                    error = "uv could not install the dependencies: " + _redact(_uv_error(done.stderr))
                    if _needs_build(done.stderr, self.allow_builds):
                        raise EnvError("env-build", error + " (a dependency has no wheel for this platform)",
                                       unblock=BUILD_UNBLOCK)
                    raise EnvError("env-build", error)
                # Bytecode apart, without uv's cache or the network; -S: no .pth file runs.
                compile_bytecode(build, staging)
            version = pyvenv_version(staging)
            (staging / "cwtest-env.json").write_text(json.dumps({
                "format": ENV_FORMAT, "requires-python": spec.requires_python,
                "dependencies": list(spec.dependencies), "added": list(spec.added), "python_version": version,
                "builds": self.allow_builds,
            }, indent=2))
            os.chmod(staging, 0o755)  # readable by the workflow's unprivileged identity
            if target.exists():
                shutil.rmtree(target)  # a leftover without its marker file
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if self.allow_builds:
                shutil.rmtree(uv_cache, ignore_errors=True)


#: Host variables a build keeps: where the index is and how to reach it (uv's own, proxies, TLS
#: roots). Nothing else of the host's environment reaches uv or a build backend.
BUILD_ENV_PREFIXES = ("UV_INDEX", "UV_EXTRA_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS", "UV_NATIVE_TLS",
                      "UV_HTTP_TIMEOUT", "UV_CONCURRENT_", "UV_INSECURE_HOST", "UV_KEYRING_PROVIDER",
                      "UV_OFFLINE", "UV_HTTP_RETRIES")
BUILD_ENV_NAMES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
                   "http_proxy", "https_proxy", "all_proxy", "no_proxy", "LANG", "LC_ALL")
#: The longest a build may take (resolving, downloading, installing, compiling).
BUILD_TIMEOUT = 900.0


def build_env(home: Path, uv_cache: Path) -> dict[str, str]:
    """The build's environment: the host's index, TLS and proxy settings, and nothing else."""
    env = {name: value for name, value in os.environ.items()
           if name in BUILD_ENV_NAMES or name.startswith(BUILD_ENV_PREFIXES)}
    env.update({"HOME": str(home), "PATH": "/usr/bin:/bin", "TMPDIR": str(home), "UV_CACHE_DIR": str(uv_cache),
                "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1", "UV_NO_CONFIG": "1"})
    return env


def _local_sources(env: Mapping[str, str]) -> list[Path]:
    """Directories the index settings name on this machine (``file://`` indexes, find-links)."""
    found = []
    for name, value in env.items():
        if not name.startswith(("UV_INDEX", "UV_EXTRA_INDEX", "UV_DEFAULT_INDEX", "UV_FIND_LINKS")):
            continue
        for part in value.replace(",", " ").split():
            part = part.split("=", 1)[1] if "=" in part and "://" not in part.split("=", 1)[0] else part
            path = part[len("file://"):] if part.startswith("file://") else part
            if path.startswith("/") and os.path.exists(path):
                found.append(Path(path))
    return found


class BuildSandbox:
    """uv (or the new environment's python) in the build sandbox of ``layer`` (``cwtest.harness.policy``).

    Reads: uv, the base interpreter, the system, local index directories. Writes: the staging
    environment and (only while uv runs) uv's cache. HOME and TMPDIR: a private directory. The
    network only while uv installs. Under the audit layer nothing of this is enforced but the
    environment: the report's warning says the run is not contained.
    """

    def __init__(self, layer: Layer, *, uv: Path, python: Path, staging: Path, home: Path, uv_cache: Path,
                 sources: tuple[Path, ...] = ()) -> None:
        self.layer = layer
        self.sources = sources
        self.uv = uv
        self.python = python
        self.staging = staging
        self.home = home
        self.uv_cache = uv_cache
        self.env = build_env(home, uv_cache)
        self._program: Path | None = None
        if layer.seccomp:
            self._program = home / "build.bpf"
            self._program.write_bytes(seccomp.build_program())

    def policy(self, *, network: bool, uv_cache: bool) -> Policy:
        prefix = interpreter_prefix(self.python)
        read = [p for p in dict.fromkeys([Path(os.path.realpath(self.uv)), prefix, *_local_sources(self.env),
                                          *self.sources])
                if p.exists()]
        if self._program is not None and self.layer.name != "bubblewrap":
            read.append(self._program)  # the launcher reads it
        write = (self.staging, self.uv_cache) if uv_cache else (self.staging,)
        return Policy(read=tuple(read), write=write, private=(self.home,), network=network,
                      seccomp=self._program, env=self.env, cwd=self.home, tmpfs_size=1 << 30)

    def run(self, argv: list[str], *, network: bool, uv_cache: bool) -> subprocess.CompletedProcess[str]:
        return self.run_many([argv], network=network, uv_cache=uv_cache)[0]

    def run_many(self, argvs: list[list[str]], *, network: bool, uv_cache: bool) -> list[subprocess.CompletedProcess[str]]:
        """Each command in a sandbox of its own, all at once; their results in order."""
        policy = self.policy(network=network, uv_cache=uv_cache)
        started: list[tuple[list[str], subprocess.Popen[str]]] = []
        deadline = time.monotonic() + BUILD_TIMEOUT
        try:
            for argv in argvs:
                if self.layer.name == "bubblewrap" and argv[0] == str(self.uv):
                    argv = [os.path.realpath(self.uv), *argv[1:]]
                with command(self.layer, policy, argv) as cmd:
                    started.append((argv, subprocess.Popen(
                        cmd.argv, env=cmd.env, cwd=cmd.cwd, pass_fds=cmd.pass_fds, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, start_new_session=True)))
            results = []
            for argv, process in started:
                try:
                    out, err = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise EnvError("env-build", f"the environment build took more than {BUILD_TIMEOUT:g} s") from None
                results.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
            return results
        finally:
            for _argv, process in started:
                if process.poll() is None:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait()


def compile_bytecode(build: BuildSandbox, env: Path) -> None:
    """``python -I -S -m compileall`` over the environment's site-packages, one sandboxed process per
    core on its share of the top-level entries (compileall's own ``-j`` needs POSIX semaphores in
    ``/dev/shm``, which the sandbox does not let it write)."""
    entries = [p for site in sorted(env.glob("lib/python*/site-packages")) for p in sorted(site.iterdir())
               if p.is_dir() or p.suffix == ".py"]
    if not entries:
        return
    sizes = {p: sum(1 for _ in p.rglob("*.py")) if p.is_dir() else 1 for p in entries}
    groups: list[list[Path]] = [[] for _ in range(max(1, min(os.cpu_count() or 1, 8, len(entries))))]
    totals = [0] * len(groups)
    for path in sorted(entries, key=lambda p: -sizes[p]):
        index = totals.index(min(totals))
        groups[index].append(path)
        totals[index] += sizes[path]
    python = str(env / "bin" / "python")
    results = build.run_many([[python, "-I", "-S", "-m", "compileall", "-q", *map(str, group)] for group in groups],
                             network=False, uv_cache=False)
    for done in results:
        if done.returncode != 0:
            raise EnvError("env-build", "the dependencies could not be compiled to bytecode: "
                           + _redact(" ".join((done.stderr or done.stdout).split()[-40:]) or f"status {done.returncode}"))


def find_python(uv: str, requires_python: str | None, cwd: Path) -> Path:
    """The installed interpreter ``requires-python`` asks for (or cwtest's own), found by uv on the
    host without running anything of the workflow's; ``EnvError("python-unavailable")``."""
    if requires_python is None:
        return Path(os.path.realpath(sys.executable))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME")}
    env["UV_PYTHON_DOWNLOADS"] = "never"

    def find(search: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([uv, "python", "find", "--system", "--no-config", "--", requires_python],
                              env=search, capture_output=True, text=True, cwd=cwd, stdin=subprocess.DEVNULL)

    if os.geteuid() == 0:
        # As root, prefer an interpreter every user can reach: the workflow runs as another user.
        reachable = [d for d in env.get("PATH", "").split(":") if d and _searchable_by_all(d)]
        done = find({**env, "PATH": ":".join(reachable), "UV_PYTHON_INSTALL_DIR": "/nonexistent"})
        found = done.stdout.strip().splitlines()
        if done.returncode == 0 and found:
            return Path(found[-1])
    done = find(env)
    found = done.stdout.strip().splitlines()
    if done.returncode != 0 or not found:
        raise EnvError("python-unavailable", f"requires-python {requires_python}: {_uv_error(done.stderr, 1)}")
    return Path(found[-1])


def _searchable_by_all(directory: str) -> bool:
    """Every directory from / down to ``directory`` can be searched by any user."""
    path = Path(os.path.abspath(directory))
    for part in (path, *path.parents):
        try:
            if not os.stat(part).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def interpreter_prefix(python: Path) -> Path:
    """The installation an interpreter belongs to (``/usr`` for ``/usr/bin/python3.11``)."""
    return Path(os.path.realpath(python)).parent.parent


def uv_cache_dir(uv: str, cwd: Path) -> Path:
    """uv's cache directory (``UV_CACHE_DIR``, else its default under the user's cache)."""
    done = subprocess.run([uv, "cache", "dir", "--no-config"], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL)
    path = Path(done.stdout.strip() or os.path.expanduser("~/.cache/uv"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def pyvenv_version(env: Path) -> str:
    """The Python version an environment was made for, from its ``pyvenv.cfg`` (never by running it)."""
    try:
        text = (env / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    match = re.search(r"^\s*version(?:_info)?\s*=\s*([0-9][^\s]*)", text, re.MULTILINE)
    return match.group(1) if match else ""


#: What unblocks a workflow whose dependency comes only as an sdist.
BUILD_UNBLOCK = ("building it from source runs its build backend, which cwtest does only with --allow-builds "
                 "(in the build sandbox)")


def _needs_build(stderr: str, allow_builds: bool) -> bool:
    """uv failed only because building from source is off (``--no-build``): cwtest's choice."""
    return not allow_builds and re.search(r"no usable wheels|no-build|building source distributions is disabled|"
                                          r"source distribution", stderr, re.IGNORECASE) is not None


def _redact(text: str) -> str:
    """uv's message without any value of cwtest's own environment in it (an index URL's password...)."""
    for name, value in os.environ.items():
        if len(value) >= 8 and value in text and name not in ("PATH", "HOME", "PWD", "SHELL"):
            text = text.replace(value, f"<${name}>")
    return text
