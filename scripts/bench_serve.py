"""HTTP throughput and latency of ``captcha-edge serve`` on loopback, against in-process ``recognize``.

    python scripts/bench_serve.py --data ../shared/data/wilhelmy [--clients 1,4,16] [--workers 2]
                                  [--requests 2000] [--seconds 10]

It starts the real server (a subprocess, the default model, a free loopback port), and client
threads send real HTTP requests (multipart uploads of the real images, one keep-alive connection
per client, standard library only). For each number of concurrent clients it prints requests/s
and p50/p99 latency as the client sees it; then ``Recognizer.recognize`` p50 on the same files in
this process, and the difference at one client (the target: HTTP adds at most 1 ms p50).
Clients and server share the machine's cores, as they would on one board.

The helpers (free_port, multipart, Client, start_server, stop_server) are also what
tests/network/test_serve.py uses to talk to the server.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from _paths import ROOT, default_data



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart(fields: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type, from (field, filename or None, bytes)."""
    boundary = f"captcha-edge-{uuid.uuid4().hex}"
    parts = []
    for name, filename, data in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Client:
    """One keep-alive HTTP connection to the server; every call is bounded by ``timeout``."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, object]:
        """(status, parsed JSON body or the raw text when it is not JSON)."""
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            raw = response.read()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()  # the next call reconnects
            raise
        if response.getheader("connection", "").lower() == "close":
            self.conn.close()
        try:
            return response.status, json.loads(raw)
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")

    def upload(self, path: str, data: bytes, name: str = "captcha.png", headers: dict | None = None) -> tuple[int, object]:
        body, content_type = multipart([("file", name, data)])
        return self.request("POST", path, body, {"Content-Type": content_type, **(headers or {})})

    def close(self) -> None:
        self.conn.close()


def start_server(port: int, *args: str, log: Path, env: dict | None = None, timeout: float = 60.0) -> subprocess.Popen:
    """``python -m edge_runtime serve --port PORT ARGS`` once its /health answers (stderr to ``log``)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "edge_runtime", "serve", "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"expected the server to start, got exit {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            client = Client(port, timeout=2)
            if client.request("GET", "/health")[0] == 200:
                client.close()
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"expected /health within {timeout} s, got no answer: {log.read_text()[-2000:]}")


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM (uvicorn finishes what is under way), then SIGKILL if it hangs; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load(port: int, clients: int, images: list[bytes], requests: int, seconds: float) -> dict:
    """``clients`` threads post images until ``requests`` are sent or ``seconds`` pass."""
    counter, lock = itertools.count(), threading.Lock()
    latencies: list[float] = []
    failures: list[int] = []
    deadline = time.monotonic() + seconds

    def client_loop() -> None:
        client, mine = Client(port), []
        try:
            while (i := next(counter)) < requests and time.monotonic() < deadline:
                t0 = time.perf_counter()
                status, _ = client.upload("/ocr", images[i % len(images)])
                mine.append((time.perf_counter() - t0) * 1e3)
                if status != 200:
                    failures.append(status)
        finally:
            client.close()
            with lock:
                latencies.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {"clients": clients, "requests": len(latencies), "rps": len(latencies) / elapsed,
            "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "failures": len(failures)}


def in_process_p50(paths: list[Path], passes: int = 2) -> float:
    """Recognizer.recognize p50 (file to text) on the same images, after one warm-up pass."""
    sys.path.insert(0, str(ROOT))
    from edge_runtime.recognizer import Recognizer

    recognizer = Recognizer.from_file()
    for p in paths:
        recognizer.recognize(p)
    times = []
    for _ in range(passes):
        for p in paths:
            t0 = time.perf_counter()
            recognizer.recognize(p)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def board_line(workers: list[int]) -> str:
    from edge_runtime.bench import board

    b = board()
    return (f"cpu: {b['cpu']} ({b['machine']}, {b['cores']} cores); python {b['python']}; "
            f"server workers {','.join(map(str, workers))}; clients and server on the same cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--workers", default=None, help="server --workers values, comma-separated (default: the cores)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level, at most")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per concurrency level, at most")
    args = parser.parse_args()

    paths = sorted(args.data.glob("*.png"))[:300]
    if not paths:
        sys.exit(f"bench_serve: expected PNG images in {args.data}, got none (--data or CAPTCHA_DATA)")
    images = [p.read_bytes() for p in paths]
    workers = [int(w) for w in args.workers.split(",")] if args.workers else [len(os.sched_getaffinity(0))]
    print(board_line(workers))
    print(f"images: {len(paths)} from {args.data}; at most {args.requests} requests or {args.seconds:g} s per row")
    print(f"{'workers':>7} {'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non-200':>7}")
    one_client = {}
    for n in workers:
        port = free_port()
        proc = start_server(port, "--workers", str(n), log=Path(os.devnull))
        try:
            load(port, 1, images, 50, 5)  # warm-up: connections, caches
            for clients in (int(c) for c in args.clients.split(",")):
                row = load(port, clients, images, args.requests, args.seconds)
                if clients == 1:
                    one_client[n] = row["p50"]
                print(f"{n:>7} {clients:>7} {row['requests']:>8} {row['rps']:>8.0f} {row['p50']:>7.3f} {row['p99']:>7.3f} "
                      f"{row['failures']:>7}", flush=True)
        finally:
            stop_server(proc)
    base = in_process_p50(paths)
    print(f"in-process Recognizer.recognize p50: {base:.3f} ms (file to text, same images)")
    for n, p50 in one_client.items():
        print(f"HTTP adds {p50 - base:.3f} ms p50 at 1 client (workers {n}; target <= 1 ms)")


if __name__ == "__main__":
    main()
