"""The engine's parts that need no workflow: the per-thread shrink cap, and no Hypothesis for --examples 0."""

from __future__ import annotations

import subprocess
import sys
import threading

from hypothesis.internal.conjecture import engine as conjecture_engine


def test_the_shrink_cap_is_read_per_thread_and_never_swapped() -> None:
    from cwtest.fuzz.search import _PerThreadSeconds

    installed = conjecture_engine.MAX_SHRINKING_SECONDS
    assert isinstance(installed, _PerThreadSeconds)
    seen: dict[str, float] = {}
    barrier = threading.Barrier(2)

    def run(name: str, seconds: float) -> None:
        _PerThreadSeconds.local.seconds = seconds
        barrier.wait()  # both threads have set their cap before either reads it
        # what Hypothesis computes when shrinking starts: time.perf_counter() + MAX_SHRINKING_SECONDS
        seen[name] = 100.0 + conjecture_engine.MAX_SHRINKING_SECONDS
        del _PerThreadSeconds.local.seconds

    threads = [threading.Thread(target=run, args=("a", 1.0)), threading.Thread(target=run, args=("b", 7.0))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"a": 101.0, "b": 107.0}
    assert conjecture_engine.MAX_SHRINKING_SECONDS is installed  # the same object all along
    assert 100.0 + installed == 100.0 + float(installed)  # other callers get Hypothesis' own default


def test_the_smoke_calls_alone_import_no_hypothesis() -> None:
    code = ("import sys\n"
            "import cwtest.harness.cli, cwtest.harness.fuzzing, cwtest.harness.report\n"
            "from cwtest.fuzz.engine import Fuzzer, FuzzConfig\n"
            "from cwtest.fuzz import FuzzConfig as again\n"
            "print('hypothesis' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", done.stdout + done.stderr
