"""What a test needs from the machine: a system tool, a sandbox layer, a memory cgroup.

Every test that needs more than the Python packages of the ``test`` extra asks here, at its
start (or in its fixture)::

    from needs import need_tool, need_redis, need_layer, need_memory_cgroup

    need_tool("git")               # -> "/usr/bin/git"
    need_redis()                   # redis-server and openssl (the simulator's TLS Redis)
    need_layer("bubblewrap")       # -> the Layer; also "landlock" and "seccomp"
    need_memory_cgroup()           # -> the probe's CgroupSupport

When the machine lacks it, the test is **skipped** with one line that says what is missing and
the command that installs it (``apt-get install bubblewrap``), so that the README's test command
passes on a fresh machine. Under ``CI=true`` the same line **fails** the test instead: the CI
machines install everything (``.ci/run``), and a missing piece there is a broken CI, never a
reason to pass. Nothing here decides *whether* a behaviour is right; a test that runs asserts
what it always asserted.

This module sits in ``tests/`` (put on ``sys.path`` by ``tests/conftest.py``), so that the
harness, cwtest and plugin test directories share one copy.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from cwtest.harness.cgroup import CgroupSupport
    from cwtest.harness.sandbox import Layer

#: The Debian package, and so the install line, of each system tool a test may need.
PACKAGES = {
    "bwrap": "bubblewrap",
    "redis-server": "redis-server",
    "openssl": "openssl",
    "git": "git",
}

_CGROUP_HOWTO = ("run as root with a writable cgroup v1 memory hierarchy, or delegate a cgroup v2 subtree with "
                 "the memory controller (e.g. `systemd-run --user --scope -p Delegate=yes pytest ...`)")


def in_ci() -> bool:
    """``CI`` set to a true value (GitHub Actions and ``.ci/run`` set ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(what: str, fix: str) -> NoReturn:
    """Skip the test (fail it under ``CI=true``): ``needs WHAT (FIX)``."""
    line = f"needs {what} ({fix})"
    if in_ci():
        pytest.fail(f"{line}: CI=true, and the CI machines must have it (.ci/run installs it)", pytrace=False)
    pytest.skip(line)


def install_line(tool: str) -> str:
    return f"apt-get install {PACKAGES.get(tool, tool)}"


def need_tool(name: str) -> str:
    """The path of the executable ``name`` on PATH."""
    path = shutil.which(name)
    if path is None:
        missing(f"`{name}`, which is not installed", install_line(name))
    return path


def need_redis() -> None:
    """What the simulator's Redis (``redis_client()``) runs on: redis-server, and openssl for its certificate."""
    need_tool("redis-server")
    need_tool("openssl")


def need_layer(name: str) -> Layer:
    """The sandbox layer ``name`` working here: ``bubblewrap``, ``landlock`` or ``seccomp``.

    ``bubblewrap`` and ``landlock`` return that layer forced (``choose(force=name)``); ``seccomp``
    returns the strongest layer, which then loads seccomp.
    """
    from cwtest.harness.sandbox import choose, probe

    found = probe()
    if name == "bubblewrap":
        if found.bwrap is None:
            if shutil.which("bwrap") is None:
                missing("bubblewrap (`bwrap`), which is not installed", install_line("bwrap"))
            missing(f"a working bubblewrap: {found.bwrap_error}",
                    "allow unprivileged user namespaces: `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
                    " or `sysctl -w kernel.unprivileged_userns_clone=1`")
        return choose("auto", force="bubblewrap", found=found)
    if name == "landlock":
        if found.landlock_abi < 1:
            missing("Landlock, which this kernel does not offer", "Linux 5.13 or later with `lsm=...,landlock`")
        return choose("auto", force="landlock", found=found)
    if name == "seccomp":
        if found.seccomp_error is not None:
            missing(f"seccomp programs: {found.seccomp_error}", "apt-get install libseccomp2")
        return choose("auto", found=found)
    raise ValueError(f"unknown layer {name!r} (bubblewrap, landlock or seccomp)")


def need_memory_cgroup() -> CgroupSupport:
    """Where the harness creates each workflow's memory cgroup (the probe's answer)."""
    from cwtest.harness.sandbox import probe

    support = probe().cgroup
    if support is None or not support.available:
        reason = support.reason if support is not None else "not probed"
        missing(f"a memory cgroup cwtest may create ({reason})", _CGROUP_HOWTO)
    return support
