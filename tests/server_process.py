"""Start the real service (``policy-service serve``) in a child process, for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "policy-service"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fetch(
    base: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Message, Any]:
    """One HTTP request to a running server: the status, the headers and the JSON body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
            return response.status, response.headers, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        payload = error.read()
        return error.code, error.headers, json.loads(payload) if payload else None


def call(
    base: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """``fetch`` without the headers."""
    status, _, payload = fetch(base, method, path, token, body)
    return status, payload


@contextmanager
def running_server(
    env: dict[str, str], *args: str, workers: int = 1, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    # Unbuffered: tests read the server's log lines as they happen, and a block-buffered
    # stdout would hold a worker's line until enough other output came after it.
    full_env = {**os.environ, "POLICY_SERVICE_LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **env}
    output = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(BIN / "policy-service"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            *args,
        ],
        env=full_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                if call(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become healthy in 60 s")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        if log:
            output.close()  # type: ignore[union-attr]
