"""Benchmark (not a test) of CI sharding: 200 workflows as 1, 2 and 4 pytest-split groups of the plugin.

    .venv/bin/python bench/shards.py                      # N=200: about 15 minutes on 2 idle cores
    .venv/bin/python bench/shards.py -n 40 --json out.json

The corpus: N distinct copies (own file name, a function of their own at the end) of the
workflows the plugin's tests use (``tests/plugin/workflows``: clean, buggy, import_crash,
hidden_route, import_reach) and of the design page's (``fixtures/design``): items that pass, fail
and skip, boots that succeed and fail, two kinds of environment. Their uv environments are built
(or found in the cache) first, untimed, as a CI cache would hold them.

Then, one after another on this machine (a runner each, simulated: never two at once):

1. one runner: ``pytest --cwtest corpus --store-durations`` (the run that writes ``.test_durations``);
2. 2 runners: ``--splits 2 --group K`` for K = 1, 2, balanced by that file;
3. 4 runners: ``--splits 4 --group K`` for K = 1..4.

Every run: ``--cwtest-examples 3 --cwtest-shrink-time 1``, serial (one core per simulated runner;
a real runner would add ``-n auto``). Reported per shard: items, wall time, CPU time (user +
system of pytest and everything it started, from ``getrusage``: the load of the shared machine
moves the wall time much more than the CPU time); per layout: the slowest shard (the CI's wall
time), the speed-up against one runner, and the imbalance (slowest / mean - 1). Nothing asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "tests" / "plugin" / "workflows" / f"{name}.py"
           for name in ("clean", "buggy", "import_crash", "hidden_route", "import_reach")]
SOURCES += sorted((REPO / "fixtures" / "design").glob("*.py"))
# -p no:pytest-lsp: the test extra installs pytest-lsp, whose runtest wrapper fails every cwtest item
# ("did not yield"); the corpus's own pyproject does not carry our addopts, which turn it off
ARGS = ("--cwtest-examples", "3", "--cwtest-shrink-time", "1", "--cwtest-seed", "0", "-p", "no:cacheprovider",
        "-p", "no:pytest-lsp", "-q")


def build(out: Path, n: int) -> list[Path]:
    workflows = out / "workflows"
    workflows.mkdir(parents=True)
    made = []
    for i in range(n):
        source = SOURCES[i % len(SOURCES)]
        text = source.read_text(encoding="utf-8").rstrip("\n") + "\n"
        text += f"\n\ndef _shard_copy_{i}(values: list[int]) -> int:\n    return sum(values) + {i}\n"
        target = workflows / f"{source.stem}_{i:04d}.py"
        target.write_text(text, encoding="utf-8")
        made.append(target)
    (out / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    return made


def pytest(project: Path, *args: str) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "--cwtest", "workflows", *ARGS, *args], cwd=project,
                          capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|skipped|deselected)", tail)}
    if done.returncode not in (0, 1) or not counts:
        raise SystemExit(f"pytest failed ({done.returncode}): {done.stdout[-3000:]}{done.stderr[-3000:]}")
    return {"wall": wall, "cpu": cpu, "items": sum(counts.get(k, 0) for k in ("passed", "failed", "skipped")),
            "counts": counts}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="workflows in the corpus (default 200)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cwtest-shards-"))
    try:
        build(work, args.n)
        durations = work / ".test_durations"
        # Untimed: every environment built or found in the cache (one workflow of each source).
        print("priming environments ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pytest", "--cwtest", *[f"workflows/{p.stem}_{i:04d}.py"
                        for i, p in enumerate(SOURCES[: args.n])], *ARGS, "-k", "boot"], cwd=work,
                       capture_output=True, text=True)
        layouts: dict[int, list[dict[str, Any]]] = {}
        print("1 runner ...", file=sys.stderr)
        layouts[1] = [pytest(work, "--store-durations", f"--durations-path={durations}")]
        for count in (2, 4):
            layouts[count] = []
            for group in range(1, count + 1):
                print(f"{count} runners: group {group} ...", file=sys.stderr)
                layouts[count].append(pytest(work, "--splits", str(count), "--group", str(group),
                                             f"--durations-path={durations}"))
        stored = json.loads(durations.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total_items = layouts[1][0]["items"]
    load = os.getloadavg()[0]
    print(f"Shards of {args.n} workflows ({total_items} items; pytest --cwtest {' '.join(ARGS[:6])}, serial per "
          f"shard); {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load:.1f} at the end.\n")
    print("| runners | shard | items | wall | CPU |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    summary = {}
    for count, shards in layouts.items():
        for index, shard in enumerate(shards, start=1):
            print(f"| {count} | {index} | {shard['items']} | {shard['wall']:.1f} s | {shard['cpu']:.1f} s |")
        for key in ("wall", "cpu"):
            values = [s[key] for s in shards]
            mean = sum(values) / len(values)
            summary.setdefault(count, {})[key] = {"slowest": max(values), "imbalance": max(values) / mean - 1}
    print("\n| runners | slowest shard, wall | speed-up (wall) | imbalance (wall) | slowest shard, CPU | "
          "speed-up (CPU) | imbalance (CPU) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for count, numbers in summary.items():
        wall, cpu = numbers["wall"], numbers["cpu"]
        print(f"| {count} | {wall['slowest']:.1f} s | {summary[1]['wall']['slowest'] / wall['slowest']:.2f}x | "
              f"{wall['imbalance']:.0%} | {cpu['slowest']:.1f} s | {summary[1]['cpu']['slowest'] / cpu['slowest']:.2f}x"
              f" | {cpu['imbalance']:.0%} |")
    every = sorted(stored.values(), reverse=True)
    print(f"\nStored durations: {len(stored)} items, {sum(every):.1f} s in all; the slowest item {every[0]:.2f} s, "
          f"the median {every[len(every) // 2]:.2f} s.")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "layouts": layouts, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
