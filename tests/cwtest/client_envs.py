"""Virtual environments for the real client, built with uv and cached, for the protocol tests.

Each environment holds one pinned ``codewords-client`` with the vendor SDKs its patches target,
or the pinned dependencies of a fixture workflow's PEP 723 header. An environment is keyed by
the hash of its requirements and the interpreter, built once into a temporary directory and then
renamed into place, so concurrent sessions never see half an environment, and a later session
reuses it (uv's own cache makes even a rebuild take seconds).

Nothing here downloads a Python: ``UV_PYTHON_DOWNLOADS=never`` and the running interpreter.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from uv import find_uv_bin

#: Vendor SDKs the client patches. firecrawl-py stays below 3: from 3.x on, ``FirecrawlApp`` is a
#: new class without ``_prepare_headers``, and both client versions then fail to patch it (they log
#: "Failed to patch FirecrawlApp" and the SDK would call api.firecrawl.dev).
SDK_PINS = ("openai==3.57.0", "anthropic==2.14.0", "firecrawl-py==2.16.5", "redis==8.1.0")
#: Client versions the protocol tests run against.
CLIENT_VERSIONS = ("0.3.4", "0.4.11")
#: What 0.4.11's ``SubAgent`` imports (its ``agent`` extra asks for openai-agents>=0.13.4 and
#: litellm; litellm only serves model names with a "/", so it is left out; mcp is what openai-agents
#: speaks MCP with, pinned so the handshake the tests see stays the same). 0.3.4 has no SubAgent.
AGENT_PINS = ("openai-agents==0.24.0", "mcp==2.3.0")
#: Needed to import cwtest itself inside a client environment (the FastAPI-patch test).
CWTEST_RUNTIME_DEPS = ("jsonschema==4.26.0", "starlette", "uvicorn")


def cache_root() -> Path:
    base = os.environ.get("CWKIT_TEST_ENVS") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cwkit-tests", "envs"
    )
    return Path(base)


def _python_of(env: Path) -> Path:
    return env / "bin" / "python"


def build_env(requirements: list[str] | tuple[str, ...]) -> Path:
    """The python of an environment holding exactly these requirements (built on first use)."""
    spec = "\n".join(sorted(requirements)) + f"\npython={sys.version_info[:3]}"
    key = hashlib.sha256(spec.encode()).hexdigest()[:16]
    target = cache_root() / key
    if _python_of(target).exists() and (target / "cwkit-requirements.txt").exists():
        return _python_of(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    uv = find_uv_bin()
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    staging = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=target.parent))
    try:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(staging)], check=True, env=env,
                       capture_output=True, text=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(_python_of(staging)), *requirements],
                       check=True, env=env, capture_output=True, text=True)
        (staging / "cwkit-requirements.txt").write_text(spec)
        try:
            staging.rename(target)
        except OSError:
            # Another session finished first; theirs is as good as ours.
            shutil.rmtree(staging, ignore_errors=True)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"uv failed to build {requirements}: {exc.stderr[-2000:]}") from None
    # The venv's interpreter path is absolute in pyvenv.cfg, so the renamed directory works as is.
    return _python_of(target)


def client_requirements(version: str) -> list[str]:
    agent = AGENT_PINS if tuple(int(p) for p in version.split(".")) >= (0, 4) else ()
    return [f"codewords-client=={version}", *SDK_PINS, *agent, *CWTEST_RUNTIME_DEPS]


_HEADER = re.compile(r"(?m)^# /// script\s*$\n(?P<body>(?:^#(?: .*)?$\n)+?)^# ///\s*$")


def script_dependencies(path: Path) -> list[str]:
    """The ``dependencies`` of a workflow's PEP 723 header."""
    match = _HEADER.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise ValueError(f"{path}: no PEP 723 header")
    toml = "".join(line[2:] if line.startswith("# ") else line[1:] for line in match["body"].splitlines(True))
    return list(tomllib.loads(toml).get("dependencies", []))
