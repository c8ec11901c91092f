"""Benchmark (not a test): section 3's fuzz workload of ``bench/harness.py``, N timed runs on one boot.

    python bench/fuzz_workload.py ROOT RUNS    # one JSON line: {"tree", "median_ms", "times", "requests"}

``fuzz(booted, FuzzConfig(examples=100, checks=("fuzz",), shrink_time=0, seed=0))`` on ROOT's
``fixtures/fuzz/planted_bugs.py`` under ``Harness(sandbox="auto")``, primed by one untimed run.
To compare two versions of cwtest (issue 17's checks against the code before them), run it with
``PYTHONPATH=ROOT`` from each checkout in turn, alternating, several times: on a shared machine the
noise between boots (about 20%) is larger than most differences.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from cwtest.fuzz import FuzzConfig, fuzz
from cwtest.harness.runner import Harness


def main(root: Path, runs: int) -> dict[str, object]:
    path = root / "fixtures" / "fuzz" / "planted_bugs.py"
    times = []
    with Harness(sandbox="auto", timeout=60).boot(path) as booted:
        config = FuzzConfig(examples=100, checks=("fuzz",), shrink_time=0, seed=0)
        fuzz(booted, config)  # primed
        for _ in range(runs):
            booted.runtime.reset()
            started = time.perf_counter()
            report = fuzz(booted, config)
            times.append(time.perf_counter() - started)
    return {"tree": str(root), "median_ms": round(statistics.median(times) * 1000, 1),
            "times": [round(t * 1000) for t in times], "requests": report.requests}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]))))
