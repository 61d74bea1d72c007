"""Compare WSGI set-ups for the API §3 413 rule: waitress (as `casualty-tracker serve` runs
it) and gunicorn with threads (gthread), on the same database.

For each server: a 64 MiB and a 1 GiB body sent with Content-Length and chunked, the way
Python's http.client sends (the whole body, then read the answer): status, media type,
seconds to the answer, and the server's peak RSS (VmHWM) after them; then small requests
(GET /figures/1) from 8 keep-alive clients for a few seconds: requests/s, p50 and p95.

    .venv/bin/python scripts/measure_wsgi.py [--seconds 5]   # gunicorn must be installed
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent
BLOCK = b"x" * 65536


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def tree_peak_rss_mb(pid: int) -> float:
    """The largest peak RSS among the server process and its children (gunicorn workers)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    return max(peak_rss_mb(p) for p in pids)


def send(port: int, token: str, size: int, chunked: bool) -> tuple[str, float]:
    def body():
        sent = 0
        while sent < size:
            n = min(len(BLOCK), size - sent)
            yield BLOCK[:n]
            sent += n
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        if chunked:
            connection.request("POST", "/api/v1/figures", body=body(), encode_chunked=True,
                               headers=headers)
        else:
            connection.putrequest("POST", "/api/v1/figures")
            for key, value in {**headers, "Content-Length": str(size)}.items():
                connection.putheader(key, value)
            connection.endheaders()
            for part in body():
                connection.send(part)
        response = connection.getresponse()
        response.read()
        outcome = f"{response.status} {response.getheader('Content-Type')}"
    except OSError as error:
        outcome = f"{type(error).__name__}"
    finally:
        connection.close()
    return outcome, time.monotonic() - start


def small_requests(port: int, seconds: float, clients: int = 8) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            start = time.monotonic()
            connection.request("GET", "/api/v1/figures/1")
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status
            mine.append(time.monotonic() - start)
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return (len(latencies) / seconds, statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.95)] * 1000)


def start(kind: str, db: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CASUALTY_TRACKER_DB": str(db),
           "CASUALTY_TRACKER_RECONCILE_SECONDS": "0"}
    if kind == "waitress":
        command = [str(BIN / "casualty-tracker"), "serve", "--port", str(port), "--db", str(db)]
    else:
        command = [str(BIN / "gunicorn"), "-k", "gthread", "--threads", "8", "-w", "1",
                   "-b", f"127.0.0.1:{port}", "service:create_app()"]
    process = subprocess.Popen(command, env=env, stdout=log.open("ab"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/api/v1/health")
            if connection.getresponse().status == 200:
                return process
        time.sleep(0.1)
    raise SystemExit(f"{kind} did not start; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--servers", default="waitress,gunicorn")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-wsgi-"))
    db = work / "measure.db"
    token = subprocess.run([str(BIN / "casualty-tracker"), "keys", "create", "--role", "editor",
                            "--name", "measure", "--db", str(db)], check=True,
                           capture_output=True, text=True).stdout.strip()
    subprocess.run([str(BIN / "casualty-tracker"), "seed", "--db", str(db)], check=True,
                   capture_output=True)
    for kind in args.servers.split(","):
        port = free_port()
        process = start(kind, db, port, work / f"{kind}.log")
        try:
            print(f"{kind}: idle peak RSS {tree_peak_rss_mb(process.pid):.0f} MB")
            for size in (64 * 2**20, 2**30):
                for chunked in (False, True):
                    outcome, seconds = send(port, token, size, chunked)
                    print(f"{kind}: {size // 2**20} MiB {'chunked' if chunked else 'length '}"
                          f" -> {outcome} in {seconds:.2f} s; peak RSS "
                          f"{tree_peak_rss_mb(process.pid):.0f} MB")
            rate, p50, p95 = small_requests(port, args.seconds)
            print(f"{kind}: GET /figures/1, 8 clients: {rate:.0f} req/s, p50 {p50:.1f} ms, "
                  f"p95 {p95:.1f} ms")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
