"""Time cwlint against Fixit 2, ruff and LibCST's parser on one corpus, side by side.

    pip install -e '.[bench]'          # fixit==2.2.1, ruff, pyinstrument
    python bench/run.py                # N=200 files, 5 runs each (Fixit: 3)
    python bench/run.py -n 500 --runs 7 --profile
    python bench/run.py --real ../corpus/workflows   # also a directory of real workflows

Every tool runs as its own process, as a user would run it, on the same files (a corpus
built by bench/corpus.py from fixtures/), with output to /dev/null. For each tool the
median wall time and the median CPU time (user + system of the process and its workers)
are reported: on a shared machine the wall time depends on the load, the CPU time much
less. cwlint's time per stage comes from CWLINT_TIMINGS (one process, --jobs 1).

This is a benchmark, not a test: nothing here asserts. The targets are printed next to the
measured ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus as corpus_module  # noqa: E402

PARSE_ONLY = """
import sys, time
from pathlib import Path
import libcst
started = time.perf_counter()
for path in sorted(Path(sys.argv[1]).glob("*.py")):
    libcst.parse_module(path.read_text(encoding="utf-8"))
sys.stderr.write(f"parse-only in-process: {time.perf_counter() - started:.3f}\\n")
"""


@dataclass
class Sample:
    name: str
    command: list[str]
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: Child processes may write .pyc files (a run without them is not what users see).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env or BASE_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started, _children_cpu() - cpu_before


def measure(
    name: str,
    command: list[str],
    cwd: Path,
    runs: int,
    prime: bool = True,
    env: dict[str, str] | None = None,
    note: str = "",
    before: Callable[[], None] | None = None,
) -> Sample:
    """``runs`` timed runs after one untimed one (bytecode and disk caches, and for the
    warm runs the tool's own cache, filled as a user's second run would find them).
    ``before`` runs, untimed, before each run (to change a file)."""
    sample = Sample(name, command, note=note)
    if prime:
        if before is not None:
            before()
        timed(command, cwd, env)
    for _ in range(runs):
        if before is not None:
            before()
        wall, cpu = timed(command, cwd, env)
        sample.wall.append(wall)
        sample.cpu.append(cpu)
    print(f"  {name:<34} wall {sample.wall_median:8.3f} s   cpu {sample.cpu_median:8.3f} s", file=sys.stderr)
    return sample


def tool(name: str) -> list[str] | None:
    """The console script installed beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return [str(beside)]
    found = shutil.which(name)
    return [found] if found else None


def version(command: list[str]) -> str:
    try:
        out = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    except OSError:
        return "?"
    return out.splitlines()[0] if out else "?"


def machine() -> dict[str, str]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "?"
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "nproc": str(cpus),
        "cpu": model,
        "python": platform.python_version(),
        "load": f"{load[0]:.1f}",
    }


def stages(cwlint: list[str], cwd: Path, runs: int, extra: list[str]) -> dict[str, float]:
    """Median seconds per stage over ``runs`` timed runs (CWLINT_TIMINGS)."""
    collected: dict[str, list[float]] = {}
    walls: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "timings.json"
        env = {**BASE_ENV, "CWLINT_TIMINGS": str(target)}
        for _ in range(runs):
            subprocess.run([*cwlint, ".", "--no-cache", "--jobs", "1", "--exit-zero", *extra], cwd=cwd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            data = json.loads(target.read_text())
            walls.append(data["wall"])
            for name, seconds in data["stages"].items():
                collected.setdefault(name, []).append(seconds)
    out = {name: statistics.median(values) for name, values in collected.items()}
    out["(wall, timed)"] = statistics.median(walls)
    return out


def profile(cwd: Path, top: int) -> str:
    """cProfile of one in-process cold lint of the corpus, by cumulative time."""
    import cProfile
    import io
    import pstats

    from cwlint.cli import main

    here = os.getcwd()
    os.chdir(cwd)
    profiler = cProfile.Profile()
    try:
        devnull = open(os.devnull, "w")
        stdout, sys.stdout = sys.stdout, devnull
        try:
            profiler.runcall(main, [".", "--no-cache", "--jobs", "1", "--exit-zero", "--output-format", "concise"])
        finally:
            sys.stdout = stdout
            devnull.close()
    finally:
        os.chdir(here)
    buffer = io.StringIO()
    pstats.Stats(profiler, stream=buffer).sort_stats("tottime").print_stats(top)
    return buffer.getvalue()


def changing(path: Path) -> Callable[[], None]:
    """A step that changes ``path`` (one more comment line), as an edit before a commit does."""
    count = [0]

    def change() -> None:
        count[0] += 1
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"# edit {count[0]}\n")

    return change


def run_tools(work: Path, scratch: Path, args: argparse.Namespace, tools: dict[str, list[str] | None], one_file: bool) -> dict[str, Sample]:
    """Every row for the corpus in ``work``: LibCST parse-only, cwlint cold and warm (and one
    changed file), ruff cold and warm, Fixit."""
    cwlint, ruff, fixit = tools["cwlint"], tools["ruff"], tools["fixit"]
    assert cwlint is not None
    samples: dict[str, Sample] = {}
    concise = ["--output-format", "concise", "--exit-zero"]
    samples["parse"] = measure("LibCST parse-only (1 process)", [sys.executable, "-c", PARSE_ONLY, "."], work, args.runs)
    samples["cold"] = measure("cwlint cold (--no-cache)", [*cwlint, ".", "--no-cache", *concise], work, args.runs)
    samples["cold1"] = measure("cwlint cold, --jobs 1", [*cwlint, ".", "--no-cache", "--jobs", "1", *concise], work, args.runs)
    shutil.rmtree(work / ".cwlint_cache", ignore_errors=True)
    samples["warm"] = measure("cwlint warm (cache)", [*cwlint, ".", *concise], work, args.runs)
    if one_file:
        # Pre-commit's common case: one file changed and passed alone, the cache (rule registry,
        # catalog) warm from the runs above. Each run edits the file first, untimed.
        target = sorted(work.glob("*.py"))[0]
        samples["one"] = measure(
            "cwlint, one changed file (cache warm)", [*cwlint, target.name, *concise], work, args.runs,
            before=changing(target),
        )
    if ruff:
        ruff_cache = scratch / f"ruff-cache-{work.name}"
        base = [*ruff, "check", "--isolated", "--output-format", "concise", "--exit-zero", "."]
        samples["ruff_cold"] = measure("ruff cold (--no-cache)", [*base, "--no-cache"], work, args.runs)
        samples["ruff_warm"] = measure("ruff warm (cache)", [*base, "--cache-dir", str(ruff_cache)], work, args.runs)
    if fixit and not args.no_fixit:
        samples["fixit"] = measure("Fixit 2 (fixit lint, default rules)", [*fixit, "lint", "."], work, args.fixit_runs, prime=False)
    return samples


def copy_real(source: Path, target: Path) -> list[Path]:
    """The real workflows, copied into the scratch directory (tools write caches beside them;
    nothing is ever copied into the repository)."""
    files = sorted(p for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        raise SystemExit(f"no Python files under {source}")
    target.mkdir(parents=True)
    for index, path in enumerate(files):
        shutil.copyfile(path, target / f"{index:03d}_{path.name}")
    return sorted(target.glob("*.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description="Time cwlint against Fixit 2, ruff and LibCST parse-only.")
    parser.add_argument("-n", type=int, default=200, help="files in the corpus (default 200)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--fixit-runs", type=int, default=3, help="timed runs of Fixit, the slow one (default 3)")
    parser.add_argument("--no-fixit", action="store_true", help="skip Fixit")
    parser.add_argument("--real", type=Path, metavar="DIR",
                        help="also time a directory of real workflows (copied to a scratch directory first)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of a cold cwlint run")
    parser.add_argument("--json", type=Path, help="write the raw numbers here")
    args = parser.parse_args()

    info = machine()
    tools = {"cwlint": tool("cwlint") or [sys.executable, "-m", "cwlint"], "ruff": tool("ruff"), "fixit": tool("fixit")}
    cwlint = tools["cwlint"]
    assert cwlint is not None
    real: dict[str, Sample] = {}
    real_files = real_lines = 0
    with tempfile.TemporaryDirectory(prefix="cwlint-bench-") as scratch_name:
        scratch = Path(scratch_name)
        work = scratch / "corpus"
        files = corpus_module.build(work, args.n)
        lines = sum(p.read_text(encoding="utf-8").count("\n") for p in files)
        print(f"corpus: {len(files)} files, {lines} lines; {info['nproc']} CPUs ({info['cpu']}), load {info['load']}",
              file=sys.stderr)
        samples = run_tools(work, scratch, args, tools, one_file=True)
        lint_stages = stages(cwlint, work, args.runs, ["--output-format", "concise"])
        fix_stages = stages(cwlint, work, max(1, args.runs // 2), ["--diff", "--unsafe-fixes"])
        profiled = profile(work, 30) if args.profile else ""
        if args.real:
            real_work = scratch / "real"
            copied = copy_real(args.real, real_work)
            real_files = len(copied)
            real_lines = sum(p.read_text(encoding="utf-8", errors="replace").count("\n") for p in copied)
            print(f"real corpus: {real_files} files, {real_lines} lines from {args.real}", file=sys.stderr)
            real = run_tools(real_work, scratch, args, tools, one_file=False)

    versions = {
        "cwlint": version(cwlint),
        "ruff": version(tools["ruff"]) if tools["ruff"] else "not installed",
        "fixit": version(tools["fixit"]) if tools["fixit"] else "not installed",
        "libcst": subprocess.run([sys.executable, "-c", "import importlib.metadata as m; print(m.version('libcst'))"],
                                 capture_output=True, text=True).stdout.strip(),
    }
    report = render(info, len(files), lines, samples, lint_stages, fix_stages, versions, args)
    if real:
        report += "\n\n" + render_real(args.real, real_files, real_lines, real)
    print(report)
    if profiled:
        print("\n## cProfile: cold cwlint, one process, by own time\n\n```\n" + profiled.strip() + "\n```")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "versions": versions,
            "samples": {k: {"wall": v.wall, "cpu": v.cpu, "command": v.command} for k, v in samples.items()},
            "real": {k: {"wall": v.wall, "cpu": v.cpu, "command": v.command} for k, v in real.items()},
            "stages": lint_stages, "fix_stages": fix_stages,
        }, indent=2))


def _ratio(samples: dict[str, Sample], a: str, b: str, attr: str) -> float | None:
    if a not in samples or b not in samples:
        return None
    bottom = getattr(samples[b], attr)
    return getattr(samples[a], attr) / bottom if bottom else None


def _table(samples: dict[str, Sample]) -> list[str]:
    out = ["| Tool | Wall (median) | CPU (median) |", "| --- | ---: | ---: |"]
    for sample in samples.values():
        out.append(f"| {sample.name} | {sample.wall_median * 1000:,.0f} ms | {sample.cpu_median * 1000:,.0f} ms |")
    return out


def _verdict(wall: bool, cpu: bool) -> str:
    if wall and cpu:
        return "met"
    return "met (wall only)" if wall else ("met (CPU only)" if cpu else "**missed**")


def _targets(samples: dict[str, Sample], fixit_target: float) -> list[str]:
    """The targets of issue 19: cold >= 10x Fixit (8x on real workflows), warm within 3x of
    ruff warm, one changed file under 200 ms; and cold within 3x of LibCST's parse alone."""
    targets: list[tuple[str, str, str, str, Callable[[float], bool] | None]] = [
        ("Fixit / cwlint cold", "fixit", "cold", f">= {fixit_target:g}x", lambda r: r >= fixit_target),
        ("cwlint cold / LibCST parse-only", "cold", "parse", "<= 3x", lambda r: r <= 3),
        ("cwlint warm / ruff warm", "warm", "ruff_warm", "<= 3x", lambda r: r <= 3),
        ("cwlint cold / ruff cold", "cold", "ruff_cold", "(none)", None),
    ]
    out = ["| Ratio | Wall | CPU | Target |", "| --- | ---: | ---: | --- |"]
    for label, a, b, target, check in targets:
        wall, cpu = _ratio(samples, a, b, "wall_median"), _ratio(samples, a, b, "cpu_median")
        if wall is None or cpu is None:
            continue
        verdict = f" {_verdict(check(wall), check(cpu))}" if check is not None else ""
        out.append(f"| {label} | {wall:.1f}x | {cpu:.1f}x | {target}{verdict} |")
    if "one" in samples:
        one = samples["one"]
        verdict = _verdict(one.wall_median < 0.2, one.cpu_median < 0.2)
        out.append(f"| one changed file, end to end | {one.wall_median * 1000:.0f} ms | {one.cpu_median * 1000:.0f} ms "
                   f"| < 200 ms {verdict} |")
    return out


def render(info, files, lines, samples, lint_stages, fix_stages, versions, args) -> str:  # type: ignore[no-untyped-def]
    out = []
    out.append(f"Benchmark of {info['date']}: {files} workflow scripts ({lines} lines) built from fixtures/; "
               f"{info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, load average {info['load']} at the start.")
    out.append(f"{versions['cwlint']}; {versions['ruff']}; fixit {versions['fixit'].split()[-1]}; libcst {versions['libcst']}. "
               f"Medians of {args.runs} runs (Fixit: {args.fixit_runs}); CPU = user + system of the process and its workers.")
    out.append("")
    out.extend(_table(samples))
    out.append("")
    out.extend(_targets(samples, 10))
    out.append("")
    total = sum(v for k, v in lint_stages.items() if not k.startswith("("))
    out.append("cwlint per stage (one process, `--jobs 1 --no-cache`, CWLINT_TIMINGS; medians):")
    out.append("")
    out.append("| Stage | Lint run | Share | `--diff --unsafe-fixes` run |")
    out.append("| --- | ---: | ---: | ---: |")
    for name in ("read", "parse", "walk", "analysis", "rules", "positions", "suppress", "fix"):
        if name in lint_stages or name in fix_stages:
            seconds = lint_stages.get(name, 0.0)
            out.append(f"| {name} | {seconds * 1000:,.0f} ms | {seconds / total:.0%} | {fix_stages.get(name, 0.0) * 1000:,.0f} ms |")
    return "\n".join(out)


def render_real(source: Path, files: int, lines: int, samples: dict[str, Sample]) -> str:
    out = [f"Real workflows: {files} files ({lines} lines) from `{source}` (copied to a scratch directory), "
           "same tools and runs.", ""]
    out.extend(_table(samples))
    out.append("")
    out.extend(_targets(samples, 8))
    return "\n".join(out)


if __name__ == "__main__":
    main()
