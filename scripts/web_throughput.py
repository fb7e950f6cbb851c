"""Requests per second of `POST /api/analyze` at concurrency 1: a real uvicorn server in its
own process, one keep-alive HTTP connection sending the same request back to back.

    python scripts/web_throughput.py [--requests 2000] [--body '{"model": ...}']
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time

BODY = {
    "model": {"id": "meta-llama/Llama-2-7b-hf"},
    "device": {"name": "a6000"},
    "prompt_len": 1024,
    "gen_len": 128,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no server on port {port} after {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--body", default=json.dumps(BODY))
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "rooflens.web:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    try:
        wait_for(port)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        body, headers = args.body.encode(), {"Content-Type": "application/json"}

        def one() -> None:
            connection.request("POST", "/api/analyze", body, headers)
            answer = connection.getresponse()
            data = answer.read()
            if answer.status != 200:
                raise SystemExit(f"{answer.status}: {data[:300]!r}")

        for _ in range(args.warmup):
            one()
        start = time.perf_counter()
        for _ in range(args.requests):
            one()
        elapsed = time.perf_counter() - start
        print(
            f"{args.requests} requests in {elapsed:.2f} s: {args.requests / elapsed:.0f} req/s, "
            f"{1e3 * elapsed / args.requests:.2f} ms each (concurrency 1, keep-alive)"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
