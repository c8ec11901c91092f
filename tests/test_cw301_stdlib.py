"""CW301 (hardcoded-secret) on real code that is full of look-alikes: a fixed sample of 100
standard library modules, chosen for the secret-shaped names and strings they hold (``hmac``,
``secrets``, ``getpass``, ``netrc``, ``smtplib``, ``imaplib``, ``urllib.request``'s password
managers, ``ssl``, ``uuid``, test vectors in ``hashlib``...) and filled with ordinary modules.
None of them holds a credential, so every finding is a false positive.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from cwlint.config import Selection, Settings
from cwlint.engine import lint_source, selection_for
from cwlint.source import read

SAMPLE = (
    # names and strings that look like secrets
    "base64", "configparser", "crypt", "ftplib", "getpass", "hashlib", "hmac",
    "http.client", "http.cookiejar", "http.cookies", "http.server", "imaplib", "mailbox",
    "netrc", "nntplib", "poplib", "secrets", "smtplib", "ssl", "telnetlib", "urllib.parse",
    "urllib.request", "uuid", "xmlrpc.client", "xmlrpc.server", "email.utils",
    "email.message", "email.header", "email._header_value_parser", "logging.handlers",
    "multiprocessing.connection", "sqlite3.dump", "tokenize", "token", "keyword",
    "random", "string", "zipfile", "tarfile", "shlex", "os", "subprocess", "json.encoder",
    "json.decoder", "pickle", "copyreg", "locale", "gettext", "argparse",
    # ordinary modules
    "abc", "ast", "asyncio.base_events", "asyncio.streams", "bisect", "calendar", "cgi",
    "cmd", "codecs", "collections", "colorsys", "contextlib", "copy", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "dis", "doctest", "enum", "filecmp", "fnmatch",
    "fractions", "functools", "glob", "gzip", "heapq", "html", "html.parser", "inspect",
    "ipaddress", "linecache", "mimetypes", "numbers", "operator", "pathlib", "pdb",
    "pprint", "queue", "quopri", "re", "sched", "selectors", "shutil", "socket",
    "statistics", "textwrap", "threading", "traceback", "typing",
)


STDLIB = Path(sysconfig.get_paths()["stdlib"])


def _path(module: str) -> Path:
    """The module's source file (frozen modules such as ``os`` and ``codecs`` have one too)."""
    base = STDLIB.joinpath(*module.split("."))
    path = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    assert path.is_file(), module
    return path


def test_sample_is_100_distinct_modules() -> None:
    assert len(SAMPLE) == 100
    assert len(set(SAMPLE)) == 100


@pytest.fixture(scope="module")
def selection() -> Selection:
    return selection_for(Settings(select=["CW301"]))


@pytest.mark.parametrize("module", SAMPLE)
def test_cw301_reports_nothing_on_stdlib(module: str, selection: Selection) -> None:
    source = read(str(_path(module)))
    findings = [
        (d.start.line, d.start.column, d.message)
        for d in lint_source(source, selection.settings, selection)
        if d.code == "CW301"
    ]
    assert findings == []


def test_cw301_still_fires_on_a_stdlib_module_with_a_key_added(selection: Selection) -> None:
    """The sample proves nothing if the rule never runs: the same file with one fake key."""
    source = read(str(_path("smtplib")))
    source.text += '\nSMTP_PASSWORD = "Sup3rS3cret!2024"\n'
    codes = [d.code for d in lint_source(source, selection.settings, selection)]
    assert codes == ["CW301"]
