"""Helpers of cwtest's tests: client environments' workers, subprocess runs, sample inputs.

Kept out of ``conftest.py`` so that test modules import them by a name no other test directory
uses (pytest's default import mode puts every test directory on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwtest import SimulatedRuntime

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCENARIOS = HERE / "clients" / "scenarios.py"


SAMPLE_VALUES = {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "object": {}, "array": [], "any": "x"}


def minimal_inputs(variant: Any) -> dict[str, Any]:
    """The smallest inputs a catalog variant accepts: its required keys, with values of their type.

    A pipedream-like variant gets ``slack``, an app the ``runtime`` fixture connects.
    """
    inputs = {k: (spec.allowed[0] if spec.allowed else SAMPLE_VALUES[spec.type])
              for k, spec in variant.inputs.items() if spec.required or spec.required_when}
    if variant.env_from_input is not None:
        inputs[variant.env_from_input.input] = "slack"
    return inputs


class ScenarioWorker:
    """A long-lived ``scenarios.py --serve`` process of one client environment.

    Importing codewords_client with the vendor SDKs takes seconds; the worker pays that once.
    A scenario that hangs past its timeout kills the worker, which restarts on the next use.
    """

    def __init__(self, python: Path) -> None:
        self.python = python
        self._process: subprocess.Popen[str] | None = None
        self._results: queue.Queue[str] = queue.Queue()

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [str(self.python), str(SCENARIOS), "--serve"], env=clean_env({}), cwd=REPO,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            self._results = queue.Queue()
            threading.Thread(target=self._read, args=(self._process, self._results), daemon=True).start()
            threading.Thread(target=self._drain, args=(self._process,), daemon=True).start()
        return self._process

    @staticmethod
    def _read(process: subprocess.Popen[str], results: queue.Queue[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("RESULT "):
                results.put(line[len("RESULT "):])
        results.put("")  # the worker died

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stderr is not None
        self.stderr_tail: list[str] = []
        for line in process.stderr:
            self.stderr_tail = (self.stderr_tail + [line])[-60:]

    def run(self, name: str, params: dict[str, Any], env: dict[str, str], cwd: Path, timeout: float) -> Any:
        process = self._start()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"name": name, "params": params, "env": env, "cwd": str(cwd)}) + "\n")
        process.stdin.flush()
        try:
            line = self._results.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise AssertionError(f"scenario {name} did not finish in {timeout} s") from None
        if not line:
            raise AssertionError(f"the scenario worker died:\n{''.join(getattr(self, 'stderr_tail', []))}")
        outcome = json.loads(line)
        if "crash" in outcome:
            raise AssertionError(f"scenario {name} crashed:\n{outcome['crash']}")
        return outcome["result"]

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None


@dataclass(frozen=True)
class ClientEnv:
    """One built environment: its interpreter, the client version it holds, and its worker."""

    version: str
    python: Path
    worker: ScenarioWorker

    @property
    def at_least_0_4(self) -> bool:
        return tuple(int(p) for p in self.version.split(".")) >= (0, 4)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """Only what a process needs, so no credential of the developer's shell reaches the client."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    return {**keep, "LOGLEVEL": "INFO", **extra}


def run_python(python: Path, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run([str(python), *args], env=clean_env(env), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{args[:2]} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def run_scenario(env: ClientEnv, runtime: SimulatedRuntime, cwd: Path, name: str, deadline: float = 60,
                 **params: Any) -> Any:
    """Run one client scenario in the client environment's worker; returns the scenario's result."""
    return env.worker.run(name, params, {**runtime.env(), "HOME": str(cwd)}, cwd, deadline)
