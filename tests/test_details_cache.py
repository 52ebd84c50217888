"""The details cache: a second plan reads no details of jobs already read, and a cache never makes a plan lie."""

from __future__ import annotations

import json

import pytest

from cliutil import TOKEN, run
from vizctl.environment import Environment
from vizctl.model import LiveJob
from vizctl.planning.details_cache import DetailsCache, cache_path
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

NAMES = [f"dc-{i}" for i in range(6)]


def seed(sim, job_type="tensorboard", names=NAMES):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/b/{n}/", "job_type": job_type, "running": True} for n in names])


def manifest(tmp_path, job_type="tensorboard"):
    path = tmp_path / "m.yaml"
    path.write_text("jobs:\n" + "".join(f"  - {{job_name: {n}, train_url: /b/{n}/, job_type: {job_type}}}\n" for n in NAMES))
    return path


def plan(sim, m, cache_dir, *flags):
    before = sim.stats_snapshot().get("GET detail", 0)
    result = run("plan", "-f", str(m), *flags, sim=sim, env={"VIZCTL_CACHE_DIR": str(cache_dir)})
    assert result.code == 0, result.all
    return result, sim.stats_snapshot().get("GET detail", 0) - before


def test_second_plan_reads_no_details_and_says_the_same(tmp_path):
    with SimServer(SimConfig()) as sim:
        seed(sim)
        m, cache = manifest(tmp_path), tmp_path / "cache"
        first, reads = plan(sim, m, cache)
        assert reads == len(NAMES)
        second, reads = plan(sim, m, cache)
        assert reads == 0
        assert second.out == first.out and "No changes." in second.out
        text = (cache / "details-v1.json").read_text()
        assert TOKEN not in text and "tensorboard" in text


def test_a_job_recreated_under_its_name_is_read_again(tmp_path):
    """Same name, new job (new id, other job_type): the remembered details of the old one are not used,
    and the old job, no longer listed, is forgotten."""
    with SimServer(SimConfig(delete_seconds=0)) as sim:
        [old, *_] = seed(sim)
        m, cache = manifest(tmp_path), tmp_path / "cache"
        plan(sim, m, cache)
        sim.state.delete_job("proj-1", str(old["job_id"]))
        [new] = seed(sim, job_type="mindinsight", names=[NAMES[0]])
        result = run("plan", "-f", str(m), sim=sim, env={"VIZCTL_CACHE_DIR": str(cache)})
        assert "job_type" in result.out and "mindinsight" in result.out, result.all
        ids = sorted(k.split()[2] for k in json.loads((cache / "details-v1.json").read_text())["jobs"])
    assert str(old["job_id"]) not in ids and str(new["job_id"]) in ids and len(ids) == len(NAMES)


def test_no_cache_reads_every_time_and_writes_nothing(tmp_path):
    with SimServer(SimConfig()) as sim:
        seed(sim)
        m, cache = manifest(tmp_path), tmp_path / "cache"
        for _ in range(2):
            _, reads = plan(sim, m, cache, "--no-cache")
            assert reads == len(NAMES)
        assert not cache.exists()


def test_a_damaged_or_foreign_cache_is_read_over(tmp_path):
    with SimServer(SimConfig()) as sim:
        seed(sim)
        m, cache = manifest(tmp_path), tmp_path / "cache"
        cache.mkdir()
        (cache / "details-v1.json").write_text("{not json")
        _, reads = plan(sim, m, cache)
        assert reads == len(NAMES)
        # entries for these ids but another create_time (another job that had the id) are not trusted
        data = json.loads((cache / "details-v1.json").read_text())
        data["jobs"] = {k.rsplit(" ", 1)[0] + " 1": {"job_type": "mindinsight"} for k in data["jobs"]}
        (cache / "details-v1.json").write_text(json.dumps(data))
        result, reads = plan(sim, m, cache)
        assert reads == len(NAMES) and "No changes." in result.out


def test_without_a_cache_directory_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SimServer(SimConfig()) as sim:
        seed(sim)
        m = manifest(tmp_path)
        for _ in range(2):  # no VIZCTL_CACHE_DIR, XDG_CACHE_HOME nor HOME in the CLI's environment
            result = run("plan", "-f", str(m), sim=sim, cwd=tmp_path)
            assert result.code == 0, result.all
        assert sim.stats["GET detail"] == 2 * len(NAMES)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


def test_the_same_job_id_and_create_time_at_another_endpoint_is_read_again(tmp_path):
    """Job ids are the API's per endpoint and project: a cache shared by two of them never mixes their details."""
    at = lambda: 1_800_000_000.0  # noqa: E731  # one clock: the same job_id and create_time at both endpoints
    with SimServer(state=SimState(SimConfig(), clock=at)) as a, SimServer(state=SimState(SimConfig(), clock=at)) as b:
        seed(a, job_type="tensorboard")
        seed(b, job_type="mindinsight")
        m, cache = manifest(tmp_path), tmp_path / "cache"
        plan(a, m, cache)
        result, reads = plan(b, m, cache)
    assert reads == len(NAMES) and result.out.count("mindinsight") >= len(NAMES), result.out


def job(job_id="7", **extra):
    return LiveJob(job_id=job_id, job_name=f"j-{job_id}", status=8, job_desc="live text", create_time=1700000000000, extra=extra)


def test_an_answer_without_the_details_fields_is_not_remembered(tmp_path):
    path = str(tmp_path / "details-v1.json")
    DetailsCache(path, "https://e", "p").store([job(job_type=None, flavor="", schedule=None)], [job()])
    assert DetailsCache(path, "https://e", "p").lookup([job()]) == {}


def test_only_the_three_details_fields_are_taken_from_the_file(tmp_path):
    """A file that says more (another version, a hand edit) never overrides what the list showed, job_desc above all."""
    path = tmp_path / "details-v1.json"
    DetailsCache(str(path), "https://e", "p").store([job(job_type="tensorboard")], [job()])
    data = json.loads(path.read_text())
    [key] = data["jobs"]
    data["jobs"][key].update(job_desc="cached text", status=3)
    path.write_text(json.dumps(data))
    found = DetailsCache(str(path), "https://e", "p").lookup([job()])["7"]
    assert (found.job_desc, found.status, found.extra) == ("live text", 8, {"job_type": "tensorboard"})


def test_a_cache_of_another_version_is_ignored_with_a_notice(tmp_path):
    path = tmp_path / "details-v1.json"
    DetailsCache(str(path), "https://e", "p").store([job(job_type="tensorboard")], [job()])
    path.write_text(path.read_text().replace('"version":1', '"version":2'))
    notices = []
    assert DetailsCache(str(path), "https://e", "p", notices.append).lookup([job()]) == {}
    assert notices and "not a vizctl details cache of version 1" in notices[0]


@pytest.mark.parametrize("environ, expected", [
    ({"VIZCTL_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c/details-v1.json"),
    ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/vizctl/details-v1.json"),
    ({"HOME": "/h"}, "/h/.cache/vizctl/details-v1.json"),
    ({"VIZCTL_CACHE_DIR": "", "XDG_CACHE_HOME": "", "HOME": "/h"}, "/h/.cache/vizctl/details-v1.json"),  # empty is unset
    ({}, None),
])
def test_the_cache_lives_where_the_variables_say_in_that_order(environ, expected):
    assert cache_path(Environment(environ=environ)) == expected
