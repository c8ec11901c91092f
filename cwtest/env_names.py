"""Which environment variable names a workflow's header may declare: an allow-list.

A name the header declares gets a value in the workflow's process (``cwtest.workflow_env``). The
value is set by the workflow's own process once it runs (the sandbox's child), never in the
environment of ``bwrap``, of the launcher or of any helper; still, a name that steers a dynamic
loader, an interpreter, a shell, TLS libraries or glibc has no business in a workflow's header:
``LD_PRELOAD=/path/lib.so`` in the environment of a dynamically linked program runs the library's
constructor before that program's first instruction (the security review did exactly that to
bwrap). Such names are refused with a ``refused-env-var`` finding naming them, and never set.

A name passes when it is a plain identifier (letters, digits, ``_``, not starting with a digit, at
most 128 characters) and is none of ``REFUSED_NAMES`` and starts with none of
``REFUSED_PREFIXES`` (case-insensitive: a lower-case ``ld_preload`` is not honoured by the loader,
but has no business here either). The names cwtest sets itself (``HOME``, ``TMPDIR``) are refused
too: the workflow's HOME is always its private directory.

Standard library only; imported by the harness and available to any code that accepts names.
"""

from __future__ import annotations

import re

#: Prefixes of names that steer a loader, an interpreter, glibc, an installer or cwtest itself.
REFUSED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "GLIBC_", "MALLOC_", "UV_", "PIP_", "CWTEST_", "BASH_FUNC_",
                    "GCONV", "OPENSSL_", "PERL5", "PERLLIB", "RUBY", "NODE_", "JAVA_", "_JAVA_", "GIO_", "GTK_")
#: Names that steer a shell, the resolver, TLS key logging, locale and charset loading, or that
#: cwtest sets itself.
REFUSED_NAMES = frozenset({
    "PATH", "HOME", "TMPDIR", "TMP", "TEMP", "SHELL", "ENV", "BASH_ENV", "IFS", "PS4", "CDPATH", "SHELLOPTS",
    "BASHOPTS", "LOCPATH", "NLSPATH", "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN", "SSLKEYLOGFILE", "TZDIR",
    "VIRTUAL_ENV", "CONDA_PREFIX",
})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def refused_env_name(name: str) -> str | None:
    """Why ``name`` may not be declared (a one-line reason), or None when it may."""
    if not _IDENTIFIER.match(name):
        shown = name if len(name) <= 60 else name[:60] + "..."
        return f"{shown!r} is not a plain variable name (letters, digits and _, at most 128 characters)"
    upper = name.upper()
    if upper in REFUSED_NAMES:
        return f"{name} is set by cwtest or steers the shell, the resolver or the locale"
    prefix = next((p for p in REFUSED_PREFIXES if upper.startswith(p)), None)
    if prefix is not None:
        return f"{name} ({prefix}*) steers a dynamic loader, an interpreter, glibc, an installer or cwtest"
    return None


def split_env_names(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The names that pass, in order, and the refused ones with their reasons."""
    allowed: list[str] = []
    refused: dict[str, str] = {}
    for name in names:
        reason = refused_env_name(name)
        if reason is None:
            allowed.append(name)
        else:
            refused[name] = reason
    return allowed, refused
