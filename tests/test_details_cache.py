"""The details cache: a second plan reads no details of jobs already read, and a cache never makes a plan lie."""

from __future__ import annotations

import json

from cliutil import TOKEN, run
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

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
    """Same name, new job (new id, other job_type): the remembered details of the old one are not used."""
    with SimServer(SimConfig(delete_seconds=0)) as sim:
        [old, *_] = seed(sim)
        m, cache = manifest(tmp_path), tmp_path / "cache"
        plan(sim, m, cache)
        sim.state.delete_job("proj-1", str(old["job_id"]))
        seed(sim, job_type="mindinsight", names=[NAMES[0]])
        result = run("plan", "-f", str(m), sim=sim, env={"VIZCTL_CACHE_DIR": str(cache)})
        assert "job_type" in result.out and "mindinsight" in result.out, result.all


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
