"""The list memory: a warm plan asks every page of the list with page 1 (one round trip), and a memory that
is wrong, stale or damaged never costs a job (client.list_all's checks still judge the read)."""

from __future__ import annotations

import json

import pytest

from cliutil import TOKEN, run
from httputil import Recorder
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ListPage, ModelArtsClient, _list_problem
from vizctl.planning.details_cache import ListMemory
from vizctl.model import LiveJob
from vizctl.api.retry import RetryPolicy
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

JOBS = 250  # three pages of 100 (the simulator clamps per_page to 100 here)


def seeded(sim, count=JOBS):
    sim.state.seed_jobs("proj-1", [{"job_name": f"lm-{i}", "train_url": f"/b/{i}/", "running": True} for i in range(count)])


def client_with(sim_url, memory=None, notices=None):
    client = ModelArtsClient(sim_url, "proj-1", TokenAuth("t0ken-value"), retry=RetryPolicy(attempts=3, backoff=0.01, jitter=False),
                             notice=(notices.append if notices is not None else lambda message: None))
    client.list_memory = memory
    return client


def memory_at(tmp_path, sim, pages=None, per_page=1000, sort="job_id"):
    path = tmp_path / "lists-v1.json"
    if pages is not None:
        path.write_text(json.dumps({"version": 1, "lists": {f"{sim.url} proj-1": {"per_page": per_page, "sort": sort, "pages": pages}}}))
    return ListMemory(str(path), sim.url, "proj-1")


def test_a_warm_plan_reads_the_whole_list_in_one_round_trip(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("jobs:\n  - {job_name: lm-0, train_url: /b/0/}\n")
    with SimServer(SimConfig(max_per_page=100, quota=5000, latency=0.2)) as sim:
        seeded(sim)
        env = {"VIZCTL_CACHE_DIR": str(tmp_path / "cache")}
        cold = run("plan", "-f", str(manifest), "-v", sim=sim, env=env)
        assert cold.code == 0 and "4 list call(s)" in cold.err, cold.all
        assert sim.most_at_once < 4  # page 1 and the cross-check, then pages 2 and 3 (the cross-check may still be out)
        sim.reset_stats()
        warm = run("plan", "-f", str(manifest), "-v", sim=sim, env=env)
        assert warm.code == 0 and warm.out == cold.out and "4 list call(s)" in warm.err, warm.all  # pages + 1, as before
        assert sim.most_at_once == 4  # every page and the cross-check at once: one round trip
        text = (tmp_path / "cache" / "lists-v1.json").read_text()
        assert json.loads(text)["lists"] == {f"{sim.url} proj-1": {"per_page": 1000, "sort": "job_id", "pages": 3}}
        assert TOKEN not in text and "lm-" not in text  # no secret, no job: only the shape


def test_a_memory_of_too_many_pages_reads_the_pages_beyond_the_end_and_ignores_them(tmp_path):
    with SimServer(SimConfig(max_per_page=100, quota=5000)) as sim:
        seeded(sim)
        memory, notices = memory_at(tmp_path, sim, pages=5), []
        client = client_with(sim.url, memory, notices)
        snapshot = client.list_all()
        assert len({job.job_id for job in snapshot.jobs}) == JOBS == len(snapshot.jobs)
        assert client.calls["list"] == 5 + 1 == snapshot.list_calls  # pages 4 and 5 were asked: empty, not jobs
        assert notices == [] and memory.recall() == (1000, "job_id", 3)  # the memory learnt the list's new length
        assert json.loads((tmp_path / "lists-v1.json").read_text())["lists"][f"{sim.url} proj-1"]["pages"] == 3


def test_a_memory_of_too_few_pages_reads_the_rest_once_page_1_tells_the_total(tmp_path):
    with SimServer(SimConfig(max_per_page=100, quota=5000, latency=0.1)) as sim:
        seeded(sim)
        memory = memory_at(tmp_path, sim, pages=2)
        client = client_with(sim.url, memory)
        snapshot = client.list_all()
        assert len({job.job_id for job in snapshot.jobs}) == JOBS == len(snapshot.jobs)
        assert client.calls["list"] == 3 + 1 and sim.most_at_once >= 3  # pages 1, 2 and the cross-check; then page 3
        assert memory.recall() == (1000, "job_id", 3)


def test_a_memory_in_other_list_terms_is_not_used(tmp_path):
    with SimServer(SimConfig(max_per_page=100, quota=5000, latency=0.1)) as sim:
        seeded(sim)
        client = client_with(sim.url, memory_at(tmp_path, sim, pages=3, per_page=100))  # this client asks 1000 a page
        assert len(client.list_all().jobs) == JOBS and sim.most_at_once < 4  # read as without memory: pages 2, 3 after page 1


def test_this_clients_second_read_is_one_round_trip_without_a_file():
    with SimServer(SimConfig(max_per_page=100, quota=5000, latency=0.1)) as sim:
        seeded(sim)
        client = client_with(sim.url)
        client.list_all()
        sim.reset_stats()
        assert len(client.list_all().jobs) == JOBS and sim.most_at_once == 4


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": 1, "lists": []}), json.dumps([1]),
                                     json.dumps({"version": 1, "lists": {"URL proj-1": {"per_page": 1000, "sort": "job_id", "pages": "3"}}}),
                                     json.dumps({"version": 1, "lists": {"URL proj-1": {"per_page": 1000, "sort": "job_id", "pages": 0}}})])
def test_a_damaged_memory_is_ignored_with_a_notice_and_written_anew(tmp_path, content):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("jobs:\n  - {job_name: lm-0, train_url: /b/0/}\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    with SimServer(SimConfig(max_per_page=100, quota=5000)) as sim:
        (cache / "lists-v1.json").write_text(content.replace("URL", sim.url))
        seeded(sim)
        result = run("plan", "-f", str(manifest), "-v", sim=sim, env={"VIZCTL_CACHE_DIR": str(cache)})
        assert result.code == 0 and "4 list call(s)" in result.err, result.all
        assert "vizctl: ignored the list memory" in result.err and "written anew" in result.err and "Traceback" not in result.all
        assert json.loads((cache / "lists-v1.json").read_text())["lists"][f"{sim.url} proj-1"]["pages"] == 3


def test_no_cache_neither_reads_nor_writes_the_memory(tmp_path):
    manifest = tmp_path / "m.yaml"
    manifest.write_text("jobs:\n  - {job_name: lm-0, train_url: /b/0/}\n")
    with SimServer(SimConfig()) as sim:
        seeded(sim, 3)
        assert run("plan", "-f", str(manifest), "--no-cache", sim=sim, env={"VIZCTL_CACHE_DIR": str(tmp_path / "c")}).code == 0
        assert not (tmp_path / "c" / "lists-v1.json").exists()


def _job(n: int) -> dict:
    return {"job_id": n, "job_name": f"r-{n}", "status": 8, "train_url": "/b/", "create_time": 1700000000000 + n}


REFUSED = (400, {"Content-Type": "application/json"}, b'{"error_code": "ModelArts.0104", "error_message": "page out of range"}')


def pages_of(jobs, refuse):
    """A list server of ``jobs`` that refuses (HTTP 400) the pages ``refuse(page)`` says."""

    def answer(handler):
        query = dict(part.split("=", 1) for part in handler.path.split("?", 1)[1].split("&"))
        page, size = int(query["page"]), int(query["per_page"])
        if refuse(page):
            return REFUSED
        ordered = jobs if query["order"] == "asc" else jobs[::-1]
        body = {"job_total_count": len(jobs), "jobs": ordered[(page - 1) * size: page * size]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    return answer


def test_a_page_asked_early_and_refused_is_asked_again_once_page_1_says_it_is_needed(tmp_path):
    refused = []

    def once(page):  # page 2 refused the first time only
        refused.append(page)
        return page == 2 and refused.count(2) == 1

    with Recorder(pages_of([_job(n) for n in range(1, 2501)], once)) as server:
        memory = ListMemory(str(tmp_path / "lists-v1.json"), server.url, "proj-1")
        memory.remember(1000, "job_id", 3)
        notices: list[str] = []
        client = client_with(server.url, memory, notices)
        snapshot = client.list_all()
        assert len({job.job_id for job in snapshot.jobs}) == 2500 and client.calls["list"] == 3 + 1 + 1
        assert notices == [] and client.per_page == 1000


def test_a_page_beyond_the_end_refused_changes_nothing(tmp_path):
    """A server may refuse a page past the end (HTTP 400): the early page's refusal is not taken for the
    SDK page's reading, and page 1's total decides what is needed."""
    with Recorder(pages_of([_job(n) for n in range(1, 1501)], lambda page: page > 2)) as server:
        notices: list[str] = []
        memory = ListMemory(str(tmp_path / "lists-v1.json"), server.url, "proj-1")
        memory.remember(1000, "job_id", 4)
        client = client_with(server.url, memory, notices)
        snapshot = client.list_all()
        assert len(snapshot.jobs) == 1500 and client.calls["list"] == 4 + 1
        assert notices == [] and client.per_page == 1000 and client.sort_key == "job_id"
        assert memory.recall() == (1000, "job_id", 2)


def _page(ids, total):
    return ListPage(tuple(LiveJob(str(i), f"j-{i}", 8, None, "/b/") for i in ids), total, None, None)


def test_a_page_beyond_the_total_that_holds_jobs_makes_the_read_not_whole():
    pages, newest = [_page(range(1, 3), 2)], _page([2, 1], 2)
    assert _list_problem(pages, newest, [_page([], 2)]) is None
    assert _list_problem(pages, newest, [_page([3], 2)]) == "a page beyond job_total_count held jobs"
    assert "moved between pages" in _list_problem(pages, newest, [_page([], 3)])
