"""Time `cwlint server` against `ruff server`, side by side, on the same buffers.

    pip install -e '.[bench]'              # ruff, and the server extra (pygls, lsprotocol)
    python bench/lsp.py                    # 50 edits of a 300-line workflow, medians
    python bench/lsp.py --edits 100 --json lsp.json

Both servers run at once, each as its own process over stdio, driven by the same small
hand-written client (Content-Length framing, no LSP library: the client's own cost is the
same for both and small). The client declares no pull support, so both servers push
diagnostics. After opening the buffer and a few untimed edits (imports, caches), each edit
is sent to one server, then to the other, and for each the time from writing `didChange`
to reading the `publishDiagnostics` that answers it is recorded. An edit adds a line that
reads an undefined name of its own (`value_7 = undefined_7`), which both report (cwlint's
CW207, ruff's F821); the answer to an edit is the first publication naming its name, so a
late answer to an earlier edit is never taken for it.

The buffer is a workflow of about 300 lines made from two fixtures: the design page's
support_ticket_analyzer.py, then lead_research_agent.py's imports and top-level blocks, whole,
as long as they fit. Edits are whole-document changes (cwlint's server takes only those: see
cwlint/lsp/server.py; ruff takes them too).

"CPU per edit" is the server process's CPU time (all threads, from /proc/PID/task/*/schedstat)
spent between sending an edit and reading its answer: on a shared machine the wall time
follows the load, the CPU time much less.

Not a test: nothing asserts. The target (issue 18) is a median under 50 ms for cwlint.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0


def workflow(lines: int = 300) -> str:
    """A workflow of at most ``lines`` lines, near it, from two fixtures (whole blocks only)."""
    base = (ROOT / "fixtures" / "design" / "support_ticket_analyzer.py").read_text(encoding="utf-8")
    extra = (ROOT / "fixtures" / "clean" / "lead_research_agent.py").read_text(encoding="utf-8")
    head, _, body = extra.partition("\nclass ")
    imports = [line for line in head.splitlines() if line.startswith(("import ", "from ")) and line not in base]
    out = base.replace("\nfrom pydantic", "\n" + "\n".join(imports) + "\nfrom pydantic", 1)
    for block in re.split(r"\n(?=(?:async def|def|class) )", "class " + body):
        block = block.strip("\n")
        if block.startswith(("app =", "if __name__")) or out.count("\n") + block.count("\n") + 3 > lines:
            break
        out = out.rstrip("\n") + "\n\n\n" + block + "\n"
    return out


def edited(text: str, number: int) -> str:
    """``text`` with a line in its middle, at module level, that reads ``undefined_<number>``."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    at = next(i for i in range(middle, len(lines)) if lines[i].startswith(("def ", "async def ", "@", "class ")))
    return "".join(lines[:at] + [f"value_{number} = undefined_{number}\n\n\n"] + lines[at:])


class Client:
    """A minimal LSP client over a server's stdin/stdout."""

    def __init__(self, name: str, command: list[str], cwd: Path, stderr: bool = False) -> None:
        self.name = name
        self.stderr = stderr
        self.command = command
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None
        self.ids = 0
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.published: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *self.command, cwd=self.cwd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=None if self.stderr else asyncio.subprocess.DEVNULL,
        )
        self.reader = asyncio.create_task(self._read())

    def send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def request(self, method: str, params: Any) -> Any:
        self.ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[self.ids] = future
        self.send({"id": self.ids, "method": method, "params": params})
        return await asyncio.wait_for(future, 60)

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        while True:
            length = 0
            while True:
                line = await stdout.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(await stdout.readexactly(length))
            arrived = time.perf_counter()
            if "method" in message and "id" in message:  # a request from the server: answer it plainly
                items = (message.get("params") or {}).get("items")
                self.send({"id": message["id"], "result": [None] * len(items) if items is not None else None})
            elif message.get("method") == "textDocument/publishDiagnostics":
                self.published.put_nowait((arrived, message["params"]))
            elif "id" in message and message["id"] in self.waiting:
                self.waiting.pop(message["id"]).set_result(message.get("result"))

    async def answer(self, uri: str, marker: str | None, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        """The first publication for ``uri`` that names ``marker`` (any, when None)."""
        deadline = time.perf_counter() + timeout
        while True:
            arrived, params = await asyncio.wait_for(self.published.get(), max(0.001, deadline - time.perf_counter()))
            if params["uri"] != uri:
                continue
            if marker is None or any(marker in d["message"] for d in params["diagnostics"]):
                return arrived, params

    async def stop(self) -> None:
        try:
            await self.request("shutdown", None)
            self.notify("exit", None)
            assert self.process is not None
            await asyncio.wait_for(self.process.wait(), 10)
        except (TimeoutError, ConnectionError, AssertionError):
            if self.process is not None and self.process.returncode is None:
                self.process.kill()
        if self.reader is not None:
            self.reader.cancel()


def cpu_ns(pid: int) -> int | None:
    """CPU time of every thread of ``pid`` so far, in nanoseconds (Linux: /proc/PID/task/*/schedstat)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as handle:
                total += int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total


async def run(edits: int, warmup: int, lines: int, cwlint_command: list[str] | None = None,
              stderr: bool = False) -> dict[str, Any]:
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        raise SystemExit("ruff is not installed: pip install -e '.[bench]'")
    commands = {
        "cwlint server": cwlint_command or [sys.executable, "-m", "cwlint", "server"],
        "ruff server": [ruff, "server"],
    }
    text = workflow(lines)
    with tempfile.TemporaryDirectory(prefix="cwlint-lsp-bench-") as folder:
        root = Path(folder)
        (root / "workflow.py").write_text(text, encoding="utf-8")
        uri = (root / "workflow.py").as_uri()
        clients = [Client(name, command, root, stderr) for name, command in commands.items()]
        timings: dict[str, list[float]] = {c.name: [] for c in clients}
        cpu: dict[str, list[float]] = {c.name: [] for c in clients}
        first: dict[str, float] = {}
        codes: dict[str, list[str]] = {}
        for client in clients:
            await client.start()
            await client.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {},
                                                "workspaceFolders": [{"uri": root.as_uri(), "name": "bench"}]})
            client.notify("initialized", {})
            started = time.perf_counter()
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
            arrived, params = await client.answer(uri, None, timeout=60)
            first[client.name] = (arrived - started) * 1000
            codes[client.name] = sorted({str(d.get("code")) for d in params["diagnostics"]})
        for number in range(warmup + edits):
            buffer = edited(text, number)
            for client in clients:
                assert client.process is not None
                before = cpu_ns(client.process.pid)
                started = time.perf_counter()
                client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": number + 2},
                                                          "contentChanges": [{"text": buffer}]})
                arrived, _ = await client.answer(uri, f"undefined_{number}")
                after = cpu_ns(client.process.pid)
                if number >= warmup:
                    timings[client.name].append((arrived - started) * 1000)
                    if before is not None and after is not None:
                        cpu[client.name].append((after - before) / 1e6)
        for client in clients:
            await client.stop()
    return {"lines": text.count("\n"), "edits": edits, "first": first, "codes": codes, "timings": timings, "cpu": cpu}


def report(data: dict[str, Any]) -> str:
    rows = [
        f"`didChange` -> `publishDiagnostics`, {data['edits']} edits of a {data['lines']}-line workflow "
        f"(Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}):",
        "",
        "| Server | Median | p90 | Min | Max | CPU per edit (median) | Open -> first diagnostics |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, values in data["timings"].items():
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        cpu = f"{statistics.median(data['cpu'][name]):.1f} ms" if data["cpu"][name] else "n/a"
        rows.append(f"| `{name}` | {statistics.median(values):.1f} ms | {p90:.1f} ms | {values[0]:.1f} ms | "
                    f"{values[-1]:.1f} ms | {cpu} | {data['first'][name]:.0f} ms |")
    ours = statistics.median(data["timings"]["cwlint server"])
    verdict = "met" if ours < TARGET_MS else "missed"
    rows += ["", f"Target: cwlint's median under {TARGET_MS:.0f} ms: {verdict} ({ours:.1f} ms)."]
    for name, found in data["codes"].items():
        rows.append(f"Codes on open, {name}: {', '.join(found) or 'none'}.")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument("--cwlint-command", help="run this instead of `python -m cwlint server` (a profiler's wrapper)")
    parser.add_argument("--stderr", action="store_true", help="show the servers' stderr")
    args = parser.parse_args()
    command = args.cwlint_command.split() if args.cwlint_command else None
    data = asyncio.run(run(args.edits, args.warmup, args.lines, command, args.stderr))
    print(report(data))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
