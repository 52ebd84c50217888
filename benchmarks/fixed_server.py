"""A deliberately simple stand-in for the visualization-job API: fixed latency, nothing else.

    python benchmarks/fixed_server.py --seed jobs.json --latency 0.02 --startup 5

It prints its URL on the first line of standard output and serves until killed.
Unlike the simulator it validates nothing, injects no faults and never
throttles: every request costs ``--latency`` seconds plus the little work it
needs (list pages are rendered once and kept until a create changes them), so
the benchmarks measure the clients, not the server. It runs in its own process,
so it does not share the benchmark's or the clients' interpreter lock, and it
sets ``TCP_NODELAY`` (no Nagle stall on kept-alive connections).

``--seed`` is a JSON list of ``[job_name, job_desc]``: running jobs with
``train_url`` ``/bucket/<name>/logs/`` and ``job_type`` ``tensorboard``.
``GET /__stats__`` answers the requests served by route and when the last
created job turns RUNNING (epoch seconds); ``POST /__reset__`` forgets the
created jobs and zeroes the counters.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LISTED = ("job_id", "job_name", "status", "create_time", "duration", "job_desc", "service_url", "train_url", "resource_id")


class Jobs:
    """The jobs of the one project served, and the request counters."""

    def __init__(self, seed: list[list[str]], startup: float):
        self.startup = startup
        self.lock = threading.Lock()
        self.seed = [self._job(i + 1, name, desc, 0.0) for i, (name, desc) in enumerate(seed)]
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.jobs = list(self.seed)
            self.runs_at: dict[int, float] = {}  # job_id -> when a created job turns RUNNING
            self.pages: dict[tuple[int, int, str], bytes] = {}
            self.stats: dict[str, int] = {}

    def count(self, route: str) -> None:
        with self.lock:
            self.stats[route] = self.stats.get(route, 0) + 1

    def page(self, page: int, per_page: int, order: str) -> bytes:
        key = (page, per_page, order)
        with self.lock:
            cached = self.pages.get(key)
            if cached is not None:
                return cached
            jobs = self.jobs if order == "asc" else self.jobs[::-1]
            chosen = jobs[(page - 1) * per_page: page * per_page]
            now = time.time()
            views = [self._view(job, now) for job in chosen]
            body = json.dumps({"is_success": True, "job_total_count": len(jobs), "job_count_limit": 10 ** 6 - len(jobs),
                               "quotas": 10 ** 6, "jobs": [{k: v[k] for k in LISTED} for v in views]}).encode()
            if all(v["status"] == 8 for v in views):  # nothing in it will change until a create
                self.pages[key] = body
            return body

    def detail(self, job_id: int) -> dict | None:
        with self.lock:
            job = self.jobs[job_id - 1] if 0 < job_id <= len(self.jobs) else None  # ids are 1, 2, 3 ...
            return None if job is None else {"is_success": True, **self._view(job, time.time())}

    def create(self, body: dict) -> dict:
        with self.lock:
            now = time.time()
            job = self._job(len(self.jobs) + 1, body.get("job_name", ""), body.get("job_desc", ""), now)
            job["train_url"] = body.get("train_url", "")
            self.jobs.append(job)
            self.runs_at[job["job_id"]] = now + self.startup
            self.pages.clear()
            return {"is_success": True, "job_id": job["job_id"], "job_name": job["job_name"], "status": 1,
                    "create_time": job["create_time"], "service_url": job["service_url"]}

    def _view(self, job: dict, now: float) -> dict:
        runs_at = self.runs_at.get(job["job_id"])
        return {**job, "status": 8 if runs_at is None or now >= runs_at else 1}

    @staticmethod
    def _job(job_id: int, name: str, desc: str, now: float) -> dict:
        return {"job_id": job_id, "job_name": name, "status": 8, "create_time": int(now * 1000) or 1_700_000_000_000 + job_id,
                "duration": 1000, "job_desc": desc, "service_url": f"https://fixed.local/tensorboard/{job_id}/",
                "train_url": f"/bucket/{name}/logs/", "resource_id": f"res-{job_id}", "job_type": "tensorboard"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients' pools expect

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        jobs: Jobs = self.server.jobs
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/__stats__":
            with jobs.lock:
                self._send(200, json.dumps({"stats": jobs.stats, "last_running": max(jobs.runs_at.values(), default=None)}).encode())
            return
        if url.path == "/__reset__":
            jobs.reset()
            self._send(200, b"{}")
            return
        parts = url.path.strip("/").split("/")  # v1, project, visualization-jobs[, id]
        time.sleep(self.server.latency)
        if self.command == "GET" and len(parts) == 3:
            jobs.count("GET list")
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            self._send(200, jobs.page(int(query.get("page", 1)), min(int(query.get("per_page", 10)), 1000), query.get("order", "asc")))
        elif self.command == "GET" and len(parts) == 4:
            jobs.count("GET detail")
            found = jobs.detail(int(parts[3]))
            self._send(200 if found else 404, json.dumps(found or {"is_success": False, "error_code": "ModelArts.0102"}).encode())
        elif self.command == "POST" and len(parts) == 3:
            jobs.count("POST create")
            self._send(200, json.dumps(jobs.create(json.loads(body or b"{}"))).encode())
        else:
            self._send(404, b'{"error_code": "APIG.0101"}')

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", help="JSON file: a list of [job_name, job_desc] running jobs")
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--startup", type=float, default=5.0, help="seconds from create to RUNNING")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    seed = []
    if args.seed:
        with open(args.seed, encoding="utf-8") as handle:
            seed = json.load(handle)
    server = Server(("127.0.0.1", args.port), Handler)
    server.jobs = Jobs(seed, args.startup)
    server.latency = args.latency
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    sys.exit(main())
