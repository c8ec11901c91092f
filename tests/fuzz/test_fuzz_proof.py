"""Proof that the search is real: three planted bugs found with the default 50 examples, seed after seed.

Also: a seed reproduces a run exactly, and the example database replays failures first.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
from cwtest.simulator import SimulatedRuntime

PLANTED = Path(__file__).resolve().parents[2] / "fixtures" / "fuzz" / "planted_bugs.py"
PLANTED_TYPES = ["IndexError", "KeyError", "UnicodeEncodeError"]


@pytest.fixture(scope="module")
def target():
    with InProcessTarget.from_path(PLANTED, SimulatedRuntime()) as opened:
        yield opened


def summary(report) -> list[tuple[str, str | None, dict]]:
    return [(f.exception.type if f.exception else f.kind, f.location, f.repro.request.as_json()) for f in report.findings]


def test_three_planted_bugs_are_found_with_50_examples_for_9_of_10_seeds(target: InProcessTarget) -> None:
    started = time.perf_counter()
    found_all = []
    for seed in range(10):
        report = fuzz(target, FuzzConfig(seed=seed, checks=("fuzz",)))  # default: 50 examples, 10 s shrinking
        assert sum(r.search.fuzz_requests for r in report.routes) >= 50
        by_type = {f.exception.type: f for f in report.findings if f.exception}
        found_all.append(sorted(by_type) == PLANTED_TYPES)
        # each bug shrinks to the input that names it
        if "KeyError" in by_type:
            assert by_type["KeyError"].repro.shrunk and by_type["KeyError"].repro.request.json_body["plan"] == "enterprise"
        if "IndexError" in by_type:
            assert by_type["IndexError"].repro.shrunk and by_type["IndexError"].repro.request.json_body["seats"] == 500
        if "UnicodeEncodeError" in by_type:
            failure = by_type["UnicodeEncodeError"]
            assert failure.repro.shrunk and not failure.repro.request.json_body["company"].isascii()
            assert failure.location == f"{PLANTED}:70"
    assert sum(found_all) >= 9, found_all
    assert time.perf_counter() - started < 120


def test_every_check_on_the_planted_workflow_reports_exactly_the_three_bugs(target: InProcessTarget) -> None:
    report = fuzz(target, FuzzConfig(seed=3, shrink_time=2.0))
    assert sorted(f.exception.type for f in report.findings) == PLANTED_TYPES
    assert {f.check for f in report.findings} == {"fuzz"}
    stats = report.routes[0].search
    assert stats.invalid_requests == 50 and stats.statuses["invalid"] == {"4xx": 50}
    assert len(stats.faults_injected) == 6  # openai: http_error, timeout, unsuccessful, malformed, 2 LLM answers
    assert stats.statuses["faults"] == {"2xx": 6}  # the welcome note falls back on every fault


def test_a_seed_reproduces_a_run(target: InProcessTarget) -> None:
    # shrinking to the end (the cap is wall-clock time: a loaded machine would stop it earlier)
    first = fuzz(target, FuzzConfig(seed=7, checks=("fuzz", "invalid"), shrink_time=60.0))
    again = fuzz(target, FuzzConfig(seed=7, checks=("fuzz", "invalid"), shrink_time=60.0))
    other = fuzz(target, FuzzConfig(seed=8, checks=("fuzz", "invalid"), shrink_time=0))
    assert summary(first) == summary(again) and first.requests == again.requests
    assert [r.search.statuses for r in first.routes] == [r.search.statuses for r in again.routes]
    assert [f.count for f in first.findings] != [f.count for f in other.findings] or first.requests != other.requests


def test_failures_are_kept_in_the_example_database_and_retried_first(target: InProcessTarget, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = fuzz(target, FuzzConfig(seed=1, checks=("fuzz",), cache_dir=cache))
    assert sorted(f.exception.type for f in first.findings) == PLANTED_TYPES
    assert any((cache / "examples").iterdir())
    # One example of budget, another seed: only the database can bring the three bugs back.
    replayed = fuzz(target, FuzzConfig(seed=99, checks=("fuzz",), examples=1, cache_dir=cache, shrink_time=0))
    assert sorted(f.exception.type for f in replayed.findings) == PLANTED_TYPES
    assert summary(replayed) == summary(first)  # the minimal inputs, as saved
    assert all(f.repro.shrunk for f in replayed.findings)
    without = fuzz(target, FuzzConfig(seed=99, checks=("fuzz",), examples=1, shrink_time=0))
    assert len(without.findings) < 3
    # read-only (pytest-xdist workers): replays, writes nothing
    before = sorted(p.name for p in (cache / "examples").rglob("*"))
    fuzz(target, FuzzConfig(seed=5, checks=("fuzz",), cache_dir=cache, readonly_database=True, shrink_time=1.0))
    assert sorted(p.name for p in (cache / "examples").rglob("*")) == before
