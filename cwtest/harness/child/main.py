"""The child's main: confine the process, connect to the parent, install the hooks, serve the workflow.

``main([_, CONFIG])`` reads the config the parent wrote (``cwtest.harness.process``) and, in order:

1. applies its confinement (``confine``: rlimits, Landlock when that is the layer, the seccomp
   program that denies new processes and ``execve``);
2. leaves exactly the environment the header declares (plus HOME and TMPDIR), and enters HOME;
3. connects to the parent's event socket, says ``hello``, and starts the command loop
   (``listen_parent``); installs the audit policy (``audit``);
4. routes httpx (``outbound``): the runtime's requests to the simulator's socket, every other
   request answered by a mock or a 599, never sent; points the runtime's host name at a loopback
   relay, and relays Redis (inside a network namespace only);
5. imports the workflow by path, finds its FastAPI object and serves it (``serve``).

Standard library only, Python 3.8+ (see ``protocol``).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
import threading

from . import audit, channel, confine, outbound, protocol, serve, stacks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List

#: The mocks outbound requests are answered with (the config's, then the parent's ``mock`` commands).
MOCKS: List[protocol.Mock] = []


def main(argv: List[str]) -> None:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    stacks.WORKFLOW = config["workflow"]
    warnings = confine.apply(config.get("confine") or {})
    scrub_environment(config["env"])
    os.chdir(config["home"])
    sock = channel.connect(config["events_socket"])
    channel.send(protocol.Hello(pid=os.getpid(), python=sys.version.split()[0], executable=sys.executable,
                                warnings=warnings))
    threading.Thread(target=listen_parent, args=(sock,), daemon=True, name="cwtest-events").start()
    faulthandler.enable(file=sys.stderr)
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, on_cpu_limit)
    audit.install(config)
    MOCKS.extend(protocol.Mock.from_json(m) for m in config.get("mocks") or [])
    try:
        import httpx
    except ImportError:
        pass
    else:
        outbound.install_httpx(httpx, outbound.ChildRouter(httpx, config["sim_base"], config["sim_socket"], MOCKS))
    relay_warning = outbound.route_runtime_name(config)
    if relay_warning:
        channel.send(protocol.SetupWarning(text=relay_warning))
    redis = config.get("redis")
    if redis and redis.get("relay"):  # inside a network namespace: 127.0.0.1:port -> the parent's relay
        outbound.start_relay(int(redis["port"]), redis["socket"], "redis")
    module = serve.import_workflow(config["module"], config["workflow"])
    try:
        name, app, names = serve.find_app(module)
    except serve.NoApp as exc:
        serve.fail("no-app", str(exc))
    serve.serve(app, name, names, config["app_socket"])


def scrub_environment(env: Dict[str, str]) -> None:
    for name in list(os.environ):
        if name not in env:
            del os.environ[name]
    for name, value in env.items():
        os.environ[name] = value


def listen_parent(sock: Any) -> None:
    """The parent's commands on the event socket (``protocol.PARENT`` messages).

    When the socket closes the parent is gone (or done with us): exit at once, so that no
    workflow outlives a killed cwtest, even outside bubblewrap's ``--die-with-parent``.
    """
    buffer = b""
    while True:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            os._exit(70)
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            try:
                command = protocol.decode(line, protocol.PARENT)
            except protocol.ProtocolError:
                continue  # only the parent writes here
            answer(command)


def answer(command: protocol.Message) -> None:
    if isinstance(command, protocol.StacksCommand):
        channel.send(protocol.Stacks(reason=command.reason, **stacks.collect_stacks(serve.loop)))
    elif isinstance(command, protocol.CountsCommand):  # the exact counts, before the parent ends us
        channel.send(channel.counts())
    elif isinstance(command, protocol.MockCommand):  # an answer for outbound requests, from now on
        MOCKS.append(command.mock)
        channel.send(protocol.Mocked(url=command.mock.url))


def on_cpu_limit(signum: int, frame: Any) -> None:
    channel.send(protocol.Stacks(reason="cpu", **stacks.collect_stacks(serve.loop)))
