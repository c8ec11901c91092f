"""A real redis-server on loopback, with TLS, for ``codewords_client.redis_client()``.

``redis_client()`` asks ``redis_coordinator`` (no body) for credentials and connects with
``ssl=True, ssl_cert_reqs="none"`` (research A12). A fake would not show what the workflow's
Redis commands really do, so the simulator starts Debian's ``redis-server`` 7 with a TLS port and
a self-signed certificate made by ``openssl``.

Each run gets its own ACL user whose keys are limited to ``<namespace>:*``: that is what the
``":*"`` suffix of the platform's ``namespace`` looks like, and it turns an un-prefixed key into
a ``NOPERM`` error the workflow sees, which Redis also writes to ``ACL LOG``. The simulator
reads that log to report the keys a workflow tried outside its namespace.

The simulator itself talks to the server over a Unix socket as an admin user; the default user
is off, so the TLS port accepts only the per-run users. The admin's password never sits in a file
or on a command line: redis-server reads that one line of its configuration from its stdin
(``redis-server redis.conf -``), so no workflow can read it from another run's directory, and the
per-run users may run no admin command (``ACL LOG RESET`` included).
"""

from __future__ import annotations

import atexit
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REDIS_BINARY = "redis-server"
INSTALL_HINT = "install Debian's redis-server (apt-get install redis-server)"


class RedisUnavailable(RuntimeError):
    """redis-server (or openssl) is missing, or the server did not start; the message says which."""


@dataclass(frozen=True)
class RedisCredentials:
    """What ``redis_coordinator`` answers with no body; the keys ``redis_client()`` reads."""

    host: str
    port: int
    user: str
    password: str
    namespace: str

    def as_response(self) -> dict[str, Any]:
        return {
            "redis_host": self.host,
            "redis_port": self.port,
            "redis_user": self.user,
            "redis_password": self.password,
            "namespace": f"{self.namespace}:*",
        }


@dataclass(frozen=True)
class RedisViolation:
    """A command a run's user was refused, from ``ACL LOG``: usually a key outside the namespace."""

    user: str
    reason: str
    command: str
    object: str
    count: int


def redis_available() -> bool:
    return shutil.which(REDIS_BINARY) is not None and shutil.which("openssl") is not None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


class RedisServer:
    """One redis-server process: TLS on a loopback port, admin on a Unix socket."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.port: int | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._admin_password = secrets.token_hex(16)
        self._admin: Any = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def socket_path(self) -> Path:
        assert self._dir is not None
        return Path(self._dir.name) / "admin.sock"

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        if not redis_available():
            raise RedisUnavailable(f"redis-server or openssl not found: {INSTALL_HINT}")
        self._dir = tempfile.TemporaryDirectory(prefix="cwtest-redis-")
        work = Path(self._dir.name)
        try:
            cert, key = _make_certificate(work)
        except subprocess.CalledProcessError as exc:
            raise RedisUnavailable(f"openssl could not make a certificate: {exc.stderr.decode()[-300:]}") from None
        for _attempt in range(3):
            self.port = _free_port()
            config = work / "redis.conf"
            config.write_text(
                "\n".join([
                    "bind 127.0.0.1", "port 0", f"tls-port {self.port}",
                    f"tls-cert-file {cert}", f"tls-key-file {key}", f"tls-ca-cert-file {cert}",
                    "tls-auth-clients no", f"unixsocket {self.socket_path}", "unixsocketperm 700",
                    f"dir {work}", 'save ""', "appendonly no", "daemonize no", "loglevel warning",
                    f"logfile {work / 'redis.log'}", "acllog-max-len 1024",
                    "user default off",
                ]) + "\n"
            )
            config.chmod(0o600)
            self._process = subprocess.Popen([REDIS_BINARY, str(config), "-"], stdin=subprocess.PIPE,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            assert self._process.stdin is not None
            try:
                self._process.stdin.write(f"user cwtest-admin on >{self._admin_password} ~* &* +@all\n".encode())
                self._process.stdin.close()
            except OSError:
                pass  # it died at once: _wait_ready says so
            if self._wait_ready(timeout):
                # A runtime nobody stopped must not leave its redis-server behind.
                atexit.register(self.stop)
                return
            self._kill()
        log = (work / "redis.log").read_text(errors="replace")[-500:] if (work / "redis.log").exists() else ""
        raise RedisUnavailable(f"redis-server did not start: {log.strip() or 'no log'}")

    def _wait_ready(self, timeout: float) -> bool:
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if self.socket_path.exists():
                try:
                    admin = redis.Redis(
                        unix_socket_path=str(self.socket_path), username="cwtest-admin",
                        password=self._admin_password, decode_responses=True,
                    )
                    admin.ping()
                    self._admin = admin
                    return True
                except redis.exceptions.ConnectionError:
                    pass
            time.sleep(0.02)
        return False

    def _kill(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        self._kill()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def create_user(self, namespace: str) -> RedisCredentials:
        """A user limited to ``namespace:*`` keys (and channels), allowed every non-admin command.

        Starts the server first if it is not running.
        """
        self.start()
        user = namespace.replace(":", "-")
        password = secrets.token_hex(16)
        self._admin.execute_command(
            "ACL", "SETUSER", user, "reset", "on", f">{password}", f"~{namespace}:*", f"&{namespace}:*",
            "+@all", "-@admin", "-@dangerous",
        )
        assert self.port is not None
        return RedisCredentials(self.host, self.port, user, password, namespace)

    def violations(self, user: str | None = None) -> list[RedisViolation]:
        """``ACL LOG`` entries (optionally of one user), oldest first."""
        if self._admin is None:
            return []
        entries = self._admin.execute_command("ACL", "LOG")
        found = []
        for raw in reversed(entries):
            entry = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw
            if user is not None and entry.get("username") != user:
                continue
            command = re.search(r"\bcmd=(\S+)", str(entry.get("client-info", "")))
            found.append(RedisViolation(
                user=str(entry.get("username", "")), reason=str(entry.get("reason", "")),
                command=command.group(1) if command else "", object=str(entry.get("object", "")),
                count=int(entry.get("count", 1)),
            ))
        return found

    def keys(self, namespace: str) -> dict[str, Any]:
        """The string values stored under ``namespace:*`` (other types shown by type name)."""
        if self._admin is None:
            return {}
        found: dict[str, Any] = {}
        for key in self._admin.scan_iter(match=f"{namespace}:*"):
            kind = self._admin.type(key)
            found[key] = self._admin.get(key) if kind == "string" else f"<{kind}>"
        return found

    def reset(self, namespace: str) -> None:
        """Delete the run's keys and forget its ACL log, between two tests."""
        if self._admin is None:
            return
        for key in list(self._admin.scan_iter(match=f"{namespace}:*")):
            self._admin.delete(key)
        self._admin.execute_command("ACL", "LOG", "RESET")
