"""Generate rules/distributions/requires.toml: what each distribution installs with it (CW402).

    python scripts/generate_requirements.py [-- extra uv arguments, e.g. --index-url ...]

For each seed distribution (and each extra workflows declare), ``uv pip compile`` resolves it
alone for the CodeWords sandbox (CPython 3.11 on x86_64 Linux) and the file records every
other distribution of that resolution: its dependency closure, hard requirements and theirs,
with environment markers and the declared extras applied by uv, not by us. CW402 then counts an
import as installed when a declared distribution's closure holds it (`pydantic` and
`starlette` with `fastapi`, `numpy` with `pandas`), the same way for every distribution.

Each seed is resolved twice: as of today and as of a year ago (``--exclude-newer``), and the
closure is the union: a workflow pinned to last year's release (pandas 2.x, which still
required pytz) is covered as well as one on the newest.

The seeds are the distributions ``cwlint.analysis.distributions`` maps imports to, the
codewords-client extras, and the distributions workflows commonly declare (below). A seed that
does not resolve is listed under ``[unresolved]`` with uv's first error line. The closure is
those two resolutions'; a release pinned from before them may require less, which matters only for a
requirement added recently (rare, and a miss rather than a false alarm: CW402 then reports).
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cwlint.analysis.distributions import IMPORT_TO_DISTRIBUTIONS  # noqa: E402
from cwlint.header import normalize_distribution  # noqa: E402

OUT = ROOT / "rules" / "distributions" / "requires.toml"
PYTHON = "3.11"
PLATFORM = "x86_64-unknown-linux-gnu"

#: Distributions workflows declare besides those the import map names, and the extras they use.
COMMON = (
    "codewords-client", "fastapi", "uvicorn", "pydantic", "httpx", "requests", "aiohttp", "starlette",
    "openai", "anthropic", "google-genai", "google-generativeai", "groq", "cohere", "mistralai",
    "langchain", "langchain-core", "langchain-openai", "langchain-community", "langgraph", "litellm",
    "tiktoken", "pandas", "numpy", "openpyxl", "xlsxwriter", "lxml", "html5lib", "markdownify",
    "pypdf", "pdfplumber", "reportlab", "jinja2", "boto3", "botocore", "google-cloud-storage",
    "google-cloud-bigquery", "google-cloud-firestore", "google-auth", "google-auth-oauthlib",
    "gspread", "slack-sdk", "slack-bolt", "tweepy", "praw", "stripe", "twilio", "supabase",
    "firecrawl-py", "composio", "perplexityai", "replicate", "linkup-sdk", "openai-agents",
    "tenacity", "backoff", "pytz", "python-dateutil", "tzdata", "orjson", "ujson", "redis",
    "structlog", "loguru", "feedparser", "playwright", "selenium", "psycopg2-binary", "psycopg",
    "asyncpg", "sqlalchemy", "motor", "aiofiles", "bcrypt", "passlib", "cryptography",
)
EXTRAS = (
    "codewords-client[openai]", "codewords-client[anthropic]", "codewords-client[firecrawl]",
    "codewords-client[perplexityai]", "codewords-client[composio]", "codewords-client[replicate]",
    "codewords-client[linkup]", "codewords-client[agent]", "codewords-client[all]",
    "fastapi[standard]", "pydantic[email]", "httpx[http2]", "httpx[socks]", "uvicorn[standard]",
)


def seeds() -> list[str]:
    names = {normalize_distribution(d) for targets in IMPORT_TO_DISTRIBUTIONS.values() for d in targets}
    names.update(normalize_distribution(d) for d in COMMON)
    return sorted(names) + list(EXTRAS)


YEAR_AGO = (datetime.date.today() - datetime.timedelta(days=365)).isoformat()


def resolve_both(seed: str, uv_args: list[str]) -> tuple[str | None, list[str], str | None]:
    """Today's resolution united with a year-old one (which may fail: the seed is newer)."""
    version, others, error = resolve(seed, uv_args)
    if error is not None:
        return version, others, error
    old_version, old_others, old_error = resolve(seed, [*uv_args, "--exclude-newer", YEAR_AGO])
    if old_error is None and old_version != version:
        version = f"{old_version} and {version}"
    return version, sorted(set(others) | set(old_others)), None


def resolve(seed: str, uv_args: list[str]) -> tuple[str | None, list[str], str | None]:
    """(the seed's version, the other distributions of its resolution, error line)."""
    command = [
        sys.executable, "-m", "uv", "pip", "compile", "-", "--python-version", PYTHON,
        "--python-platform", PLATFORM, "--no-header", "--no-annotate", "--quiet", *uv_args,
    ]
    done = subprocess.run(command, input=seed + "\n", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        return None, [], " ".join(lines[:2]) if lines else f"uv exited {done.returncode}"
    base = normalize_distribution(seed.split("[")[0])
    version = None
    others: list[str] = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "==" not in line:
            continue
        name, _, pinned = line.partition("==")
        name = normalize_distribution(name.split("[")[0])
        if name == base:
            version = pinned.split(";")[0].strip()
        else:
            others.append(name)
    return version, sorted(set(others)), None


def uv_version() -> str:
    done = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip() or "uv"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("uv_args", nargs="*", help="passed to `uv pip compile` (after --)")
    args = parser.parse_args()
    lines = [
        "# Generated by scripts/generate_requirements.py: do not edit by hand, re-run it.",
        "# What each distribution installs with it (its dependency closure), resolved alone by",
        f"# `uv pip compile` for CPython {PYTHON} on {PLATFORM}, as of the date below and a year earlier",
        "# (the union of both). Read by CW402 (undeclared-dependency).",
        "",
        "[source]",
        f"generator = {_quote('scripts/generate_requirements.py')}",
        f"resolver = {_quote(uv_version() + ' pip compile')}",
        f"python = {_quote(PYTHON)}",
        f"platform = {_quote(PLATFORM)}",
        f"date = {_quote(datetime.date.today().isoformat())}",
        f"also_as_of = {_quote(YEAR_AGO)}",
        "",
    ]
    closure_lines = ["[closure]"]
    unresolved_lines = ["[unresolved]"]
    for seed in seeds():
        version, others, error = resolve_both(seed, args.uv_args)
        if error is not None:
            unresolved_lines.append(f"{_quote(seed)} = {_quote(error[:200])}")
            print(f"unresolved {seed}: {error}", file=sys.stderr)
            continue
        key = seed if "[" in seed else normalize_distribution(seed)
        items = ", ".join(_quote(name) for name in others)
        closure_lines.append(f"{_quote(key)} = {{ version = {_quote(version or '?')}, requires = [{items}] }}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines + closure_lines + [""] + unresolved_lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(closure_lines) - 1} resolved, {len(unresolved_lines) - 1} unresolved")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
