"""Benchmark (not a test) of the cwtest harness: boot overhead, the 10th workflow, the sandbox, examples/s.

    /work/venv/bin/python bench/harness.py                  # --runs 10, N=300: about 3 minutes on 2 cores
    /work/venv/bin/python bench/harness.py --quick          # a smoke: runs=2, N=50
    /work/venv/bin/python bench/harness.py --json out.json  # also the raw numbers

Side by side, in one run, on the fixture workflows (``fixtures/design/*.py``, ``fixtures/fuzz/*.py``);
their uv environments are built (or found in the cache) first, untimed:

1. **Boot overhead.** Per workflow: (a) the bare import: a fresh ``python -I -B`` of the workflow's
   own environment importing the module by file path (the variables its header declares set to the
   harness's dummy values, no sandbox, no server), wall time of the whole process; and
   ``python -I -B -c pass`` of that environment beside it; (b) ``Harness(sandbox="auto").boot(path)``:
   wall time from the call until the context yields a ready workflow (cached environment, fresh
   simulator, run directory, sandbox, child, imports, uvicorn serving), and the harness's own
   ``boot_seconds`` (process start to "ready"). Overhead = (b) - (a). Target: < 0.5 s (median).
2. **The 10th of ten workflows sharing one environment.** Ten distinct copies of one workflow
   (same header, each with a function of its own) in one ``Harness.run`` with ``jobs=1``: each
   one's ``boot_seconds`` and wall time, the 10th's against the target (< 0.5 s); the same workflow's
   time by phase (boot, smoke calls, teardown). Each workflow boots its own sandboxed interpreter
   (no process is shared: isolation first), so the imports of the workflow's libraries are paid
   every time; they are measured in that environment (``python -c "import ..."`` and
   ``-X importtime`` by top-level package) to say what dominates.
3. **Sandbox overhead.** The same boot, and a fixed fuzz workload (``fuzz(booted,
   FuzzConfig(examples=100, checks=("fuzz",), shrink_time=0, seed=0))`` on planted_bugs.py), with
   ``Harness(sandbox="off")`` (audit hook, seccomp, rlimits) against ``sandbox="auto"`` (the
   strongest layer here). Target: < 15%.
4. **Examples per second.** cwtest through the sandbox (the booted workflow, fuzz check only, no
   shrinking, N valid examples) against ``st run`` (Schemathesis) on the same app served by
   uvicorn from the workflow's own environment; launcher and command from ``bench/fuzz_speed.py``.
   Target: >= 2x ``st run``.

Medians everywhere (``--runs``), each measurement primed by one untimed run; the runs of the two
things compared alternate, so that a change of load hits both. Nothing asserts: the targets are
printed beside the measured values. Progress goes to stderr, the markdown report to stdout.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
import fuzz_speed
import run as run_bench

from cwlint.header import parse_header
from cwtest.harness import fuzzing
from cwtest.harness.env import Environment, EnvManager, default_cache_dir, spec_for
from cwtest.harness.runner import SIM_BASE, Harness, module_name
from cwtest.workflow_env import workflow_env

WORKFLOWS = sorted((REPO / "fixtures" / "design").glob("*.py")) + sorted((REPO / "fixtures" / "fuzz").glob("*.py"))
PLANTED = REPO / "fixtures" / "fuzz" / "planted_bugs.py"
#: The workflow copied ten times (section 2): the canonical header, boots clean.
TENTH_SOURCE = REPO / "fixtures" / "design" / "support_ticket_analyzer.py"
BOOT_TARGET = 0.5
TENTH_TARGET = 0.5
SANDBOX_TARGET = 0.15
RATE_TARGET = 2.0
#: What the workflow's process imports besides the workflow (the child: httpx, uvicorn, fastapi).
LIBRARIES = ("codewords_client", "fastapi", "uvicorn", "httpx", "pydantic")

#: The bare import: what the child does to import the workflow, and nothing else.
BARE_IMPORT = """
import importlib.util, sys, time
spec = importlib.util.spec_from_file_location(sys.argv[2], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[sys.argv[2]] = module
spec.loader.exec_module(module)
print(time.monotonic())  # CLOCK_MONOTONIC, shared with the parent: when the import ended
"""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def load() -> tuple[float, float, float]:
    return os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 3) + 0.0:.3f} s"  # + 0.0: no "-0.000"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 1000) + 0:,d} ms"


# --- machine facts ------------------------------------------------------------------------------

def facts() -> dict[str, Any]:
    machine = run_bench.machine()  # CPU model and count as bench/run.py reports them
    versions: dict[str, str] = {}
    for dist in ("cwkit", "httpx", "uvicorn", "starlette", "pydantic", "jsonschema", "hypothesis", "redis", "uv",
                 "packaging", "rich", "schemathesis"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    for name, command in (("bwrap", ["bwrap", "--version"]), ("uv (binary)", [_uv(), "--version"])):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout.strip()
            versions[name] = out.split()[1] if len(out.split()) > 1 else out or "?"
        except (OSError, subprocess.SubprocessError):
            versions[name] = "not installed"
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "nproc": int(machine["nproc"]), "cpu": machine["cpu"],
            "python": platform.python_version(), "kernel": platform.release(), "versions": versions}


def _uv() -> str:
    try:
        from cwtest.harness.env import find_uv

        return find_uv()
    except Exception:  # noqa: BLE001 - only for the version line
        return shutil.which("uv") or "uv"


# --- environments (untimed) ---------------------------------------------------------------------

def prepare(paths: list[Path]) -> dict[Path, Environment]:
    manager = EnvManager("uv", default_cache_dir())
    envs: dict[Path, Environment] = {}
    for path in paths:
        environment = manager.prepare(spec_for(path, path.read_text(encoding="utf-8")))
        envs[path] = environment
        log(f"  env {environment.key} for {path.name}: {'cached' if environment.cached else 'built'} "
            f"({environment.seconds:.1f} s)")
    return envs


def env_pins(environment: Environment) -> str:
    if environment.root is None:
        return ""
    info = json.loads((environment.root / "cwtest-env.json").read_text())
    return ", ".join(info.get("dependencies", []))


# --- timing primitives --------------------------------------------------------------------------

def timed_process(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        log(f"    ! {' '.join(command[:3])}... exited {done.returncode}: {tail[0]}")
    return wall, done.returncode


def time_bare(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float | None, int]:
    """(wall time of the whole process, time from the spawn to the end of the import, exit status)."""
    started = time.monotonic()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        log(f"    ! bare import exited {done.returncode}: {tail[0]}")
        return wall, None, done.returncode
    try:
        imported = float(done.stdout.strip().splitlines()[-1]) - started
    except (ValueError, IndexError):  # the workflow printed something odd at import: keep the wall time
        imported = None
    return wall, imported, 0


def bare_env(path: Path, home: Path) -> dict[str, str]:
    """The variables the harness gives the workflow (the header's, with dummy values), no sandbox."""
    header = parse_header(path.read_text(encoding="utf-8"))
    assert header is not None
    return workflow_env(header, api_key="cwtest-bench-dummy-key", runtime_url=SIM_BASE, home=home)


def bare_command(environment: Environment, path: Path) -> list[str]:
    header = parse_header(path.read_text(encoding="utf-8"))
    assert header is not None
    name = module_name(path, header.distribution_names())
    # -I -B: as the child runs (isolated, no bytecode written for the workflow)
    return [str(environment.python), "-I", "-B", "-c", BARE_IMPORT, str(path), name]


def time_boot(harness: Harness, path: Path, then: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Wall time of ``harness.boot(path)`` from the call to the ready workflow; ``then(booted)`` after."""
    started = time.perf_counter()
    try:
        with harness.boot(path) as booted:
            wall = time.perf_counter() - started
            sample: dict[str, Any] = {"wall": wall, "boot_seconds": booted.result.boot_seconds}
            if then is not None:
                sample["then"] = then(booted)
    except RuntimeError as exc:
        log(f"    ! {path.name} did not boot: {str(exc).splitlines()[0]}")
        return {"wall": None, "boot_seconds": None, "error": str(exc).splitlines()[0]}
    return sample


# --- 1. boot overhead ---------------------------------------------------------------------------

@dataclass
class BootRow:
    path: Path
    env_key: str
    python_pass: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    #: From the spawn to the end of the import (the whole process minus the interpreter's exit).
    bare_imported: list[float] = field(default_factory=list)
    boot: list[float] = field(default_factory=list)
    boot_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def overhead(self) -> float | None:
        bare, boot = median(self.bare), median(self.boot)
        return None if bare is None or boot is None else boot - bare

    @property
    def overhead_to_imported(self) -> float | None:
        bare, boot = median(self.bare_imported), median(self.boot)
        return None if bare is None or boot is None else boot - bare

    def as_json(self) -> dict[str, Any]:
        return {"workflow": str(self.path.relative_to(REPO)), "env": self.env_key, "python_pass": self.python_pass,
                "bare_import": self.bare,
                "bare_import_to_imported": self.bare_imported, "harness_boot": self.boot, "boot_seconds": self.boot_seconds,
                "overhead_median": self.overhead,
                "overhead_to_imported_median": self.overhead_to_imported, "errors": self.errors}


def section_boot(harness: Harness, envs: dict[Path, Environment], runs: int, scratch: Path) -> list[BootRow]:
    rows = []
    home = scratch / "bare-home"
    home.mkdir(exist_ok=True)
    for path in WORKFLOWS:
        environment = envs[path]
        row = BootRow(path, environment.key or "current")
        env = bare_env(path, home)
        bare = bare_command(environment, path)
        python_pass = [str(environment.python), "-I", "-B", "-c", "pass"]
        timed_process(python_pass, env, home)  # primes: disk cache, bytecode of the libraries
        time_bare(bare, env, home)
        time_boot(harness, path)
        for _ in range(runs):
            row.python_pass.append(timed_process(python_pass, env, home)[0])
            wall, imported, code = time_bare(bare, env, home)
            if code == 0:
                row.bare.append(wall)
                if imported is not None:
                    row.bare_imported.append(imported)
            else:
                row.errors.append(f"bare import exited {code}")
            sample = time_boot(harness, path)
            if sample["wall"] is not None:
                row.boot.append(sample["wall"])
                row.boot_seconds.append(sample["boot_seconds"])
            else:
                row.errors.append(sample.get("error", "did not boot"))
        log(f"  {path.name:<30} pass {fmt_s(median(row.python_pass))}  bare {fmt_s(median(row.bare))}  "
            f"(imported at {fmt_s(median(row.bare_imported))})  boot {fmt_s(median(row.boot))}  "
            f"overhead {fmt_s(row.overhead)}")
        rows.append(row)
    return rows


# --- 2. the 10th workflow -----------------------------------------------------------------------

def copies(source: Path, count: int, directory: Path) -> list[Path]:
    """``count`` copies of ``source``: same header, each with a comment and a function of its own."""
    text = source.read_text(encoding="utf-8").rstrip("\n")
    paths = []
    for index in range(1, count + 1):
        path = directory / f"{source.stem}_copy{index:02d}.py"
        path.write_text(f"{text}\n\n\n# bench/harness.py: copy {index} of {count}\n"
                        f"def _bench_copy_{index}() -> int:\n    return {index}\n", encoding="utf-8")
        paths.append(path)
    return paths


def section_tenth(count: int, repeats: int, scratch: Path) -> list[list[dict[str, Any]]]:
    directory = scratch / "copies"
    directory.mkdir()
    paths = copies(TENTH_SOURCE, count, directory)
    rounds = []
    for repeat in range(repeats):
        harness = Harness()  # the defaults: sandbox="auto", jobs=1
        starts: dict[Path, float] = {}
        walls: dict[Path, float] = {}

        def on_start(path: Path, starts: dict[Path, float] = starts) -> None:
            starts[path] = time.perf_counter()

        def on_done(path: Path, _result: Any, starts: dict[Path, float] = starts,
                    walls: dict[Path, float] = walls) -> None:
            walls[path] = time.perf_counter() - starts[path]

        report = harness.run(paths, on_start=on_start, on_done=on_done)
        samples = []
        for index, (path, result) in enumerate(zip(paths, report.results, strict=True), start=1):
            samples.append({"index": index, "boot_seconds": result.boot_seconds if result.booted else None,
                            "wall": walls.get(path), "seconds": result.seconds, "booted": result.booted,
                            "findings": [f.kind for f in result.findings], "harness_error": result.harness_error})
        log(f"  round {repeat + 1}: boot_seconds " + " ".join(
            f"{s['boot_seconds']:.2f}" if s["boot_seconds"] is not None else "-" for s in samples))
        rounds.append(samples)
    return rounds


def phases(harness: Harness, path: Path, runs: int) -> dict[str, list[float]]:
    """One workflow's time in ``Harness.run``, by phase: boot (call to ready), smoke calls, teardown;
    and, of the teardown, the time spent stopping the simulator's server (``UnixServer.stop``, timed
    by wrapping it for the duration)."""
    from cwtest.harness import bridge

    out: dict[str, list[float]] = {"boot": [], "smoke": [], "teardown": [], "simulator_stop": []}
    original = bridge.UnixServer.stop
    own = "stop" in vars(bridge.UnixServer)  # else inherited (ServerThread.stop): restore by deleting
    stops: list[float] = []

    def timed_stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            stops.append(time.perf_counter() - started)

    bridge.UnixServer.stop = timed_stop  # type: ignore[method-assign]
    try:
        _phases(harness, path, runs, out, stops)
    finally:
        if own:
            bridge.UnixServer.stop = original  # type: ignore[method-assign]
        else:
            del bridge.UnixServer.stop
    log("  phases: " + "  ".join(f"{k} {fmt_s(median(v))}" for k, v in out.items()))
    return out


def _phases(harness: Harness, path: Path, runs: int, out: dict[str, list[float]], stops: list[float]) -> None:
    for _ in range(runs):
        del stops[:]
        started = time.perf_counter()
        try:
            with harness.boot(path) as booted:
                ready = time.perf_counter()
                fuzzing.exercise(booted, None)  # the smoke calls
                smoked = time.perf_counter()
        except RuntimeError as exc:
            log(f"    ! {path.name} did not boot: {str(exc).splitlines()[0]}")
            continue
        out["boot"].append(ready - started)
        out["smoke"].append(smoked - ready)
        out["teardown"].append(time.perf_counter() - smoked)
        if stops:
            out["simulator_stop"].append(sum(stops))


def import_costs(environment: Environment, runs: int, scratch: Path) -> dict[str, Any]:
    """Wall time of importing each library alone in ``environment``, and -X importtime by package."""
    home = scratch / "import-home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "TMPDIR": str(home)}
    python = str(environment.python)
    statements = {"pass": "pass", **{name: f"import {name}" for name in LIBRARIES},
                  "codewords_client, fastapi, uvicorn, httpx": "import codewords_client, fastapi, uvicorn, httpx"}
    walls: dict[str, list[float]] = {label: [] for label in statements}
    for label, statement in statements.items():
        timed_process([python, "-I", "-B", "-c", statement], env, home)
    for _ in range(runs):
        for label, statement in statements.items():
            walls[label].append(timed_process([python, "-I", "-B", "-c", statement], env, home)[0])
    by_package: dict[str, list[float]] = {}
    totals: list[float] = []
    for _ in range(max(3, min(runs, 5))):
        done = subprocess.run([python, "-I", "-B", "-X", "importtime", "-c",
                               "import codewords_client, fastapi, uvicorn, httpx"],
                              env=env, cwd=home, capture_output=True, text=True, check=False)
        selfs, total = importtime(done.stderr)
        totals.append(total)
        for package, seconds in selfs.items():
            by_package.setdefault(package, []).append(seconds)
    package_medians = {p: statistics.median(v + [0.0] * (len(totals) - len(v))) for p, v in by_package.items()}
    return {"walls": walls, "importtime_total": statistics.median(totals),
            "importtime_by_package": dict(sorted(package_medians.items(), key=lambda kv: -kv[1]))}


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def importtime(stderr: str) -> tuple[dict[str, float], float]:
    """(self seconds summed by top-level package, total seconds) from ``-X importtime`` output."""
    selfs: dict[str, float] = {}
    total = 0.0
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if not match:
            continue
        own, cumulative, indent, name = int(match.group(1)), int(match.group(2)), match.group(3), match.group(4)
        package = name.split(".")[0]
        if package in sys.stdlib_module_names or package.startswith("_"):
            package = "(stdlib)"
        selfs[package] = selfs.get(package, 0.0) + own / 1e6
        if len(indent) <= 1:  # a top-level import of the statement
            total += cumulative / 1e6
    return selfs, total


# --- 3. sandbox overhead ------------------------------------------------------------------------

def fuzz_workload(booted: Any) -> dict[str, float]:
    from cwtest.fuzz import FuzzConfig, fuzz

    started = time.perf_counter()
    report = fuzz(booted, FuzzConfig(examples=100, checks=("fuzz",), shrink_time=0, seed=0))
    wall = time.perf_counter() - started
    return {"wall": wall, "requests": report.requests, "failures": len(report.findings)}


def section_sandbox(harnesses: dict[str, Harness], runs: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {mode: {"boot": [], "fuzz": [], "total": [], "requests": []}
                                              for mode in harnesses}
    for mode, harness in harnesses.items():  # primes: the fuzzer's imports, the disk cache
        time_boot(harness, PLANTED, fuzz_workload)
    for run in range(runs):
        order = list(harnesses) if run % 2 == 0 else list(reversed(harnesses))
        for mode in order:
            sample = time_boot(harnesses[mode], PLANTED, fuzz_workload)
            if sample["wall"] is None:
                continue
            out[mode]["boot"].append(sample["wall"])
            out[mode]["fuzz"].append(sample["then"]["wall"])
            out[mode]["total"].append(sample["wall"] + sample["then"]["wall"])
            out[mode]["requests"].append(sample["then"]["requests"])
    for mode, values in out.items():
        log(f"  {mode:<5} boot {fmt_s(median(values['boot']))}  fuzz(100) {fmt_s(median(values['fuzz']))}")
    return out


# --- 4. examples per second ---------------------------------------------------------------------

def section_rate(harness: Harness, environment: Environment, examples: int, repeats: int) -> dict[str, Any]:

    cwtest_rates: list[float] = []
    failures: list[int] = []
    with harness.boot(PLANTED) as booted:
        fuzz_speed.cwtest_rate(booted, 20, 0)  # warm-up
        for seed in range(repeats):
            rate, found = fuzz_speed.cwtest_rate(booted, examples, seed)
            cwtest_rates.append(rate)
            failures.append(found)
    log(f"  cwtest through the sandbox: {median(cwtest_rates):.0f} examples/s")
    st_wall: list[float] = []
    st_inner: list[float] = []
    st_cases: list[int] = []
    st_seconds: list[float] = []
    with fuzz_speed.served(PLANTED, python=environment.python) as (base, _runtime, tmp):
        fuzz_speed.st_rate(base, 5, 0, tmp)  # primes st's imports
        for seed in range(repeats):
            wall_rate, inner_rate, cases, wall = fuzz_speed.st_rate(base, examples, seed, tmp)
            st_wall.append(wall_rate)
            st_cases.append(cases)
            st_seconds.append(wall)
            if inner_rate is not None:
                st_inner.append(inner_rate)
        command = fuzz_speed.st_command("URL", examples, 0)
    log(f"  st run: {median(st_wall):.0f} examples/s wall")
    return {"cwtest": cwtest_rates, "cwtest_failures": failures, "st_wall": st_wall, "st_inner": st_inner,
            "st_cases": st_cases, "st_seconds": st_seconds,
            "st_command": " ".join(["st", *command[1:]]).replace("URL/openapi.json", "URL")}


# --- the report ---------------------------------------------------------------------------------

def verdict_below(value: float | None, target: float, unit: str = "s") -> str:
    if value is None:
        return "not measured"
    if value < target:
        return "met"
    if unit == "%":
        return f"**missed** by {(value - target) * 100:.0f} points"
    return f"**missed** by {value - target:.2f} s ({value / target:.1f}x the target)"


def render(info: dict[str, Any], args: argparse.Namespace, layer: str, off_layer: str,
           boot_rows: list[BootRow], tenth: list[list[dict[str, Any]]], split: dict[str, list[float]],
           imports: dict[str, Any],
           sandbox: dict[str, dict[str, list[float]]], rate: dict[str, Any], tenth_env: Environment) -> str:
    out: list[str] = []
    v = info["versions"]
    out.append(f"Harness benchmark of {info['date']}: {info['nproc']} CPUs ({info['cpu']}), kernel {info['kernel']}, "
               f"Python {info['python']}; load average {info['load_start']} at the start, {info['load_end']} at "
               f"the end.")
    out.append(f"Layer used by `sandbox=\"auto\"`: {layer}; `sandbox=\"off\"`: {off_layer}.")
    out.append("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".")
    out.append(f"Command: `python bench/harness.py{' --quick' if args.quick else ''} --runs {args.runs} "
               f"-n {args.examples}`; medians of {args.runs} runs unless said otherwise.")
    out.append("")

    overheads = [r.overhead for r in boot_rows if r.overhead is not None]
    overall = median(overheads)
    strict = median([r.overhead_to_imported for r in boot_rows if r.overhead_to_imported is not None])
    last = [round_[-1]["boot_seconds"] for round_ in tenth if round_ and round_[-1]["boot_seconds"] is not None]
    tenth_boot = median(last)
    last_wall = median([round_[-1]["wall"] for round_ in tenth if round_ and round_[-1]["wall"] is not None])
    sandbox_total = _ratio(sandbox, "total")
    cw, st_w, st_i = median(rate["cwtest"]), median(rate["st_wall"]), median(rate["st_inner"])
    ratio_wall = cw / st_w if cw and st_w else None
    ratio_inner = cw / st_i if cw and st_i else None

    out.append("| Measure | Measured | Target | Verdict |")
    out.append("| --- | ---: | --- | --- |")
    out.append(f"| Boot overhead: harness boot - bare import (median over {len(overheads)} workflows' medians) "
               f"| {fmt_s(overall)} | < {BOOT_TARGET} s | {verdict_below(overall, BOOT_TARGET)} |")
    out.append(f"| the same, against the bare import's spawn-to-imported time (no interpreter exit) "
               f"| {fmt_s(strict)} | < {BOOT_TARGET} s | {verdict_below(strict, BOOT_TARGET)} |")
    plural = "s" if len(last) != 1 else ""
    out.append(f"| 10th of {args.copies} workflows sharing one env, `boot_seconds` (median of {len(last)} run{plural}) "
               f"| {fmt_s(tenth_boot)} | < {TENTH_TARGET} s | {verdict_below(tenth_boot, TENTH_TARGET)} |")
    out.append(f"| the same 10th workflow, whole wall time in `Harness.run` (boot, smoke calls, teardown) "
               f"| {fmt_s(last_wall)} | (none; < {TENTH_TARGET} s if read so) "
               f"| {verdict_below(last_wall, TENTH_TARGET)} |")
    out.append(f"| Sandbox overhead, {layer.split(' ')[0]} vs off: boot + fuzz(100) "
               f"| {_pct(sandbox_total)} | < {SANDBOX_TARGET:.0%} | {verdict_below(sandbox_total, SANDBOX_TARGET, '%')} |")
    rate_verdict = "not measured"
    if ratio_wall is not None:
        rate_verdict = "met" if ratio_wall >= RATE_TARGET else f"**missed** ({ratio_wall:.2f}x)"
        if ratio_inner is not None:
            rate_verdict += f"; {ratio_inner:.1f}x of st's own test time"
    measured = f"{ratio_wall:.1f}x" if ratio_wall is not None else "n/a"
    out.append(f"| Examples/s, cwtest through the sandbox / `st run` (wall) | {measured} | >= {RATE_TARGET:.0f}x "
               f"| {rate_verdict} |")
    out.append("")

    out.append("### 1. Boot: bare import in the workflow's environment vs `Harness(sandbox=\"auto\").boot(path)`")
    out.append("")
    out.append("| Workflow | Env | `python -c pass` | (a) bare import, whole process | (a') of which spawn to "
               "imported | (b) harness boot, call to ready | of which `boot_seconds` | overhead (b) - (a) "
               "| (b) - (a') | < 0.5 s |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for row in boot_rows:
        errors = f" ({len(row.errors)} failed runs)" if row.errors else ""
        out.append(f"| {row.path.parent.name}/{row.path.name}{errors} | {row.env_key[:8]} | "
                   f"{fmt_ms(median(row.python_pass))} | {fmt_ms(median(row.bare))} | "
                   f"{fmt_ms(median(row.bare_imported))} | {fmt_ms(median(row.boot))} | "
                   f"{fmt_ms(median(row.boot_seconds))} | {fmt_ms(row.overhead)} | {fmt_ms(row.overhead_to_imported)} | "
                   f"{'met' if row.overhead is not None and row.overhead < BOOT_TARGET else '**missed**'} |")
    out.append("")
    out.append("(a') ends when the import has returned (the child prints `time.monotonic()`, the clock the parent "
               "started from): (a) minus the interpreter's exit, which (b) never pays before \"ready\".")
    out.append("")

    out.append(f"### 2. The 10th of {args.copies} copies of {TENTH_SOURCE.name} (one env, one `Harness.run`, jobs=1)")
    out.append("")
    out.append("| Workflow | " + " | ".join(f"run {i + 1} `boot_seconds` / wall" for i in range(len(tenth))) + " |")
    out.append("| ---: | " + " | ".join("---:" for _ in tenth) + " |")
    for index in range(args.copies):
        cells = []
        for round_ in tenth:
            sample = round_[index]
            cells.append(f"{fmt_ms(sample['boot_seconds'])} / {fmt_ms(sample['wall'])}")
        out.append(f"| {index + 1} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Wall = the whole workflow in `Harness.run` (environment lookup, simulator, sandbox, boot, "
               "smoke calls, teardown). The same workflow through `Harness.boot`, by phase (medians of "
               f"{len(split['boot'])}): boot (call to ready) {fmt_ms(median(split['boot']))}, smoke calls "
               f"(`fuzzing.exercise(booted, None)`: GET /openapi.json and one POST) {fmt_ms(median(split['smoke']))}, teardown (the "
               f"context's exit: stop the process, collect, stop the simulator) {fmt_ms(median(split['teardown']))}, "
               f"of which stopping the simulator's uvicorn server (`UnixServer.stop`) "
               f"{fmt_ms(median(split['simulator_stop']))}.")
    out.append("")
    out.append("What the workflow's process imports, alone, in that environment "
               f"({env_pins(tenth_env)}), `python -I -B -c ...` wall time:")
    out.append("")
    out.append("| Statement | Wall (median) | minus `pass` |")
    out.append("| --- | ---: | ---: |")
    walls = imports["walls"]
    base = median(walls["pass"]) or 0.0
    for label, values in walls.items():
        statement = "pass" if label == "pass" else f"import {label}"
        out.append(f"| `{statement}` | {fmt_ms(median(values))} | "
                   f"{'' if label == 'pass' else fmt_ms((median(values) or 0.0) - base)} |")
    out.append("")
    top = list(imports["importtime_by_package"].items())[:8]
    out.append(f"`-X importtime` of `import codewords_client, fastapi, uvicorn, httpx`: "
               f"{fmt_ms(imports['importtime_total'])} in all; own time by top-level package: "
               + ", ".join(f"{p} {s * 1000:.0f} ms" for p, s in top) + ".")
    out.append("")

    out.append(f"### 3. Sandbox overhead on planted_bugs.py: `sandbox=\"off\"` vs `sandbox=\"auto\"` ({layer})")
    out.append("")
    out.append("| Step | off (median) | auto (median) | overhead | < 15% |")
    out.append("| --- | ---: | ---: | ---: | --- |")
    labels = {"boot": "boot (call to ready)", "fuzz": "fuzz(100 examples, fuzz check, no shrinking)",
              "total": "boot + fuzz"}
    for key, label in labels.items():
        ratio = _ratio(sandbox, key)
        out.append(f"| {label} | {fmt_ms(median(sandbox['off'][key]))} | {fmt_ms(median(sandbox['auto'][key]))} | "
                   f"{_pct(ratio)} | {verdict_below(ratio, SANDBOX_TARGET, '%')} |")
    out.append("")

    out.append(f"### 4. Examples per second on planted_bugs.py, N={args.examples}, median of {len(rate['cwtest'])}")
    out.append("")
    out.append("| Tool | examples/s |")
    out.append("| --- | ---: |")
    out.append(f"| cwtest through the sandbox (the booted workflow, fuzz check, no shrinking) | {cw:.0f} |")
    out.append(f"| `{rate['st_command']}`, app under uvicorn from the workflow's env, wall | {st_w:.0f} |")
    if st_i:
        out.append(f"| the same `st run`, per second of its own reported test time | {st_i:.0f} |")
    return "\n".join(out)


def _ratio(sandbox: dict[str, dict[str, list[float]]], key: str) -> float | None:
    off, auto = median(sandbox["off"][key]), median(sandbox["auto"][key])
    return None if not off or auto is None else auto / off - 1


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 2) + 0.0:+.0%}"


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the cwtest harness (boot, the 10th workflow, the "
                                                 "sandbox's overhead, examples/s against st run).")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per measurement (default 10)")
    parser.add_argument("-n", "--examples", type=int, default=300, help="examples per fuzz run in section 4 (300)")
    parser.add_argument("--copies", type=int, default=10, help="workflows sharing one environment (10)")
    parser.add_argument("--tenth-runs", type=int, default=3, help="repetitions of the 10-workflow run (3)")
    parser.add_argument("--rate-runs", type=int, default=3, help="runs of each tool in section 4 (3)")
    parser.add_argument("--quick", action="store_true", help="a smoke: --runs 2 -n 50, one 10-workflow run")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.examples, args.tenth_runs, args.rate_runs = 2, 50, 1, 1
    if args.runs < 1 or args.examples < 1 or args.copies < 1:
        print("bench/harness.py: --runs, -n and --copies must be at least 1", file=sys.stderr)
        return 2

    info = facts()
    started = time.monotonic()
    info["load_start"] = "/".join(f"{x:.2f}" for x in load())
    log(f"{info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, load {info['load_start']}")
    log("environments (untimed):")
    envs = prepare(sorted(set(WORKFLOWS) | {TENTH_SOURCE}))
    auto = Harness(sandbox="auto")
    off = Harness(sandbox="off")
    layer, off_layer = auto.layer.describe(), off.layer.describe()
    log(f"layer: {layer}")
    with tempfile.TemporaryDirectory(prefix="cwtest-bench-") as tmp:
        scratch = Path(tmp)
        log(f"1. boot overhead ({len(WORKFLOWS)} workflows x {args.runs} runs):")
        boot_rows = section_boot(auto, envs, args.runs, scratch)
        log(f"2. the 10th of {args.copies} workflows sharing one environment:")
        tenth = section_tenth(args.copies, args.tenth_runs, scratch)
        split = phases(auto, TENTH_SOURCE, args.runs)
        imports = import_costs(envs[TENTH_SOURCE], args.runs, scratch)
        log(f"3. sandbox overhead (off vs auto, {args.runs} runs each):")
        sandbox = section_sandbox({"off": off, "auto": auto}, args.runs)
        log(f"4. examples/s (N={args.examples}, {args.rate_runs} runs each):")
        rate = section_rate(auto, envs[PLANTED], args.examples, args.rate_runs)
    info["load_end"] = "/".join(f"{x:.2f}" for x in load())
    info["seconds"] = round(time.monotonic() - started, 1)
    log(f"done in {info['seconds']} s, load {info['load_end']}")
    print(render(info, args, layer, off_layer, boot_rows, tenth, split, imports, sandbox, rate,
                 envs[TENTH_SOURCE]))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "layer": layer, "off_layer": off_layer,
            "args": {k: (str(val) if isinstance(val, Path) else val) for k, val in vars(args).items()},
            "boot": [r.as_json() for r in boot_rows], "tenth": tenth, "phases": split, "imports": imports,
            "sandbox": sandbox, "rate": rate,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
