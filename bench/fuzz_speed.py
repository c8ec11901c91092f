"""Benchmark (not a test): examples per second of cwtest's fuzzer against Schemathesis' ``st run``.

Both fuzz ``fixtures/fuzz/planted_bugs.py`` (one POST route, a 7-field body with EmailStr,
HttpUrl, an Enum, bounds, a pattern and a list; every valid request that passes the planted bugs
calls the simulated ``openai``), in one run, side by side:

* ``cwtest in-process``: ``InProcessTarget`` (httpx.ASGITransport, simulator in-process), the
  fuzz check only, no shrinking; examples/s = valid requests generated, sent and checked per second.
* ``cwtest over HTTP``: the same engine against the app served by uvicorn on loopback (a plain
  HTTP target, no exception capture: it measures generation, transport and checks).
* ``st run``: ``st run URL -n N --phases fuzzing -m positive -c not_a_server_error --no-shrink
  --continue-on-failure`` against the same uvicorn-served app; examples/s = N / wall time of the
  command (its start-up, about 1 s, included, as a user sees it), and also per second of its own
  reported test time.

The served app and the in-process one both share httpx's SSL context (what the harness's child
does (child/outbound.py); without it each ``AsyncCodewordsClient`` costs ~80 ms and both tools drop to the
same ~12 requests/s). Run: ``/work/venv/bin/python bench/fuzz_speed.py [N]``.

``bench/harness.py`` imports ``served``, ``st_rate`` and ``cwtest_rate`` from here (the same
launcher and the same ``st run`` command, against the app served by the workflow's own environment).
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "fixtures" / "fuzz" / "planted_bugs.py"
ST = Path(sys.executable).with_name("st")

LAUNCHER = """
import functools, importlib.util, sys
import httpx._transports.default as default
default.create_ssl_context = functools.lru_cache(maxsize=None)(default.create_ssl_context)
spec = importlib.util.spec_from_file_location("planted_bugs", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
import uvicorn
uvicorn.run(module.app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HttpTarget:
    """The engine's Target over real HTTP (no exception capture): for timing only."""

    def __init__(self, base_url: str, runtime: Any) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30)
        self._runtime = runtime
        self._base = base_url
        self._schema = self.client.get("/openapi.json").json()

    schema = property(lambda self: self._schema)
    runtime = property(lambda self: self._runtime)
    base_url = property(lambda self: self._base)
    workflow_file = property(lambda self: str(WORKFLOW))

    def send(self, method: str, path: str, json_body: Any = None, headers: Mapping[str, str] | None = None,
             *, query: Mapping[str, Any] | None = None, form: Any = None, files: Any = None) -> Any:
        from cwtest.results import NO_BODY, Response

        started = time.perf_counter()
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": query}
        if json_body is not NO_BODY:
            kwargs["content"] = json.dumps(json_body, ensure_ascii=False).encode()
            kwargs["headers"]["content-type"] = "application/json"
        try:
            response = self.client.request(method, path, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # uvicorn closes a kept-alive connection after an app exception: once more, on a new one
            response = self.client.request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return Response(response.status_code, body, time.perf_counter() - started, (), dict(response.headers),
                       response.text)


def cwtest_rate(target: Any, examples: int, seed: int) -> tuple[float, int]:
    """(examples/s of the fuzz check, without shrinking; failures found) on any ``Target``."""
    from cwtest.fuzz import FuzzConfig, fuzz

    report = fuzz(target, FuzzConfig(seed=seed, examples=examples, checks=("fuzz",), shrink_time=0))
    stats = report.routes[0].search
    return stats.fuzz_requests / stats.fuzz_seconds, len(report.findings)


@contextmanager
def served(workflow: Path = WORKFLOW, python: str | Path = sys.executable) -> Iterator[tuple[str, Any, Path]]:
    """``workflow``'s app under uvicorn on a loopback port, against a fresh simulator.

    Yields (base URL, the ``SimulatedRuntime``, a scratch directory for ``st run``'s working
    directory). ``python`` is the interpreter that serves it (this one by default; ``bench/harness.py``
    passes the workflow's own uv environment).
    """
    from cwtest.simulator import SimulatedRuntime

    runtime = SimulatedRuntime().start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        launcher = Path(tmp) / "serve.py"
        launcher.write_text(LAUNCHER)
        env = {**os.environ, **runtime.env(), "LOGLEVEL": "WARNING"}
        server = subprocess.Popen([str(python), str(launcher), str(workflow), str(port)], env=env, cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/openapi.json").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"{workflow.name} was not served on {base} within 20 s")
            yield base, runtime, Path(tmp)
        finally:
            server.terminate()
            server.wait(timeout=10)
            runtime.stop()


def st_command(base: str, examples: int, seed: int) -> list[str]:
    """The ``st run`` command timed against cwtest's fuzz check (positive cases, no shrinking)."""
    return [str(ST), "run", f"{base}/openapi.json", "-n", str(examples), "--phases", "fuzzing",
            "-m", "positive", "-c", "not_a_server_error", "--no-shrink", "--continue-on-failure",
            "--seed", str(seed)]


def st_rate(base: str, examples: int, seed: int, cwd: Path) -> tuple[float, float | None, int, float]:
    """One ``st run``: (test cases per second of wall time, per second of its own reported test
    time or None, test cases, wall seconds). ``cwd``: st keeps a crash cache in its working directory."""
    started = time.perf_counter()
    result = subprocess.run(st_command(base, examples, seed), capture_output=True, text=True,
                            env={**os.environ, "NO_COLOR": "1"}, timeout=900, cwd=cwd, check=False)
    wall = time.perf_counter() - started
    sent = _st_cases(result.stdout) or examples
    inner = re.search(r"in ([\d.]+)s", result.stdout.splitlines()[-1] if result.stdout else "")
    return sent / wall, (sent / float(inner.group(1)) if inner else None), sent, wall


def main() -> None:
    from cwtest.fuzz import FuzzConfig, InProcessTarget, fuzz
    from cwtest.simulator import SimulatedRuntime

    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rows: list[tuple[str, str]] = []

    # cwtest in-process
    with InProcessTarget.from_path(WORKFLOW, SimulatedRuntime()) as target:
        fuzz(target, FuzzConfig(examples=20, checks=("fuzz",), shrink_time=0))  # warm-up
        rates = [cwtest_rate(target, examples, seed)[0] for seed in range(3)]
        started = time.perf_counter()
        report = fuzz(target, FuzzConfig(seed=0, checks=("fuzz",)))
        to_result = time.perf_counter() - started
    rows.append(("cwtest, in-process (ASGI), fuzz check, no shrinking",
                 f"{statistics.median(rates):.0f} examples/s (median of 3 runs of {examples})"))
    rows.append(("cwtest, in-process, default run (50 examples, 3 bugs shrunk)",
                 f"{to_result:.1f} s, {report.requests} requests, {len(report.findings)} findings"))

    # the served app, for cwtest over HTTP and for st run
    with served() as (base, runtime, tmp):
        http_target = HttpTarget(base, runtime)
        cwtest_rate(http_target, 20, 0)
        http_rates = [cwtest_rate(http_target, examples, seed)[0] for seed in range(3)]
        rows.append(("cwtest, over HTTP to uvicorn, fuzz check, no shrinking",
                     f"{statistics.median(http_rates):.0f} examples/s (median of 3)"))
        st_rates, st_inner = [], []
        for seed in range(3):
            wall_rate, inner_rate, _sent, _wall = st_rate(base, examples, seed, tmp)
            st_rates.append(wall_rate)
            if inner_rate is not None:
                st_inner.append(inner_rate)
        rows.append(("st run (Schemathesis 4 CLI), same served app, positive, no shrinking",
                     f"{statistics.median(st_rates):.0f} examples/s wall"
                     + (f" ({statistics.median(st_inner):.0f}/s of its own test time)" if st_inner else ""),
                     ))
        started = time.perf_counter()
        subprocess.run([str(ST), "run", f"{base}/openapi.json", "-n", "50", "--phases", "fuzzing", "-m",
                        "positive", "-c", "not_a_server_error", "--seed", "0"], capture_output=True, text=True,
                       timeout=900, cwd=tmp, check=False)  # st keeps a crash cache in its working directory
        note = "(stops at its first failure; 1 of the 3 bugs reported: same 500 body)"
        rows.append(("st run, default shrinking, 50 examples", f"{time.perf_counter() - started:.1f} s {note}"))
    width = max(len(name) for name, _ in rows)
    print(f"planted_bugs.py, {examples} examples per run, {os.cpu_count()} cores")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def _st_cases(output: str) -> int | None:
    match = re.search(r"(\d+) generated", output) or re.search(r"Test cases:\s*(\d+)", output)
    return int(match.group(1)) if match else None


if __name__ == "__main__":
    main()
