"""CW203 against ruff's flake8-async rules, the anchor for blocking calls in async code.

ruff (pinned in the `test` extra) reports direct calls of about a dozen APIs inside `async def`:
ASYNC210 (sync HTTP), ASYNC220/221/222 (subprocess, os.system/popen, os.wait), ASYNC230
(`open`), ASYNC251 (`time.sleep`). Every one of its hits on the fixtures and on a generated
workflow must be a CW203 finding on the same line, or be explained below (stale
explanations fail). The generated workflow also holds what ruff does not see (database
drivers, vendor SDKs, CPU-heavy calls, sync clients' methods, the file's own helpers), and
the test checks that CW203 reports those: the part of the issue ruff cannot anchor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

from cwlint.config import Settings
from cwlint.engine import lint_source
from cwlint.source import SourceFile, read

ROOT = Path(__file__).resolve().parent.parent
SELECT = "ASYNC210,ASYNC212,ASYNC220,ASYNC221,ASYNC222,ASYNC230,ASYNC251"

#: (fixture, line) or ("generated", line) -> why only ruff reports it.
ALLOWED: dict[tuple[str, int], str] = {}

GENERATED = textwrap.dedent(
    '''
    import os
    import subprocess
    import time
    import urllib.request
    from contextlib import contextmanager

    import bcrypt
    import boto3
    import httpx
    import pandas as pd
    import pymysql
    import requests
    from composio import Composio
    from firecrawl import FirecrawlApp
    from openai import OpenAI
    from PIL import Image

    composio = Composio()
    firecrawl = FirecrawlApp(api_key=os.environ["FIRECRAWL_API_KEY"])
    s3 = boto3.client("s3")


    @contextmanager
    def db():
        conn = pymysql.connect(host="db", user="app", password=os.environ["DB_PASSWORD"], database="app")
        try:
            yield conn.cursor()
        finally:
            conn.close()


    def send_digest(to: str) -> None:
        composio.tools.execute("GMAIL_SEND_EMAIL", user_id="me", arguments={"to": to})


    async def ruff_sees_these(url: str) -> None:
        requests.get(url, timeout=10)  # RUFF
        httpx.post(url)  # RUFF
        urllib.request.urlopen(url)  # RUFF
        time.sleep(1)  # RUFF
        subprocess.run(["ls"], check=True)  # RUFF
        os.system("ls")  # RUFF
        with open("/tmp/out.txt", "w") as fh:  # RUFF
            fh.write(url)


    async def only_cwlint_sees_these(url: str, email: str, password: str) -> None:
        with db() as cur:  # OURS
            cur.execute("SELECT 1")
        send_digest(email)  # OURS
        firecrawl.scrape_url(url)  # OURS
        s3.put_object(Bucket="b", Key="k", Body=b"")  # OURS
        OpenAI().chat.completions.create(model="gpt-4o-mini", messages=[])  # OURS
        bcrypt.hashpw(password.encode(), bcrypt.gensalt())  # OURS
        pd.read_csv(url)  # OURS
        Image.open("/tmp/a.png")  # OURS
    '''
).lstrip()


def ruff_lines(paths: list[Path]) -> dict[tuple[str, int], list[str]]:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--preview", "--select", SELECT,
         "--output-format", "json", *map(str, paths)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    hits: dict[tuple[str, int], list[str]] = defaultdict(list)
    for item in json.loads(done.stdout or "[]"):
        hits[(str(Path(item["filename"]).resolve()), item["location"]["row"])].append(item["code"])
    return dict(hits)


def cw203_lines(path: Path, text: str | None = None) -> set[int]:
    source = SourceFile(str(path), text) if text is not None else read(str(path))
    return {d.start.line for d in lint_source(source, Settings(select=["CW203"]))}


def test_fixtures_agree_with_ruff_async() -> None:
    fixtures = sorted(p for p in (ROOT / "fixtures").rglob("*.py") if "hostile" not in p.parts)
    problems = []
    for (file, line), codes in sorted(ruff_lines(fixtures).items()):
        path = Path(file)
        if line in cw203_lines(path):
            continue
        key = (str(path.relative_to(ROOT / "fixtures")), line)
        if key not in ALLOWED:
            problems.append(f"{key}: ruff {codes}, no CW203 finding")
    assert not problems, "\n".join(problems)


def test_generated_workflow_ruff_is_a_subset(tmp_path: Path) -> None:
    path = tmp_path / "blocking_workflow.py"
    path.write_text(GENERATED)
    hits = ruff_lines([path])
    ours = cw203_lines(path, GENERATED)
    lines = GENERATED.splitlines()
    marked_ruff = {n for n, text in enumerate(lines, 1) if text.endswith("# RUFF")}
    marked_ours = {n for n, text in enumerate(lines, 1) if text.endswith("# OURS")}
    ruff_hit_lines = {line for (_, line) in hits}
    assert ruff_hit_lines == marked_ruff, (sorted(ruff_hit_lines), sorted(marked_ruff))
    assert marked_ruff <= ours, sorted(marked_ruff - ours)
    # What ruff's ASYNC rules do not see, CW203 does; and nothing else.
    assert not ruff_hit_lines & marked_ours
    assert ours == marked_ruff | marked_ours, (sorted(ours - marked_ruff - marked_ours), sorted(marked_ours - ours))
