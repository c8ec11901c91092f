"""The child's main: confine the process, connect to the parent, install the hooks, serve the workflow.

``main([_, CONFIG])`` reads the config the parent wrote (``cwtest.harness.process``) and, in order:

1. connects to the parent's event socket (before the identity switch: its directory is cwtest's);
2. applies its confinement (``confine``: rlimits, the unprivileged identity when cwtest runs as
   root and the loss of every capability, Landlock when that is the layer, the seccomp program
   that denies new processes and ``execve``), then adds the environment's site-packages
   (``site.main()``: the interpreter started with ``-S``), so that a dependency's ``.pth`` file
   runs confined like the workflow;
3. leaves exactly the environment the header declares (plus HOME and TMPDIR), and enters HOME;
   says ``hello``, and starts the command loop (``listen_parent``); installs the audit policy
   (``audit``);
4. routes httpx, requests, urllib and aiohttp (``outbound``): the runtime's requests to the
   simulator's socket, every other request to the parent's outside world (``ctl/outside.sock``),
   never sent from here; points the runtime's host name at a loopback relay (where the layer allows
   a listener), marks the errors of refused connections as cwtest's stand-ins, and relays Redis
   (inside a network namespace only);
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
    from types import ModuleType
    from typing import Any, Dict, List, Optional

def main(argv: List[str]) -> None:
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    stacks.WORKFLOW = config["workflow"]
    sock = channel.connect(config["events_socket"])
    observer = config.get("observer")
    handoff = None
    if observer:  # connected now: its directory is cwtest's, and connect() will be watched
        import socket as _socket

        handoff = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        handoff.connect(observer["socket"])
    stacks.PLACEHOLDERS.update({value: name for name, value in (config.get("placeholders") or {}).items()})
    warnings = confine.apply(config.get("confine") or {})
    if handoff is not None:
        warnings += watch_from_outside(handoff, observer)
    import site

    site.main()  # the environment's site-packages and .pth files, confined
    scrub_environment(config["env"])
    os.chdir(config["home"])
    channel.send(protocol.Hello(pid=os.getpid(), python=sys.version.split()[0], executable=sys.executable,
                                warnings=warnings))
    threading.Thread(target=listen_parent, args=(sock,), daemon=True, name="cwtest-events").start()
    faulthandler.enable(file=sys.stderr)
    if hasattr(signal, "SIGXCPU"):
        signal.signal(signal.SIGXCPU, on_cpu_limit)
    audit.install(config)
    httpx: Optional[ModuleType]
    try:
        import httpx
    except ImportError:
        httpx = None
    router = outbound.ChildRouter(httpx, config["sim_base"], config["sim_socket"], config["outside_socket"])
    if httpx is not None:
        outbound.install_httpx(httpx, router)
    outbound.install_clients(router)
    relay_warning = outbound.route_runtime_name(config) if config.get("runtime_relay", True) else \
        "only the routed clients (httpx, requests, urllib, aiohttp) reach the simulated runtime (no loopback " \
        "relay: this layer allows no TCP listener)"
    if relay_warning:
        channel.send(protocol.SetupWarning(text=relay_warning))
    outbound.mark_refused_connections(config)
    redis = config.get("redis")
    if redis and redis.get("relay"):  # inside a network namespace: 127.0.0.1:port -> the parent's relay
        outbound.start_relay(int(redis["port"]), redis["socket"], "redis")
    quiet_processor_query()
    module = serve.import_workflow(config["module"], config["workflow"])
    try:
        name, app, names = serve.find_app(module)
    except serve.NoApp as exc:
        serve.fail("no-app", str(exc))
    serve.serve(app, name, names, config["app_socket"], config.get("watch"))


def watch_from_outside(handoff: Any, observer: Dict[str, str]) -> List[str]:
    """Install the observer's seccomp program and hand its listener to the parent, which from now
    on sees (and answers) every connect, bind, write to a path and attempt to start a process; where
    that cannot be done, refuse process creation with the fallback program instead."""
    import array
    import socket as _socket

    with open(observer["program"], "rb") as handle:
        program = handle.read()
    try:
        fd = confine.install_notifier(program)
    except (OSError, RuntimeError) as exc:
        with open(observer["fallback"], "rb") as handle:
            confine.load_seccomp_program(handle.read())
        handoff.close()
        return ["no observation from outside the workflow's process (%s): its reports alone say what it tried" % exc]
    handoff.sendmsg([b"n"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [fd]))])
    handoff.close()
    os.close(fd)
    return []


def quiet_processor_query() -> None:
    """``platform.processor()`` runs ``uname -p`` on Linux (the OpenAI SDK asks at every client);
    the sandbox refuses the process and ``platform`` falls back to ``""``. Answer ``""`` at once
    instead: the same result, and no attempt to start a process that is not the workflow's."""
    import platform

    processor = getattr(platform, "_Processor", None)
    if processor is not None and sys.platform.startswith("linux"):
        processor.get_linux = staticmethod(lambda: "")


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


def on_cpu_limit(signum: int, frame: Any) -> None:
    channel.send(protocol.Stacks(reason="cpu", **stacks.collect_stacks(serve.loop)))
