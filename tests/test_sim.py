"""The ModelArts simulator, driven over real loopback HTTP with requests."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import socket
import time

import pytest
import requests

from vizctl.model import Status
from vizctl.sim import SimConfig, SimServer, SimState, add_arguments
from vizctl.sim.state import SimStateError

AUTH = {"X-Auth-Token": "any-token"}


class Clock:
    """A settable epoch clock for SimState."""

    def __init__(self, t: float = 1_700_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def make_sim():
    """Start SimServers (port 0) from config keywords, optionally on a fake clock; stop them after."""
    servers: list[SimServer] = []

    def make(*, clock=None, state_path=None, **settings) -> SimServer:
        config = SimConfig(**settings)
        if clock is not None:
            server = SimServer(state=SimState(config, state_path, clock=clock))
        else:
            server = SimServer(config, state_path=state_path)
        servers.append(server.start())
        return server

    yield make
    for server in servers:
        server.stop()


def jobs_url(sim: SimServer, project: str = "p1") -> str:
    return f"{sim.url}/v1/{project}/visualization-jobs"


def create(sim, name="job-a", project="p1", **fields):
    return requests.post(jobs_url(sim, project), json={"job_name": name, "train_url": "/bucket/logs/", **fields},
                         headers=AUTH, timeout=5)


def listing(sim, project="p1", **params):
    return requests.get(jobs_url(sim, project), params=params, headers=AUTH, timeout=5)


def detail(sim, job_id, project="p1"):
    return requests.get(f"{jobs_url(sim, project)}/{job_id}", headers=AUTH, timeout=5)


def status_of(sim, job_id, project="p1"):
    return detail(sim, job_id, project).json()["status"]


def action(sim, job_id, verb, project="p1"):
    url = f"{jobs_url(sim, project)}/{job_id}"
    if verb == "delete":
        return requests.delete(url, headers=AUTH, timeout=5)
    return requests.post(f"{url}/{verb}", headers=AUTH, timeout=5)


# -- create, list, details ---------------------------------------------------------


def test_create_list_details_round_trip(make_sim):
    sim = make_sim(startup_seconds=5)
    r = create(sim, "tb-one", job_desc="first", job_type="mindinsight", flavor={"code": "modelarts.vm.cpu"},
               schedule={"type": "stop", "time_unit": "HOURS", "duration": 2})
    assert r.status_code == 200
    made = r.json()
    assert made["is_success"] is True
    assert made["job_id"] == "1" and made["status"] == "1" and made["job_name"] == "tb-one"
    assert made["create_time"].isdigit() and made["service_url"].startswith("https://")

    body = listing(sim).json()
    assert body["is_success"] is True and body["job_total_count"] == 1
    assert body["quotas"] == 1000 and body["job_count_limit"] == 999
    (job,) = body["jobs"]
    assert set(job) == {"job_id", "job_name", "status", "create_time", "duration", "job_desc",
                        "service_url", "train_url", "resource_id"}
    assert job["job_id"] == 1 and job["status"] == Status.INIT and job["job_desc"] == "first"
    assert job["create_time"] == int(made["create_time"]) and job["service_url"] == made["service_url"]

    got = detail(sim, 1).json()
    assert got["is_success"] is True and got["job_name"] == "tb-one" and got["train_url"] == "/bucket/logs/"
    assert got["job_type"] == "mindinsight" and got["flavor"] == {"code": "modelarts.vm.cpu"}
    assert got["schedule"] == {"type": "stop", "time_unit": "HOURS", "duration": 2}
    assert got["remaining_duration"] == 2 * 3600 * 1000
    assert got["resource_id"] == job["resource_id"]


def test_create_defaults_and_trailing_slash(make_sim):
    sim = make_sim()
    r = requests.post(jobs_url(sim) + "/", json={"job_name": "x", "train_url": "/b/"}, headers=AUTH)
    assert r.status_code == 200
    got = requests.get(jobs_url(sim) + "/1/", headers=AUTH).json()
    assert got["job_type"] == "tensorboard" and got["job_desc"] == ""
    assert "flavor" not in got and "schedule" not in got and got["remaining_duration"] == 0


def test_null_optional_fields_mean_absent(make_sim):
    sim = make_sim()
    assert create(sim, job_desc=None, job_type=None, flavor=None, schedule=None).status_code == 200
    got = detail(sim, 1).json()
    assert got["job_desc"] == "" and got["job_type"] == "tensorboard" and "schedule" not in got


def test_oversized_body_refused_unread(make_sim):
    sim = make_sim()
    host, port = sim.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(b"POST /v1/p1/visualization-jobs HTTP/1.1\r\nHost: x\r\nX-Auth-Token: t\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 13000000\r\n\r\n{")
        answer = conn.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413") and "Connection: close" in answer
    assert sim.stats_snapshot() == {}


def test_numeric_ids_reading(make_sim):
    sim = make_sim(numbers_as_strings=False)
    made = create(sim).json()
    assert made["job_id"] == 1 and made["status"] == 1 and isinstance(made["create_time"], int)


def test_job_ids_increase_and_projects_are_separate(make_sim):
    sim = make_sim()
    ids = [create(sim, f"j{i}", project="p1").json()["job_id"] for i in range(3)]
    other = create(sim, "j0", project="p2").json()["job_id"]
    assert ids == ["1", "2", "3"] and other == "4"
    assert [j["job_name"] for j in listing(sim, "p2").json()["jobs"]] == ["j0"]
    assert detail(sim, 4, project="p1").json()["error_code"] == "ModelArts.0102"


@pytest.mark.parametrize("schedule", [
    {"type": "stop", "time_unit": "HOURS", "duration": 3},
    [{"type": "stop", "time_unit": "HOURS", "duration": 3}],
])
def test_schedule_object_or_one_element_list(make_sim, schedule):
    sim = make_sim()
    assert create(sim, schedule=schedule).status_code == 200
    assert detail(sim, 1).json()["schedule"] == {"type": "stop", "time_unit": "HOURS", "duration": 3}


@pytest.mark.parametrize("fields, code", [
    ({"job_name": ""}, "ModelArts.0101"),
    ({"job_name": "a" * 21}, "ModelArts.0101"),
    ({"job_name": "bad name"}, "ModelArts.0101"),
    ({"job_name": "bad.name"}, "ModelArts.0101"),
    ({"job_name": 7}, "ModelArts.0101"),
    ({"train_url": ""}, "ModelArts.0101"),
    ({"train_url": None}, "ModelArts.0101"),
    ({"job_desc": "d" * 257}, "ModelArts.0104"),
    ({"job_type": "jupyter"}, "ModelArts.0101"),
    ({"flavor": "cpu"}, "ModelArts.0101"),
    ({"flavor": {"code": 3}}, "ModelArts.0101"),
    ({"schedule": [{"type": "stop", "time_unit": "HOURS", "duration": 1}] * 2}, "ModelArts.0101"),
    ({"schedule": []}, "ModelArts.0101"),
    ({"schedule": {"type": "start", "time_unit": "HOURS", "duration": 1}}, "ModelArts.0101"),
    ({"schedule": {"type": "stop", "time_unit": "MINUTES", "duration": 1}}, "ModelArts.0101"),
    ({"schedule": {"type": "stop", "time_unit": "HOURS", "duration": 25}}, "ModelArts.0101"),
    ({"schedule": {"type": "stop", "time_unit": "HOURS", "duration": "1"}}, "ModelArts.0101"),
])
def test_create_validation(make_sim, fields, code):
    sim = make_sim()
    body = {"job_name": "ok", "train_url": "/b/", **fields}
    r = requests.post(jobs_url(sim), json=body, headers=AUTH)
    assert r.status_code == 400
    assert r.json()["is_success"] is False and r.json()["error_code"] == code and r.json()["error_message"]
    assert listing(sim).json()["job_total_count"] == 0


def test_create_limits_accepted(make_sim):
    sim = make_sim()
    r = create(sim, "A_b-" + "9" * 16, job_desc="d" * 256,
               schedule={"type": "stop", "time_unit": "HOURS", "duration": 24})
    assert r.status_code == 200


def test_create_refuses_bad_json(make_sim):
    sim = make_sim()
    r = requests.post(jobs_url(sim), data=b"{not json", headers=AUTH)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0101"
    r = requests.post(jobs_url(sim), json=["job"], headers=AUTH)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0101"


# -- auth and routing --------------------------------------------------------------


def test_auth_required(make_sim):
    sim = make_sim()
    r = requests.get(jobs_url(sim))
    assert r.status_code == 401 and r.json()["error_code"] == "ModelArts.0108"
    assert requests.get(jobs_url(sim), headers={"X-Auth-Token": ""}).status_code == 401
    assert requests.post(jobs_url(sim), json={"job_name": "a", "train_url": "/b/"}).status_code == 401
    assert listing(sim).json()["job_total_count"] == 0


def test_configured_token_must_match(make_sim):
    sim = make_sim(token="secret")
    assert listing(sim).status_code == 401
    assert requests.get(jobs_url(sim), headers={"X-Auth-Token": "secret"}).status_code == 200


def test_aksk_signed_request_accepted_by_shape(make_sim):
    sim = make_sim()
    headers = {"X-Sdk-Date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
               "Authorization": "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=0a1b"}
    assert requests.get(jobs_url(sim), headers=headers).status_code == 200
    headers["Authorization"] = "Basic abc"
    assert requests.get(jobs_url(sim), headers=headers).status_code == 401


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/p1/other-jobs"),
    ("GET", "/v2/p1/visualization-jobs"),
    ("POST", "/v1/p1/visualization-jobs/1/pause"),
    ("PATCH", "/v1/p1/visualization-jobs/1"),
    ("GET", "/v1/p1/visualization-jobs/1/stop"),
])
def test_unknown_route_is_404_json(make_sim, method, path):
    sim = make_sim()
    r = requests.request(method, sim.url + path, headers=AUTH)
    assert r.status_code == 404 and r.json()["error_code"] == "APIG.0101"
    assert sim.stats_snapshot() == {}


# -- lifecycle -----------------------------------------------------------------------


def test_status_progression_in_real_time(make_sim):
    sim = make_sim(startup_seconds=0.3)
    create(sim)
    seen = [status_of(sim, 1)]
    deadline = time.monotonic() + 3
    while seen[-1] != Status.RUNNING and time.monotonic() < deadline:
        time.sleep(0.02)
        seen.append(status_of(sim, 1))
    assert seen[0] == Status.INIT
    assert Status.WAITING in seen and seen[-1] == Status.RUNNING
    assert seen.index(Status.WAITING) > 0


def test_status_progression_duration_and_auto_stop():
    clock = Clock()
    state = SimState(SimConfig(startup_seconds=0.9, hour_seconds=10), clock=clock)
    with SimServer(state=state) as sim:
        create(sim, schedule={"type": "stop", "time_unit": "HOURS", "duration": 2})
        clock.advance(0.2)
        assert status_of(sim, 1) == Status.INIT
        clock.advance(0.2)
        assert status_of(sim, 1) == Status.WAITING
        clock.advance(0.6)  # 1.0 s: running for 0.1 s
        got = detail(sim, 1).json()
        assert got["status"] == Status.RUNNING and got["duration"] == pytest.approx(100, abs=1)
        assert got["remaining_duration"] == pytest.approx(19_900, abs=1)
        clock.advance(19.85)
        assert status_of(sim, 1) == Status.RUNNING
        clock.advance(0.1)
        got = listing(sim).json()["jobs"][0]
        assert got["status"] == Status.COMPLETED and got["duration"] == pytest.approx(20_000, abs=1)


def test_schedule_duration_zero_never_stops():
    clock = Clock()
    with SimServer(state=SimState(SimConfig(startup_seconds=0, hour_seconds=1), clock=clock)) as sim:
        create(sim, schedule={"type": "stop", "time_unit": "HOURS", "duration": 0})
        clock.advance(1000)
        assert status_of(sim, 1) == Status.RUNNING


def test_fail_pattern(make_sim):
    clock = Clock()
    sim = make_sim(clock=clock, startup_seconds=1, fail_pattern="bad-*", fail_status=5)
    create(sim, "bad-1")
    create(sim, "good-1")
    create(sim, "not-bad-1")
    assert status_of(sim, 1) == Status.INIT
    clock.advance(1)
    assert [j["status"] for j in listing(sim).json()["jobs"]] == [5, 8, 8]
    assert detail(sim, 1).json()["duration"] == 0


def test_startup_jitter_spreads_startups():
    clock = Clock()
    with SimServer(state=SimState(SimConfig(startup_seconds=1, startup_jitter=0.5, seed=7), clock=clock)) as sim:
        for i in range(20):
            create(sim, f"j{i}")
        clock.advance(0.49)
        assert Status.RUNNING not in {j["status"] for j in listing(sim, per_page=50).json()["jobs"]}
        clock.advance(0.51)
        middle = [j["status"] for j in listing(sim, per_page=50).json()["jobs"]]
        assert Status.RUNNING in middle and Status.WAITING in middle
        clock.advance(0.51)
        assert {j["status"] for j in listing(sim, per_page=50).json()["jobs"]} == {Status.RUNNING}


def test_stop_restart_delete_rules():
    clock = Clock()
    config = SimConfig(startup_seconds=1, stop_seconds=0.5, delete_seconds=0.5)
    with SimServer(state=SimState(config, clock=clock)) as sim:
        create(sim)
        assert action(sim, 1, "restart").json()["error_code"] == "ModelArts.0105"  # pending
        clock.advance(1)
        r = action(sim, 1, "restart")  # running
        assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0105"
        assert action(sim, 1, "stop").json() == {"is_success": True}
        assert status_of(sim, 1) == Status.KILLING
        for verb in ("stop", "restart", "delete"):
            assert action(sim, 1, verb).json()["error_code"] == "ModelArts.0105", verb
        clock.advance(0.5)
        assert status_of(sim, 1) == Status.KILLED
        assert action(sim, 1, "stop").json()["error_code"] == "ModelArts.0105"
        assert action(sim, 1, "restart").json() == {"is_success": True}
        assert status_of(sim, 1) == Status.INIT
        clock.advance(1)
        assert status_of(sim, 1) == Status.RUNNING
        assert listing(sim).json()["job_total_count"] == 1
        # a pending job can be stopped
        create(sim, "job-b")
        assert action(sim, 2, "stop").status_code == 200
        clock.advance(0.5)
        assert status_of(sim, 2) == Status.KILLED


def test_stop_of_completed_job_refused():
    clock = Clock()
    with SimServer(state=SimState(SimConfig(startup_seconds=0, hour_seconds=1), clock=clock)) as sim:
        create(sim, schedule={"type": "stop", "time_unit": "HOURS", "duration": 1})
        clock.advance(1)
        assert status_of(sim, 1) == Status.COMPLETED
        assert action(sim, 1, "stop").json()["error_code"] == "ModelArts.0105"
        assert action(sim, 1, "restart").status_code == 200


def test_delete_shows_killing_then_disappears(make_sim):
    sim = make_sim(startup_seconds=0, delete_seconds=0.2)
    create(sim)
    assert action(sim, 1, "delete").json() == {"is_success": True}
    assert listing(sim).json()["jobs"][0]["status"] == Status.KILLING
    assert action(sim, 1, "delete").json()["error_code"] == "ModelArts.0105"
    time.sleep(0.25)
    body = listing(sim).json()
    assert body["jobs"] == [] and body["job_total_count"] == 0 and body["job_count_limit"] == 1000
    r = detail(sim, 1)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0102"
    assert action(sim, 1, "delete").json()["error_code"] == "ModelArts.0102"


def test_update_job_desc(make_sim):
    sim = make_sim()
    create(sim, job_desc="old")
    url = f"{jobs_url(sim)}/1"
    assert requests.put(url, json={"job_desc": "new"}, headers=AUTH).json() == {"is_success": True}
    assert listing(sim).json()["jobs"][0]["job_desc"] == "new"
    r = requests.put(url, json={"job_desc": "x" * 257}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0104"
    assert requests.put(url, json={}, headers=AUTH).json()["error_code"] == "ModelArts.0101"
    r = requests.put(f"{jobs_url(sim)}/99", json={"job_desc": "x"}, headers=AUTH)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0102"


# -- list query ----------------------------------------------------------------------


def test_pagination_of_1050_jobs(make_sim):
    sim = make_sim()
    sim.state.seed_jobs("p1", [{"job_name": f"job-{i:04d}", "train_url": "/b/"} for i in range(1050)])
    first = listing(sim, per_page=1000, page=1).json()
    second = listing(sim, per_page=1000, page=2).json()
    third = listing(sim, per_page=1000, page=3).json()
    assert first["job_total_count"] == second["job_total_count"] == third["job_total_count"] == 1050
    assert len(first["jobs"]) == 1000 and len(second["jobs"]) == 50 and third["jobs"] == []
    ids = [j["job_id"] for j in first["jobs"] + second["jobs"]]
    assert ids == list(range(1, 1051))
    assert first["job_count_limit"] == 0
    assert len(listing(sim).json()["jobs"]) == 10  # per_page defaults to 10


def test_per_page_clamped_to_max_per_page(make_sim):
    sim = make_sim(max_per_page=100)
    sim.state.seed_jobs("p1", [{"job_name": f"j{i}", "train_url": "/b/"} for i in range(150)])
    body = listing(sim, per_page=1000, page=2).json()
    assert len(body["jobs"]) == 50 and body["jobs"][0]["job_id"] == 101 and body["job_total_count"] == 150


@pytest.mark.parametrize("params", [{"per_page": 0}, {"per_page": 1001}, {"per_page": "ten"}, {"page": 0},
                                    {"status": "x"}, {"order": "up"}, {"sortBy": "color"}])
def test_list_bad_query(make_sim, params):
    sim = make_sim()
    r = listing(sim, **params)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0101"


def test_sort_by_either_spelling(make_sim):
    sim = make_sim()
    sim.state.seed_jobs("p1", [{"job_name": n, "train_url": "/b/", "job_desc": d}
                               for n, d in [("bravo", "2"), ("alpha", "3"), ("charlie", "1")]])
    names = lambda body: [j["job_name"] for j in body["jobs"]]  # noqa: E731
    assert names(listing(sim).json()) == ["bravo", "alpha", "charlie"]
    assert names(listing(sim, sortBy="job_name").json()) == ["alpha", "bravo", "charlie"]
    assert names(listing(sim, sort_by="job_name", order="desc").json()) == ["charlie", "bravo", "alpha"]
    assert names(listing(sim, sortBy="job_desc").json()) == ["charlie", "bravo", "alpha"]
    assert names(listing(sim, sort_by="job_id", order="desc").json()) == ["charlie", "alpha", "bravo"]


def test_sort_by_status_and_status_filter(make_sim):
    sim = make_sim(startup_seconds=60)
    sim.state.seed_jobs("p1", [{"job_name": "a", "train_url": "/b/", "status": 12},
                               {"job_name": "b", "train_url": "/b/", "running": True},
                               {"job_name": "c", "train_url": "/b/", "status": 3},
                               {"job_name": "d", "train_url": "/b/"}])
    assert [j["status"] for j in listing(sim, sortBy="status").json()["jobs"]] == [1, 3, 8, 12]
    body = listing(sim, status=3).json()
    assert body["job_total_count"] == 1 and body["jobs"][0]["job_name"] == "c"
    assert listing(sim, status=8).json()["jobs"][0]["job_name"] == "b"


def test_search_content_is_a_substring_search(make_sim):
    sim = make_sim()
    sim.state.seed_jobs("p1", [{"job_name": n, "train_url": "/b/"} for n in ("tb", "tb-2", "My-TB", "other")])
    body = listing(sim, search_content="tb").json()
    assert sorted(j["job_name"] for j in body["jobs"]) == ["My-TB", "tb", "tb-2"]
    assert body["job_total_count"] == 3
    assert listing(sim, search_content="x" * 64).status_code == 200
    r = listing(sim, search_content="x" * 65)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0104"
    assert r.json()["error_message"] == "The length of search content should be in [0,64]"


def test_quota(make_sim):
    sim = make_sim(quota=2)
    assert create(sim, "a").status_code == 200
    assert listing(sim).json()["job_count_limit"] == 1
    assert create(sim, "b").status_code == 200
    body = listing(sim).json()
    assert body["job_count_limit"] == 0 and body["quotas"] == 2
    r = create(sim, "c")
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0106"
    assert create(sim, "c", project="p2").status_code == 200  # quota is per project


@pytest.mark.parametrize("reject", [False, True])
def test_duplicate_names(make_sim, reject):
    sim = make_sim(reject_duplicate_names=reject)
    assert create(sim, "same").status_code == 200
    r = create(sim, "same")
    if reject:
        assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0103"
        assert listing(sim).json()["job_total_count"] == 1
    else:
        assert r.status_code == 200 and r.json()["job_id"] == "2"
        assert [j["job_name"] for j in listing(sim).json()["jobs"]] == ["same", "same"]


def test_list_lag_shows_new_jobs_late(make_sim):
    clock = Clock()
    sim = make_sim(clock=clock, list_lag=3.0, reject_duplicate_names=True)
    assert create(sim, "late").status_code == 200
    assert listing(sim).json()["jobs"] == []
    assert detail(sim, 1).status_code == 200  # only the list lags
    r = create(sim, "late")
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.0103"
    assert sim.stats["answer ModelArts.0103"] == 1
    clock.advance(3.0)
    assert [j["job_name"] for j in listing(sim).json()["jobs"]] == ["late"]


# -- persistence ---------------------------------------------------------------------


def test_state_file_persists_across_servers(tmp_path):
    path = tmp_path / "sub" / "state.json"
    config = SimConfig(startup_seconds=0, stop_seconds=0)
    with SimServer(config, state_path=path) as first:
        create(first, "keep", job_desc="kept", schedule={"type": "stop", "time_unit": "HOURS", "duration": 5})
        create(first, "stopped")
        action(first, 2, "stop")
        before = listing(first).json()["jobs"]
    assert json.loads(path.read_text())["next_id"] == 3
    with SimServer(SimConfig(startup_seconds=0), state_path=path) as second:
        after = listing(second).json()["jobs"]
        assert [(j["job_id"], j["job_name"], j["status"]) for j in after] == [(1, "keep", 8), (2, "stopped", 12)]
        assert after[0]["create_time"] == before[0]["create_time"]
        assert after[0]["resource_id"] == before[0]["resource_id"]
        assert detail(second, 1).json()["schedule"]["duration"] == 5
        assert create(second, "new").json()["job_id"] == "3"
    assert len(json.loads(path.read_text())["projects"]["p1"]) == 3


def test_corrupt_state_file_is_reported(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{")
    with pytest.raises(SimStateError, match="cannot read simulator state .*state.json: it is not JSON"):
        SimState(SimConfig(), path)


# -- faults --------------------------------------------------------------------------


def test_rate_429(make_sim):
    sim = make_sim(rate_429=1.0, retry_after=2)
    r = create(sim)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    body = r.json()
    assert body["error_code"] == "APIG.0308" and "error_message" not in body
    assert body["error_msg"].startswith("The throttling threshold has been reached: policy user over ratelimit")
    assert sim.state.list_jobs("p1", {})["job_total_count"] == 0
    assert sim.stats["faults.429"] == 1 and sim.stats["POST create"] == 1


def test_rate_5xx(make_sim):
    sim = make_sim(rate_5xx=1.0)
    r = create(sim)
    assert r.status_code == 500 and r.json()["error_code"] == "ModelArts.0010"
    assert sim.state.list_jobs("p1", {})["job_total_count"] == 0


def test_rate_drop_closes_without_answer(make_sim, capfd):
    sim = make_sim(rate_drop=1.0)
    with pytest.raises(requests.ConnectionError):
        create(sim)
    with pytest.raises(requests.ConnectionError):
        listing(sim)
    assert sim.state.list_jobs("p1", {})["job_total_count"] == 0
    assert sim.stats["faults.drop"] == 2
    assert requests.get(f"{sim.url}/__sim__/health").status_code == 200
    assert capfd.readouterr().err == ""


def test_lost_response_carries_out_the_mutation(make_sim):
    sim = make_sim(rate_lost_response=1.0)
    with pytest.raises(requests.ConnectionError):
        create(sim, "ghost")
    assert listing(sim).json()["jobs"][0]["job_name"] == "ghost"  # reads are never lost
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{jobs_url(sim)}/1", json={"job_desc": "changed"}, headers=AUTH)
    assert detail(sim, 1).json()["job_desc"] == "changed"
    assert sim.stats["faults.lost_response"] == 2


def test_max_rps_throttles_a_burst(make_sim):
    sim = make_sim(max_rps=5, retry_after=0.5)
    with requests.Session() as session:
        started = time.monotonic()
        codes = [session.get(jobs_url(sim), headers=AUTH).status_code for _ in range(8)]
        elapsed = time.monotonic() - started
    assert elapsed < 1, "the burst must fit in the 1 s window"
    assert codes == [200] * 5 + [429] * 3
    r = listing(sim)
    assert r.status_code == 429 and "limit:5," in r.json()["error_msg"] and r.headers["Retry-After"] == "0.5"
    time.sleep(1.0)
    assert listing(sim).status_code == 200


def test_latency_applies_to_api_not_admin(make_sim):
    sim = make_sim(latency=0.2)
    started = time.monotonic()
    requests.get(f"{sim.url}/__sim__/health")
    assert time.monotonic() - started < 0.15
    started = time.monotonic()
    listing(sim)
    assert time.monotonic() - started >= 0.2


def test_concurrent_creates(make_sim):
    sim = make_sim()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda i: create(sim, f"c{i}").json(), range(80)))
    assert sorted(int(a["job_id"]) for a in answers) == list(range(1, 81))
    assert listing(sim, per_page=100).json()["job_total_count"] == 80
    assert sim.stats["POST create"] == 80


# -- admin endpoints ------------------------------------------------------------------


def test_admin_endpoints(make_sim):
    sim = make_sim(startup_seconds=60)
    admin = f"{sim.url}/__sim__"
    assert requests.get(f"{admin}/health").json()["status"] == "ok"
    seeded = requests.post(f"{admin}/seed", params={"project_id": "p9"},
                           json={"jobs": [{"job_name": "s1", "train_url": "/b/", "running": True},
                                          {"job_name": "s2", "train_url": "/b/", "status": 12}]})
    assert [j["status"] for j in seeded.json()["jobs"]] == [8, 12]
    r = requests.post(f"{admin}/fail", json={"project_id": "p9", "job_id": 1, "status": 14})
    assert r.status_code == 200
    assert status_of(sim, 1, "p9") == Status.LOST
    assert requests.post(f"{admin}/fail", json={"project_id": "p9", "job_id": 99, "status": 3}).status_code == 400

    r = requests.post(f"{admin}/config", json={"rate_5xx": 1, "quota": 7})
    assert r.status_code == 200 and r.json()["rate_5xx"] == 1.0 and sim.config.quota == 7
    assert listing(sim, "p9").status_code == 500
    assert requests.post(f"{admin}/config", json={"rate_5xx": 0}).status_code == 200
    assert listing(sim, "p9").json()["quotas"] == 7
    for bad in ({"nope": 1}, {"rate_429": 2}, {"quota": "7"}, {"startup_seconds": True}):
        assert requests.post(f"{admin}/config", json=bad).status_code == 400, bad
    assert sim.config.rate_429 == 0

    stats = requests.get(f"{admin}/stats").json()
    assert stats == {"GET detail": 1, "GET list": 2, "faults": 1, "faults.5xx": 1}
    assert requests.post(f"{admin}/stats/reset").status_code == 200
    assert requests.get(f"{admin}/stats").json() == {}
    assert requests.get(f"{admin}/nothing").status_code == 404
    assert requests.post(f"{admin}/seed", json={"jobs": []}).status_code == 400  # no project_id


def test_admin_not_subject_to_faults_or_auth(make_sim):
    sim = make_sim(rate_drop=1.0, token="secret", max_rps=1)
    for _ in range(3):
        assert requests.get(f"{sim.url}/__sim__/health").status_code == 200
    assert sim.stats_snapshot() == {}


def test_seed_jobs_and_set_fail_in_process():
    clock = Clock()
    state = SimState(SimConfig(startup_seconds=1), clock=clock)
    spec = {"job_name": "s", "train_url": "/b/", "status": 12}
    (made,) = state.seed_jobs("p", [spec])
    assert made["status"] == 12 and "status" in spec  # the caller's dict is left alone
    clock.advance(100)
    assert state.get_job("p", "1")["status"] == 12
    (running,) = state.seed_jobs("p", [{"job_name": "r", "train_url": "/b/", "running": True}])
    clock.advance(2)
    assert state.get_job("p", str(running["job_id"]))["duration"] == 2000
    state.set_fail("p", running["job_id"], 3)
    clock.advance(5)
    got = state.get_job("p", "2")
    assert got["status"] == 3 and got["duration"] == 2000
    with pytest.raises(Exception, match="ModelArts.0101"):
        state.seed_jobs("p", [{"job_name": "bad name", "train_url": "/b/"}])


# -- config --------------------------------------------------------------------------


def test_config_from_args():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert SimConfig.from_args(parser.parse_args([])) == SimConfig()
    ns = parser.parse_args(["--startup-seconds", "0.5", "--fail-pattern", "x*", "--rate-429", "0.1",
                            "--max-rps", "20", "--seed", "3", "--numeric-ids", "--reject-duplicate-names",
                            "--max-per-page", "100", "--hour-seconds", "2"])
    config = SimConfig.from_args(ns, {"token": "t"})
    assert (config.startup_seconds, config.fail_pattern, config.rate_429, config.max_rps, config.seed) == (
        0.5, "x*", 0.1, 20.0, 3)
    assert config.numbers_as_strings is False and config.reject_duplicate_names is True
    assert (config.token, config.max_per_page, config.hour_seconds) == ("t", 100, 2.0)


def test_config_validation():
    with pytest.raises(ValueError, match="rate_drop"):
        SimConfig(rate_drop=1.5)
    with pytest.raises(ValueError, match="max_per_page"):
        SimConfig(max_per_page=0)
    config = SimConfig()
    with pytest.raises(ValueError):
        config.update({"latency": 0.1, "quota": -1})
    assert config.latency == 0.0  # all or nothing
    config.update({"max_rps": None, "fail_pattern": "f*", "latency": 1})
    assert config.latency == 1.0 and config.fail_pattern == "f*"
