"""``cwtest serve``: a standalone simulator for trying a workflow by hand."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest
import redis

from cwtest_support import REPO
from needs import need_redis


def start_serving(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "cwtest", "serve", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    banner = []
    assert process.stdout is not None
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    assert banner and banner[-1].startswith("Press Ctrl-C"), (banner, process.stderr.read() if process.stderr else "")
    return process, banner


def value(banner: list[str], name: str) -> str:
    return next(line.split("=", 1)[1] for line in banner if line.strip().startswith(f"{name}="))


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    return out


def test_serve_prints_what_a_workflow_needs_and_stops_cleanly_on_ctrl_c():
    need_redis()
    process, banner = start_serving("--connected-apps", "slack,hubspot", "--seed", "3")
    try:
        url, key = value(banner, "CODEWORDS_RUNTIME_URI"), value(banner, "CODEWORDS_API_KEY")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and key.startswith("cwtest-")
        answer = httpx.post(f"{url}/run/pipedream/", headers={"Authorization": key},
                            json={"app": "hubspot", "action": "update-ticket", "props": {}})
        assert answer.status_code == 200
        redis_port = int(re.search(r"rediss://127\.0\.0\.1:(\d+)", "\n".join(banner)).group(1))
        creds = httpx.post(f"{url}/run/redis_coordinator/", headers={"Authorization": key}).json()
        assert creds["redis_port"] == redis_port
        client = redis.Redis(host=creds["redis_host"], port=creds["redis_port"], username=creds["redis_user"],
                             password=creds["redis_password"], ssl=True, ssl_cert_reqs="none")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("not-namespaced", "x")
        client.close()
    finally:
        out = stop(process)
    assert "stopped after 2 service calls" in out
    assert "redis: refused set on 'not-namespaced' (outside the namespace) x1" in out
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", redis_port), timeout=1):
        pass  # its redis-server went with it


def test_a_key_the_user_chose_is_never_printed_whole():
    chosen = "cwk-" + "ab12" * 16
    process, banner = start_serving("--api-key", chosen, "--no-redis")
    try:
        assert chosen not in "\n".join(banner)
        assert value(banner, "CODEWORDS_API_KEY") == "cwk-…"
        url = value(banner, "CODEWORDS_RUNTIME_URI")
        assert httpx.post(f"{url}/provision-request", headers={"Authorization": f"Bearer {chosen}"}).status_code == 200
    finally:
        stop(process)


def test_bad_arguments_exit_2():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "cwtest", "serve", "--port", "70000"], capture_output=True,
                          text=True, env=env, cwd=REPO)
    assert done.returncode == 2 and "not a port" in done.stderr
