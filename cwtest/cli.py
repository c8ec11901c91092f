"""``cwtest``'s command line. For now one command: ``cwtest serve``.

``cwtest serve`` runs the simulated runtime in the foreground until Ctrl-C, with its Redis, and
prints what a workflow needs to reach it, so a user can try a workflow by hand::

    CODEWORDS_RUNTIME_URI=http://127.0.0.1:PORT CODEWORDS_API_KEY=... python workflow.py

Exit codes follow cwlint's: 0 stopped normally, 2 usage or start-up error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from cwtest import __version__
from cwtest.simulator.records import mask
from cwtest.simulator.redis_server import RedisUnavailable, redis_available
from cwtest.simulator.runtime import SimulatedRuntime


def _apps(value: str) -> list[str]:
    return [app.strip() for app in value.split(",") if app.strip()]


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port (0-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cwtest", description="Test harness for CodeWords workflow scripts.")
    parser.add_argument("--version", action="version", version=f"cwtest {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the simulated CodeWords runtime until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="port to listen on (default: a free one)")
    serve.add_argument("--api-key", help="the key workflows must send (default: a new throwaway key)")
    serve.add_argument("--connected-apps", type=_apps, default=[], metavar="APP,APP",
                       help="pipedream apps the workflow declared (PIPEDREAM_<APP>_ACCESS), e.g. slack,hubspot")
    serve.add_argument("--seed", type=int, default=0, help="seed of the simulated answers (default: 0)")
    serve.add_argument("--no-redis", action="store_true", help="do not start redis-server for redis_client()")
    # `run` and `boot` parse their own arguments (cwtest.harness.cli); listed here for --help.
    commands.add_parser("run", add_help=False, help="boot each workflow in its sandbox, call every route, report")
    commands.add_parser("boot", add_help=False, help="start one workflow in its sandbox to try it by hand")
    commands.add_parser("record", add_help=False,
                        help="run a workflow's smoke calls once with real answers, written to a cassette")
    return parser


def serve(args: argparse.Namespace) -> int:
    runtime = SimulatedRuntime(api_key=args.api_key, seed=args.seed, connected_apps=args.connected_apps,
                               host=args.host, port=args.port)
    try:
        runtime.start()
    except OSError as exc:
        print(f"cwtest: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    redis_note = "off (--no-redis)"
    if not args.no_redis:
        if not redis_available():
            redis_note = "unavailable: install redis-server for redis_client(); the key-value form still works"
        else:
            try:
                credentials = runtime.redis_credentials()
                redis_note = f"rediss://{credentials.host}:{credentials.port} (namespace {credentials.namespace})"
            except RedisUnavailable as exc:
                redis_note = f"unavailable: {exc}"
    # A key the user chose may be a real one: show only its prefix. A generated key is a
    # throwaway test credential, and printing it is what makes the simulator usable by hand.
    key = mask(runtime.api_key) if args.api_key else runtime.api_key
    apps = ", ".join(sorted(runtime.connected_apps)) or "none (pipedream calls get 403)"
    print(f"cwtest simulated CodeWords runtime on {runtime.url}", flush=True)
    print(f"  CODEWORDS_RUNTIME_URI={runtime.url}")
    print(f"  CODEWORDS_API_KEY={key}")
    print(f"  redis: {redis_note}")
    print(f"  pipedream apps connected: {apps}")
    print("Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        violations = runtime.redis_violations()
        runtime.stop()
    for violation in violations:
        print(f"redis: refused {violation.command or violation.reason} on {violation.object!r} "
              f"(outside the namespace) x{violation.count}")
    print(f"stopped after {len(runtime.calls())} service calls", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("run", "boot", "record"):
        from cwtest.harness.cli import boot_main, record_main, run_main

        return {"run": run_main, "boot": boot_main, "record": record_main}[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2  # pragma: no cover - argparse rejects unknown commands first
