"""The scripts a user would write instead of vizctl: what the benchmarks hold vizctl against.

    python benchmarks/contenders.py NAME ENDPOINT PROJECT MANIFEST_DIR [N]

Each reads ``VIZCTL_TOKEN`` and talks to ``{ENDPOINT}/v1/{PROJECT}/visualization-jobs``
with plain ``requests`` and ``yaml.safe_load``, the way a short script does:

- ``list-only``: lists every page (1,000 a page, one after the other) and does nothing else:
  the floor of any plan.
- ``naive-plan``: loads the manifests, lists the pages, compares names and ``job_desc``.
- ``sdk-plan``: the per-job way of an SDK: lists the pages, then reads each declared job's details.
- ``details-floor``: lists the pages, then reads the details of each declared live job with N
  requests at once (N = vizctl's default ``--parallelism``): the floor of a plan with details.
- ``naive-apply``: lists, creates each missing job in turn, then lists every second until all run.
- ``sdk-apply``: for each job in turn: create, then read its details every second until it runs.

Each prints one line: what it found or did.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import yaml

RUNNING = 8


def declared_jobs(directory: str) -> list[dict]:
    jobs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as handle:
            jobs += yaml.safe_load(handle)["jobs"]
    return jobs


def session(pool: int = 10) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=pool))
    s.headers["X-Auth-Token"] = os.environ["VIZCTL_TOKEN"]
    return s


def list_all(s: requests.Session, base: str) -> list[dict]:
    jobs, page = [], 1
    while True:
        data = s.get(base, params={"per_page": 1000, "page": page}, timeout=30).json()
        jobs += data["jobs"]
        if not data["jobs"] or len(jobs) >= data["job_total_count"]:
            return jobs
        page += 1


def list_only(base: str, directory: str, n: int) -> str:
    return f"{len(list_all(session(), base))} live jobs"


def naive_plan(base: str, directory: str, n: int) -> str:
    declared = declared_jobs(directory)
    live = {job["job_name"]: job for job in list_all(session(), base)}
    create = [d for d in declared if d["job_name"] not in live]
    update = [d for d in declared if d["job_name"] in live and d.get("job_desc", "") != live[d["job_name"]]["job_desc"]]
    return f"{len(create)} to create, {len(update)} to update"


def sdk_plan(base: str, directory: str, n: int) -> str:
    declared = declared_jobs(directory)
    s = session()
    ids = {job["job_name"]: job["job_id"] for job in list_all(s, base)}
    details = {d["job_name"]: s.get(f"{base}/{ids[d['job_name']]}", timeout=30).json() for d in declared if d["job_name"] in ids}
    update = [d for d in declared if d["job_name"] in details and d.get("job_desc", "") != details[d["job_name"]]["job_desc"]]
    return f"{len(declared) - len(details)} to create, {len(update)} to update"


def details_floor(base: str, directory: str, n: int) -> str:
    declared = declared_jobs(directory)
    s = session(pool=n)
    ids = {job["job_name"]: job["job_id"] for job in list_all(s, base)}
    wanted = [ids[d["job_name"]] for d in declared if d["job_name"] in ids]
    with ThreadPoolExecutor(max_workers=n) as pool:
        read = list(pool.map(lambda job_id: s.get(f"{base}/{job_id}", timeout=30).json(), wanted))
    return f"{len(read)} details read"


def naive_apply(base: str, directory: str, n: int) -> str:
    declared = declared_jobs(directory)
    s = session()
    live = {job["job_name"] for job in list_all(s, base)}
    for d in declared:
        if d["job_name"] not in live:
            s.post(base, json=d, timeout=30).raise_for_status()
    names = {d["job_name"] for d in declared}
    while True:
        running = {job["job_name"] for job in list_all(s, base) if int(job["status"]) == RUNNING}
        if names <= running:
            return f"{len(names)} running"
        time.sleep(1.0)


def sdk_apply(base: str, directory: str, n: int) -> str:
    s = session()
    for d in declared_jobs(directory):
        job_id = s.post(base, json=d, timeout=30).json()["job_id"]
        while int(s.get(f"{base}/{job_id}", timeout=30).json()["status"]) != RUNNING:
            time.sleep(1.0)
    return "all running"


CONTENDERS = {
    "list-only": list_only,
    "naive-plan": naive_plan,
    "sdk-plan": sdk_plan,
    "details-floor": details_floor,
    "naive-apply": naive_apply,
    "sdk-apply": sdk_apply,
}


def main(argv: list[str]) -> int:
    name, endpoint, project, directory, *rest = argv
    base = f"{endpoint.rstrip('/')}/v1/{project}/visualization-jobs"
    print(CONTENDERS[name](base, directory, int(rest[0]) if rest else 10))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
