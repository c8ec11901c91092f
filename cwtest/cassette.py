"""Cassettes: a workflow's outside world, recorded once and replayed offline, in VCR.py's YAML format.

``cwtest record FILE`` runs the workflow's smoke calls (and ``--examples N``) once with real
answers: the sandbox still has no network, so the parent performs each outbound request the
child forwards (``perform``) and writes it here. ``cwtest run`` and the pytest plugin replay the
cassette beside a workflow, ``cassettes/<file stem>.yaml``, automatically; a request it does not
hold falls back to the default (refused).

The format is VCR.py's (``interactions``: ``request`` {method, uri, body, headers}, ``response``
{status {code, message}, headers, body {string}}; ``version: 1``), so users can read and edit
it, and pytest-recording users know it. Matching is VCR.py's default, method and URI; the
recorded answers of one (method, URI) are played in order, the last one repeated.

Secrets never reach the file:

* credential headers (``Authorization``, cookies, anything named like a key, token, secret or
  password) and query parameters named like credentials are ``REDACTED``;
* the values of the variables the workflow was given (``--env``, ``--env-file``) become
  ``{{NAME}}`` wherever they appear (URI, headers, bodies), which also makes a cassette replay
  with other values (the placeholders of a run without them);
* known key formats left in a text (``cwlint.secrets.redact``) are masked.

The live request is normalised the same way before it is matched.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from cwtest.outbound import OutsideAnswer, OutsideRequest

REDACTED = "REDACTED"
_CREDENTIAL = re.compile(r"auth|token|key|secret|passw|cookie|session|signature|^sig$|credential|^code$", re.I)
_NEVER = {"content-type", "content-length", "accept", "user-agent", "host", "accept-encoding", "connection"}
_TRIVIAL = {"true", "false", "none", "null", "0", "1", "yes", "no", "on", "off"}


def cassette_path(workflow: Path) -> Path:
    """Where the cassette of ``workflow`` lives: ``cassettes/<stem>.yaml`` beside it."""
    return workflow.resolve().parent / "cassettes" / f"{workflow.stem}.yaml"


class Cassette:
    """The recorded interactions of one workflow, normalised and redacted as the module docstring says."""

    def __init__(self, path: Path, env: dict[str, str], interactions: list[dict[str, Any]] | None = None,
                 recording: bool = False) -> None:
        self.path = path
        self.recording = recording
        #: value -> name: the workflow's variables worth hiding (long enough to be a value, not a flag).
        self._env = {v: n for n, v in env.items()
                     if v and len(v) >= 6 and v.lower() not in _TRIVIAL
                     and n not in ("HOME", "TMPDIR", "CODEWORDS_RUNTIME_URI", "RUNTIME_URI")}
        self.interactions: list[dict[str, Any]] = list(interactions or [])
        self._cursor: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self.played = 0
        self.recorded = 0

    @classmethod
    def load(cls, path: Path, env: dict[str, str], recording: bool = False) -> Cassette:
        interactions: list[dict[str, Any]] = []
        if path.is_file() and not recording:
            import yaml

            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict) or not isinstance(data.get("interactions", []), list):
                raise ValueError(f"{path}: not a cassette (a mapping with 'interactions')")
            interactions = [i for i in data.get("interactions") or [] if isinstance(i, dict)]
        return cls(path, env, interactions, recording)

    # --- normalising -------------------------------------------------------------------------------

    def hide(self, text: str) -> str:
        """``text`` with every injected env value as ``{{NAME}}`` and known key formats masked."""
        for value in sorted(self._env, key=len, reverse=True):
            text = text.replace(value, "{{" + self._env[value] + "}}")
        from cwlint.secrets import redact

        return redact(text)

    def uri(self, url: str) -> str:
        """The URI as the cassette holds it: env values hidden, credential query values ``REDACTED``."""
        url = self.hide(url)
        parts = urlsplit(url)
        if not parts.query:
            return url
        query = [(k, REDACTED if _CREDENTIAL.search(k) and "{{" not in v else v)
                 for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        return urlunsplit(parts._replace(query=urlencode(query, safe="{}")))

    def headers(self, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in headers:
            lower = name.lower()
            if lower.startswith("x-cwtest"):
                continue
            shown = REDACTED if lower not in _NEVER and _CREDENTIAL.search(lower) else self.hide(value)
            out.setdefault(name, []).append(shown)
        return out

    # --- replay and record -------------------------------------------------------------------------

    def play(self, request: OutsideRequest) -> OutsideAnswer | None:
        """The recorded answer for ``request`` (method and URI), or None."""
        from cwtest.outbound import OutsideAnswer

        key = (request.method.upper(), self.uri(request.url))
        with self._lock:
            matches = [i for i in self.interactions
                       if str(i.get("request", {}).get("method", "")).upper() == key[0]
                       and i.get("request", {}).get("uri") == key[1]]
            if not matches:
                return None
            index = self._cursor.get(key, 0)
            self._cursor[key] = index + 1
            self.played += 1
        response = matches[min(index, len(matches) - 1)].get("response") or {}
        status = response.get("status") or {}
        body = (response.get("body") or {}).get("string") or ""
        headers = tuple((k, str(v)) for k, values in (response.get("headers") or {}).items()
                        for v in (values if isinstance(values, list) else [values]))
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        return OutsideAnswer(int(status.get("code", 200)), headers, data, "cassette", str(status.get("message", "")))

    def record(self, request: OutsideRequest, answer: OutsideAnswer) -> None:
        """Add one interaction (redacted) to be written by ``save``."""
        body = request.body.decode("utf-8", "replace") if request.body else None
        text = answer.body.decode("utf-8", "replace")
        interaction = {
            "request": {"method": request.method.upper(), "uri": self.uri(request.url),
                        "body": self.hide(body) if body else None, "headers": self.headers(request.headers)},
            "response": {"status": {"code": answer.status, "message": answer.reason},
                         "headers": self.headers([(k, v) for k, v in answer.headers
                                                  if k.lower() not in ("content-encoding", "transfer-encoding",
                                                                       "content-length")]),
                         "body": {"string": self.hide(text)}},
        }
        with self._lock:
            self.interactions.append(interaction)
            self.recorded += 1

    def save(self) -> None:
        import yaml

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump({"interactions": self.interactions, "version": 1}, sort_keys=False,
                              allow_unicode=True, width=120)
        self.path.write_text(text, encoding="utf-8")


def perform(request: OutsideRequest) -> OutsideAnswer:
    """Perform one outbound request from cwtest's process (``cwtest record``) and return its answer."""
    import httpx

    from cwtest.outbound import OutsideAnswer

    headers = [(k, v) for k, v in request.headers if k.lower() not in ("host", "content-length",
                                                                       "transfer-encoding", "connection")]
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        response = client.request(request.method, request.url, headers=headers, content=request.body or None)
        body = response.read()
    headers_out = tuple((k, v) for k, v in response.headers.multi_items()
                        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding"))
    return OutsideAnswer(response.status_code, headers_out, body, "recorded", response.reason_phrase)


# --- the runtime's side: library-service calls recorded against a real runtime, replayed by the simulator


def runtime_proxy(real_url: str, api_key: str, cassette: Cassette, sim_base: str) -> Any:
    """An ASGI app for ``ctl/sim.sock`` in a recording run with ``--runtime URL``: each library-service
    call goes to the real runtime, with the real key instead of the sandbox's, and is recorded under
    ``sim_base`` (the URI the workflow used)."""
    import asyncio

    from cwtest.outbound import OutsideRequest, http_body

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await http_body(scope, receive, send)
        if body is None:
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + (f"?{query}" if query else "")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])
                   if k.lower() not in (b"authorization", b"host", b"content-length")]
        headers.append(("authorization", f"Bearer {api_key}"))
        request = OutsideRequest("runtime", scope["method"], real_url.rstrip("/") + target, tuple(headers), body)
        try:
            answer = await asyncio.to_thread(perform, request)
        except Exception as exc:  # noqa: BLE001 - the real runtime did not answer: the workflow sees a 502
            payload = json.dumps({"detail": f"cwtest record: the runtime did not answer ({exc})"}).encode()
            await send({"type": "http.response.start", "status": 502,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload})
            return
        recorded = OutsideRequest("runtime", scope["method"], sim_base.rstrip("/") + target, tuple(headers), body)
        cassette.record(recorded, answer)
        out = [(k.encode("latin-1", "replace"), v.encode("latin-1", "replace")) for k, v in answer.headers
               if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")]
        out.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})

    import json

    return app


def script_runtime(runtime: Any, cassette: Cassette, sim_base: str) -> int:
    """Script the simulator with the library-service answers the cassette holds (each endpoint's in
    order, the last one repeated; faults the search injects still take precedence while injected).
    Returns how many endpoints were scripted."""
    import json

    from cwtest.simulator.script import Reply

    prefix = sim_base.rstrip("/") + "/run/"
    answers: dict[tuple[str, str], list[Any]] = {}
    for interaction in cassette.interactions:
        uri = str(interaction.get("request", {}).get("uri", ""))
        if not uri.startswith(prefix):
            continue
        service, _, path = uri[len(prefix):].split("?")[0].partition("/")
        response = interaction.get("response") or {}
        try:
            body = json.loads((response.get("body") or {}).get("string") or "null")
        except ValueError:
            continue
        status = int((response.get("status") or {}).get("code", 200))
        answers.setdefault((service, path.strip("/")), []).append(Reply(body, status))
    for (service, path), replies in answers.items():
        played = iter(range(len(replies)))

        def answer(_request: Any, replies: list[Any] = replies, played: Any = played) -> Any:
            index = next(played, len(replies) - 1)
            cassette.played += 1
            return replies[index]

        runtime.script(service, path or None).using(answer)
    return len(answers)
