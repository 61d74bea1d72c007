"""A real `casualty-tracker serve` process on 127.0.0.1 for the tests that need one
(concurrency, crashes, logs, chunked bodies), and a small urllib client for it.

The server runs in its own session (process group), so `kill()` can SIGKILL it and every
thread or child it has, by its pid; `running_server` always does that on the way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0


def cli() -> str:
    """The installed console command, next to the Python running the tests."""
    beside = Path(sys.executable).parent / "casualty-tracker"
    if beside.exists():
        return str(beside)
    found = shutil.which("casualty-tracker")
    assert found, "the casualty-tracker command is not installed"
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def environment(db_path: Path, **extra: str) -> dict[str, str]:
    """The server's environment: no schedule unless asked, the test's database."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("CASUALTY_TRACKER_")}
    env.update(CASUALTY_TRACKER_DB=str(db_path), CASUALTY_TRACKER_RECONCILE_SECONDS="0",
               PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Server:
    def __init__(self, db_path: Path, log_path: Path, **env: str) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self.env = environment(db_path, **env)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Server:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [cli(), "serve", "--host", HOST, "--port", str(self.port),
                 "--db", str(self.db_path)],
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n"
                                     + self.log())
            with contextlib.suppress(OSError):
                if self.request("GET", "/api/v1/health", timeout=2).status == 200:
                    return self
            time.sleep(0.05)
        self.kill()
        raise AssertionError("the server did not answer /health in time:\n" + self.log())

    def kill(self) -> None:
        """SIGKILL the server's whole process group (by its pid), and reap it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") \
            if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: Any = None, *,
                headers: Mapping[str, str] | None = None, data: bytes | None = None,
                timeout: float = REQUEST_TIMEOUT) -> Answer:
        """One request; a JSON `body` is sent as application/json. Never raises on 4xx/5xx."""
        all_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            all_headers.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return Answer(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, dict(error.headers.items()), error.read())


@contextlib.contextmanager
def running_server(db_path: Path, log_path: Path, **env: str) -> Iterator[Server]:
    server = Server(db_path, log_path, **env)
    try:
        yield server.start()
    finally:
        server.kill()
