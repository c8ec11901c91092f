"""The result cache (.cwlint_cache/), worker processes and lazy imports on a warm run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cwlint import runner
from cwlint.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3
BAD = 'async def f(client, url):\n    return await client.run(service_id="firecrawl", data={"url": url})\n'
LEAKY = f'''# /// script
# dependencies = ["codewords-client==0.3.4"]
# [tool.env-checker]
# env_vars = []
# ///
OPENAI_API_KEY = "{SECRET}"
'''
WITH_LOCAL_IMPORT = '# /// script\n# dependencies = ["codewords-client==0.3.4"]\n# ///\nfrom enrich_helpers import normalize_domain\n'


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("PRE_COMMIT", raising=False)
    monkeypatch.delenv("CWLINT_NO_CACHE", raising=False)
    monkeypatch.delenv("CWLINT_CACHE_DIR", raising=False)
    monkeypatch.delenv("CWLINT_TIMINGS", raising=False)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def corpus(folder: Path, copies: int = 1) -> list[Path]:
    """Fixture workflows (with findings, fixes and secrets among them), each copy distinct."""
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for source in sorted(FIXTURES.glob("cw*/*.py")):
        for copy in range(copies):
            target = folder / f"{source.parent.name}_{source.stem}_{copy}.py"
            target.write_text(source.read_text(encoding="utf-8") + f"\n# copy {copy}\n", encoding="utf-8")
            made.append(target)
    return made


def entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / ".cwlint_cache").glob("*/*/*.json"))


def forbid_linting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, path, data):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{path} was linted, not replayed from the cache")

    monkeypatch.setattr(runner._FileLinter, "lint", refuse)


@pytest.mark.parametrize("fmt", ["full", "concise", "json", "sarif", "github", "junit"])
def test_warm_run_replays_exactly(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    corpus(tmp_path / "wf")
    cold = run(["wf", "--output-format", fmt, "--jobs", "1"], capsys)
    assert cold[0] == 1 and entries(tmp_path)
    forbid_linting(monkeypatch)
    warm = run(["wf", "--output-format", fmt, "--jobs", "1"], capsys)
    assert warm == cold
    if fmt == "json":  # fixes and their edits come back too
        assert any(record["fix"] and record["fix"]["edits"] for record in json.loads(warm[1]))
    if fmt == "full":
        assert "fixable with the `--fix` option" in warm[1]


def test_statistics_and_unsafe_hints_identical_when_warm(tmp_path: Path, capsys, monkeypatch) -> None:
    corpus(tmp_path / "wf")
    cold = run(["wf", "--statistics", "--unsafe-fixes"], capsys)
    forbid_linting(monkeypatch)
    assert run(["wf", "--statistics", "--unsafe-fixes"], capsys) == cold


def test_no_cache_neither_reads_nor_writes(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    code, out, _ = run(["bad.py", "--no-cache"], capsys)
    assert code == 1 and "CW101" in out
    assert not (tmp_path / ".cwlint_cache").exists()
    # A poisoned entry claiming the file is clean is not read with --no-cache...
    run(["bad.py"], capsys)
    [entry] = entries(tmp_path)
    data = json.loads(entry.read_text())
    data["diagnostics"] = []
    entry.write_text(json.dumps(data))
    assert run(["bad.py", "--no-cache"], capsys)[0] == 1
    # ...and is what a cached run replays (which shows the cache is trusted when valid).
    assert run(["bad.py"], capsys)[0] == 0


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"\x00\xff garbage \x9c"), id="corrupt"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), id="truncated"),
        pytest.param(lambda p: p.write_text(p.read_text().replace('"version":"', '"version":"0.0.0-foreign')), id="foreign-version"),
        pytest.param(lambda p: p.write_text(p.read_text().replace('"format":1', '"format":99')), id="foreign-format"),
        pytest.param(lambda p: p.write_text('{"format": 1, "diagnostics": "nope"}'), id="wrong-shape"),
        pytest.param(lambda p: p.write_text("[]"), id="not-an-object"),
        pytest.param(lambda p: (p.unlink(), p.mkdir()), id="unreadable"),
    ],
)
def test_damaged_entry_is_ignored_and_rebuilt(tmp_path: Path, capsys, damage) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    cold = run(["bad.py", "--output-format", "json"], capsys)
    [entry] = entries(tmp_path)
    damage(entry)
    assert run(["bad.py", "--output-format", "json"], capsys) == cold
    if entry.is_file():  # rebuilt in place
        assert json.loads(entry.read_text())["diagnostics"][0]["c"] == "CW101"


def test_entry_with_bad_records_is_linted_again(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    cold = run(["bad.py", "--output-format", "json"], capsys)
    [entry] = entries(tmp_path)
    data = json.loads(entry.read_text())
    data["diagnostics"] = [{"c": "CW101"}]  # valid envelope, broken record
    entry.write_text(json.dumps(data))
    assert run(["bad.py", "--output-format", "json"], capsys) == cold


@pytest.mark.parametrize("broken", ["rules-garbage", "rules-foreign", "cache-is-a-file", "run-dir-is-a-file"])
def test_broken_cache_directory_is_never_fatal(tmp_path: Path, capsys, broken: str) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    cold = run(["bad.py", "--output-format", "concise"], capsys)
    cache = tmp_path / ".cwlint_cache"
    [rules] = cache.glob("*/rules.json")
    if broken == "rules-garbage":
        rules.write_text("{not json")
    elif broken == "rules-foreign":
        rules.write_text(json.dumps({"format": 1, "code_key": "other", "rules": {}}))
    elif broken == "cache-is-a-file":
        shutil.rmtree(cache)
        cache.write_text("not a directory")
    else:
        [run_dir] = [p for p in rules.parent.iterdir() if p.is_dir()]
        shutil.rmtree(run_dir)
        run_dir.write_text("not a directory")
    for _ in range(2):
        code, out, err = run(["bad.py", "--output-format", "concise"], capsys)
        assert (code, out) == cold[:2] and "Traceback" not in err and err == ""


def test_unwritable_cache_directory(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "bad.py").write_text(BAD)

    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("cwlint.cache.write_atomic", fail)  # root ignores chmod; fail the write itself
    code, out, err = run(["bad.py", "--output-format", "concise"], capsys)
    assert code == 1 and "CW101" in out and err == ""
    assert entries(tmp_path) == []


def test_changed_file_content_settings_and_rules_miss(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.py"
    path.write_text(BAD)
    assert run(["bad.py"], capsys)[0] == 1
    path.write_text(BAD.replace("data=", "inputs="))
    assert run(["bad.py"], capsys)[0] == 0
    path.write_text(BAD)
    assert run(["bad.py", "--ignore", "CW101"], capsys)[0] == 0
    (tmp_path / "pyproject.toml").write_text('[tool.cwlint]\nper-file-ignores = { "bad.py" = ["CW101"] }\n')
    assert run(["bad.py"], capsys)[0] == 0
    (tmp_path / "pyproject.toml").write_text("[tool.cwlint]\n")
    assert run(["bad.py"], capsys)[0] == 1


def test_new_sibling_module_invalidates_files_that_import_it(tmp_path: Path, capsys) -> None:
    (tmp_path / "wf.py").write_text(WITH_LOCAL_IMPORT)
    (tmp_path / "other.py").write_text(BAD)
    code, out, _ = run([".", "--output-format", "concise"], capsys)
    assert "wf.py:4:6: CW402" in out  # enrich_helpers is not declared...
    (tmp_path / "enrich_helpers.py").write_text("def normalize_domain(url):\n    return url\n")
    code, out, _ = run(["wf.py", "--output-format", "concise"], capsys)
    assert code == 0, out  # ...until it exists beside the workflow


def test_a_module_beside_the_files_invalidates_only_the_files_that_name_it(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "enrich_helpers.py").write_text("def normalize_domain(url):\n    return url\n")
    (tmp_path / "wf.py").write_text(WITH_LOCAL_IMPORT)
    (tmp_path / "other.py").write_text(BAD)
    assert run([".", "--output-format", "concise"], capsys)[0] == 1  # other.py has a finding
    calls: list[str] = []
    original = runner._FileLinter.lint

    def spy(self, path, data):  # type: ignore[no-untyped-def]
        calls.append(Path(path).name)
        return original(self, path, data)

    monkeypatch.setattr(runner._FileLinter, "lint", spy)
    (tmp_path / "unrelated.py").write_text("x = 1\n")  # named by no file: every entry still holds
    run(["wf.py", "other.py"], capsys)
    assert calls == []
    (tmp_path / "enrich_helpers.py").unlink()  # named by wf.py: its entry no longer holds
    code, out, _ = run(["wf.py", "other.py", "--output-format", "concise"], capsys)
    assert calls == ["wf.py"] and "wf.py:4:6: CW402" in out


def test_cache_files_hold_no_secret(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "leak.py").write_text(LEAKY)
    cold = run(["leak.py", "--output-format", "json", "--unsafe-fixes"], capsys)
    assert cold[0] == 1 and "CW301" in cold[1]
    for path in (tmp_path / ".cwlint_cache").rglob("*"):
        if path.is_file():
            assert SECRET[:12] not in path.read_text(errors="replace")
    forbid_linting(monkeypatch)
    warm = run(["leak.py", "--output-format", "json", "--unsafe-fixes"], capsys)
    assert warm == cold
    full = run(["leak.py"], capsys)[1]
    assert SECRET[:8] not in full and "sk-p****" in full  # known secrets still masked in frames


def test_fix_uses_the_cache_only_for_files_without_fixes(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    (tmp_path / "ok.py").write_text(BAD.replace("data=", "inputs="))
    assert run(["."], capsys)[0] == 1
    calls: list[str] = []
    original = runner._FileLinter.lint

    def spy(self, path, data):  # type: ignore[no-untyped-def]
        calls.append(Path(path).name)
        return original(self, path, data)

    monkeypatch.setattr(runner._FileLinter, "lint", spy)
    code, out, _ = run([".", "--fix"], capsys)
    assert code == 0 and "1 fixed, 0 remaining" in out
    assert calls == ["bad.py"]  # ok.py replayed: nothing to fix
    assert (tmp_path / "bad.py").read_text() == BAD.replace("data=", "inputs=")
    calls.clear()
    assert run(["."], capsys)[0] == 0
    assert calls == []  # the fixed file's new content was cached by --fix


def test_two_processes_at_once_share_the_cache(tmp_path: Path) -> None:
    corpus(tmp_path / "wf", copies=2)
    command = [sys.executable, "-m", "cwlint", "wf", "--output-format", "json", "--jobs", "1"]
    reference = subprocess.run([*command, "--no-cache"], cwd=tmp_path, capture_output=True, text=True)
    procs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for out, err in outputs:
        assert err == "" and out == reference.stdout
    warm = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert warm.stdout == reference.stdout
    assert not list((tmp_path / ".cwlint_cache").rglob(".tmp-*"))  # no temporary file left behind


IMPORT_PROBE = """
import sys
from cwlint.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"libcst", "rich", "pydantic", "cwlint.engine"})
loaded = sorted(m for m in sys.modules if m == "cwlint.engine" or m.startswith("cwlint.rules"))
sys.stderr.write(f"HEAVY={heavy} CWLINT={loaded}\\n")
sys.exit(code)
"""


@pytest.mark.parametrize("fmt", ["full", "sarif"])
def test_warm_run_imports_neither_libcst_nor_rich(tmp_path: Path, fmt: str) -> None:
    corpus(tmp_path / "wf")
    env = {**os.environ, "FORCE_COLOR": "1"}  # the colour path too (it used to need rich)
    env.pop("NO_COLOR", None)
    args = [sys.executable, "-c", IMPORT_PROBE, "wf", "--output-format", fmt]
    cold = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert cold.returncode == 1 and "'libcst'" in cold.stderr, cold.stderr  # the probe can fail
    warm = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert warm.returncode == 1
    assert "HEAVY=[] CWLINT=[]" in warm.stderr, warm.stderr
    assert warm.stdout == cold.stdout
    if fmt == "full":
        assert "\x1b[" in warm.stdout  # coloured, without rich


def test_warm_run_importtime(tmp_path: Path) -> None:
    """The same, as ``python -X importtime`` sees it."""
    (tmp_path / "bad.py").write_text(BAD)
    command = [sys.executable, "-X", "importtime", "-m", "cwlint", "bad.py"]
    subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    warm = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    modules = {line.split("|")[-1].strip() for line in warm.stderr.splitlines() if line.startswith("import time:")}
    assert "cwlint.cli" in modules and "cwlint.cache" in modules
    assert not {m for m in modules if m.split(".")[0] in ("libcst", "rich", "pydantic")}
    # What the warm path was trimmed of (bench/README.md): each cost a few ms of every run.
    trimmed = {"typing", "dataclasses", "pathlib", "tomllib", "tempfile", "shutil", "tokenize", "pathspec",
               "cwlint.catalog", "cwlint.header", "cwlint.engine"}
    assert not modules & trimmed, modules & trimmed


def test_warm_run_reads_the_rule_data_from_the_cache(tmp_path: Path) -> None:
    """A source line that could hold a credential (the ``full`` format's code frames) sends
    redaction to the formats of rules/secrets/formats.toml: a warm run reads them from the cache's
    data.json, not the TOML. Messages were stored redacted: a warm ``concise`` run needs no formats."""
    (tmp_path / "leaky.py").write_text(LEAKY)

    def imported(*options: str) -> tuple[str, set[str]]:
        command = [sys.executable, "-X", "importtime", "-m", "cwlint", "leaky.py", *options]
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
        return done.stdout, {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                             if line.startswith("import time:")}

    cold, _ = imported("--output-format", "full")
    warm, modules = imported("--output-format", "full")
    assert warm == cold and "OpenAI API key" in warm and SECRET[:12] not in warm and "sk-p****" in warm
    assert {"cwlint.secrets", "cwlint.analysis.data"} <= modules  # the formats were needed...
    assert not modules & {"tomllib", "pathlib", "typing"}, modules  # ...and came from the cache
    assert len(list((tmp_path / ".cwlint_cache").glob("*/data.json"))) == 1
    concise, modules = imported("--output-format", "concise")
    assert "OpenAI API key" in concise and SECRET[:12] not in concise and "cwlint.secrets" not in modules
    [entry] = [json.loads(p.read_text()) for p in (tmp_path / ".cwlint_cache").rglob("*.json")
               if p.name != "data.json" and "diagnostics" in p.read_text()]
    assert all(d["r"] == 1 and SECRET[:12] not in d["m"] for d in entry["diagnostics"])


def test_rule_data_through_the_cache_is_the_files_data(tmp_path: Path) -> None:
    from cwlint.analysis import data
    from cwlint.cache import Cache

    files = data.bundled_files()
    assert {"secrets/formats.toml", "blocking/http.toml", "distributions/requires.toml"} <= set(files)
    assert not any(name.startswith("services/") for name in files)
    cache = Cache(tmp_path / "c", tmp_path)
    cache.save_rule_data(files)
    assert cache.rule_data() == json.loads(json.dumps(files)) == files
    try:
        data.use_cache(cache.rule_data)
        assert data.load("secrets/formats.toml") is not files["secrets/formats.toml"]  # read again, from JSON
        assert data.load("secrets/formats.toml") == files["secrets/formats.toml"]
        assert [stem for stem, _ in data.load_dir("blocking")] == sorted(p.stem for p in (data.data_root() / "blocking").glob("*.toml"))
    finally:
        data.use_cache(None)
    assert Cache(tmp_path / "c", tmp_path, code_key="other").rule_data() is None  # another code's data is not used


# -- workers ----------------------------------------------------------------------------------


def test_jobs_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "cpu_count", lambda: 8)
    assert runner.resolve_jobs(None) == 8
    assert runner.resolve_jobs(0) == 8
    assert runner.resolve_jobs(3) == 3
    monkeypatch.setenv("PRE_COMMIT", "1")
    assert runner.resolve_jobs(None) == 1  # pre-commit partitions files itself
    assert runner.resolve_jobs(2) == 2  # unless asked explicitly
    assert runner.workers_for(runner.POOL_THRESHOLD - 1, 8) == 0
    assert runner.workers_for(runner.POOL_THRESHOLD, 1) == 0
    assert 1 < runner.workers_for(200, 8) <= 8


def test_pool_output_equals_in_process(tmp_path: Path) -> None:
    files = corpus(tmp_path / "wf")
    assert len(files) >= runner.POOL_THRESHOLD
    base = [sys.executable, "-m", "cwlint", "wf", "--output-format", "json", "--no-cache"]
    serial = subprocess.run([*base, "--jobs", "1"], cwd=tmp_path, capture_output=True, text=True)
    pooled = subprocess.run([*base, "--jobs", "2"], cwd=tmp_path, capture_output=True, text=True)
    assert serial.returncode == pooled.returncode == 1
    assert pooled.stdout == serial.stdout and json.loads(pooled.stdout)


def test_pool_fix_writes_files_and_cache(tmp_path: Path) -> None:
    for index in range(runner.POOL_THRESHOLD + 2):
        (tmp_path / f"bad_{index}.py").write_text(BAD + f"# {index}\n")
    result = subprocess.run([sys.executable, "-m", "cwlint", ".", "--fix", "--jobs", "2"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{runner.POOL_THRESHOLD + 2} fixed, 0 remaining" in result.stdout
    assert all("inputs=" in p.read_text() for p in tmp_path.glob("bad_*.py"))
    assert len(entries(tmp_path)) == runner.POOL_THRESHOLD + 2  # written by the workers


def test_pre_commit_lints_in_process(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus(tmp_path / "wf")
    used: list[int] = []
    monkeypatch.setattr(runner, "_run_pool", lambda todo, workers, *a: used.append(workers) or {})
    monkeypatch.setenv("PRE_COMMIT", "1")
    assert run(["wf", "--no-cache"], capsys)[0] == 1
    assert used == []
    assert run(["wf", "--no-cache", "--jobs", "2"], capsys)[0] == 1
    assert used == [2]  # an explicit --jobs wins; the pool found nothing done, so all ran here


def test_dead_worker_falls_back_to_in_process(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus(tmp_path / "wf")
    reference = run(["wf", "--no-cache", "--jobs", "1", "--output-format", "concise"], capsys)

    def die(task):  # type: ignore[no-untyped-def]
        os._exit(3)

    monkeypatch.setattr(runner, "_work", die)
    assert run(["wf", "--no-cache", "--jobs", "2", "--output-format", "concise"], capsys) == reference


def test_bad_jobs_value_is_usage_error(capsys) -> None:
    code, _, err = run(["--jobs", "-1"], capsys)
    assert code == 2 and "invalid number of jobs" in err


# -- stage timings ----------------------------------------------------------------------------


def test_timings_by_stage(tmp_path: Path) -> None:
    corpus(tmp_path / "wf")
    target = tmp_path / "timings.json"
    env = {**os.environ, "CWLINT_TIMINGS": str(target)}
    subprocess.run([sys.executable, "-m", "cwlint", "wf", "--no-cache", "--jobs", "2"], cwd=tmp_path, env=env, capture_output=True)
    data = json.loads(target.read_text())
    assert data["files"] == len(list((tmp_path / "wf").glob("*.py")))
    for stage in ("read", "parse", "walk", "analysis", "rules", "positions", "suppress"):
        assert data["stages"][stage] > 0, stage
    subprocess.run([sys.executable, "-m", "cwlint", "wf", "--no-cache", "--diff", "--unsafe-fixes"], cwd=tmp_path, env=env, capture_output=True)
    assert json.loads(target.read_text())["stages"]["fix"] > 0


def test_timings_off_wraps_nothing(tmp_path: Path) -> None:
    """Importing the engine wraps nothing, whatever the environment; a run with timings on wraps it."""
    (tmp_path / "w.py").write_text("x = 1\n")
    probe = (
        "import sys, contextlib, io, cwlint.engine as e, cwlint.context as c\n"
        "timed = lambda: (hasattr(e._parse, '__cwlint_timed__'), hasattr(c.node_offsets, '__cwlint_timed__'))\n"
        "imported = timed()\n"
        "from cwlint.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    main(['w.py', '--no-cache'])\n"
        "print(*imported, *timed())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CWLINT_TIMINGS"}
    off = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    on = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env={**env, "CWLINT_TIMINGS": "1"}, cwd=tmp_path)
    assert off.stdout.split() == ["False", "False", "False", "False"], off.stderr
    assert on.stdout.split() == ["False", "False", "True", "True"], on.stderr
