"""The API client against the simulator over loopback: both number readings, paging, retries, errors."""

from __future__ import annotations

import pytest

from vizctl.api.auth import TokenAuth
from vizctl.api.client import ListPage, ModelArtsClient, _list_problem, parse_answer
from vizctl.errors import ApiResponseError, AuthError, ServerError, ThrottledError, TransportError
from vizctl.api.retry import RateLimiter, RetryPolicy
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.model import LiveJob
from vizctl.api.transport import Request, Response


def client_for(sim, sleeps=None, **kwargs):
    kwargs.setdefault("retry", RetryPolicy(attempts=3, backoff=0.01, jitter=False))
    return ModelArtsClient(sim.url, "proj-1", TokenAuth("t0ken-value"), sleep=(sleeps.append if sleeps is not None else lambda s: None), **kwargs)


@pytest.mark.parametrize("strings", [True, False])
def test_create_answer_in_either_number_reading(strings):
    with SimServer(SimConfig(numbers_as_strings=strings, startup_seconds=0.1)) as sim:
        job = client_for(sim).create_job({"job_name": "n-1", "train_url": "/b/"})
        assert job.job_id == "1" and job.status == 1 and isinstance(job.create_time, int)


def test_list_all_reads_every_page_even_when_the_server_clamps_per_page():
    with SimServer(SimConfig(max_per_page=100, quota=5000)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"j-{i}", "train_url": "/b/"} for i in range(250)])
        client = client_for(sim)
        snapshot = client.list_all()
        assert len(snapshot.jobs) == 250 and len({j.job_id for j in snapshot.jobs}) == 250
        assert client.calls["list"] == 3 + 1 == snapshot.list_calls  # three pages, then the newest-first cross-check
        assert snapshot.job_count_limit == 4750 and snapshot.quotas == 5000


def test_a_one_page_list_asks_page_1_and_its_cross_check_at_once_in_one_round_trip():
    with SimServer(SimConfig(latency=0.2)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"j-{i}", "train_url": "/b/"} for i in range(3)])
        sent: list[str] = []
        client = client_for(sim, log=sent.append)
        snapshot = client.list_all()
        assert len(snapshot.jobs) == 3 and client.calls["list"] == 2 == snapshot.list_calls
        assert sim.most_at_once == 2  # the cross-check did not wait for page 1's answer
        [cross_check] = [line for line in sent if "order=desc" in line]
        assert "per_page=100&page=1&" in cross_check  # the newest end, not a whole 1000-job page


def test_two_list_pages_refused_at_once_fall_back_once_with_one_notice():
    with SimServer(SimConfig(sort_keys="sdk", latency=0.1)) as sim:  # latency: both leave before either is refused
        sim.state.seed_jobs("proj-1", [{"job_name": f"j-{i}", "train_url": "/b/"} for i in range(3)])
        notices: list[str] = []
        client = client_for(sim, notice=notices.append)
        assert len(client.list_all().jobs) == 3
        assert sim.stats["answer ModelArts.0101"] == 2 and client.sort_key == "create_time" and client.per_page == 1000
        assert len(notices) == 1 and "sorting by create_time" in notices[0]


def test_a_refused_token_on_page_1_and_its_cross_check_is_one_auth_error():
    with SimServer(SimConfig(token="right", latency=0.1)) as sim:
        client = client_for(sim)
        with pytest.raises(AuthError) as caught:
            client.list_all()
        assert "per_page=1000&page=1&" in str(caught.value) and "order=asc" in str(caught.value)  # page 1's, not the cross-check's
        assert client.calls["list"] == 2 and sim.most_at_once == 2


def _page(ids, total):
    jobs = tuple(LiveJob(job_id=str(i), job_name=f"j-{i}", status=8, job_desc="", train_url="/b/") for i in ids)
    return ListPage(jobs=jobs, total=total, job_count_limit=None, quotas=None)


@pytest.mark.parametrize("pages, newest, problem", [
    # a total that claims the last page early: 1,050 jobs, 1,000 on the one page read; the 100 newest show the rest
    ([_page(range(1, 1001), 1000)], _page(range(1050, 950, -1), 1000), "the newest jobs include 50 not on the pages"),
    # a list that misses everything: an empty page 1, while the newest-first page lists jobs
    ([_page((), 0)], _page(range(5, 0, -1), 0), "the newest jobs include 5 not on the pages"),
    ([_page(range(1, 1001), 1000)], _page(range(1000, 900, -1), 1000), None),
])
def test_a_cross_check_of_100_newest_jobs_sees_what_a_whole_page_did(pages, newest, problem):
    assert _list_problem(pages, newest) == problem


def test_list_newest_stops_once_the_wanted_ids_are_seen():
    with SimServer(SimConfig(quota=5000)) as sim:
        seeded = sim.state.seed_jobs("proj-1", [{"job_name": f"j-{i}", "train_url": "/b/"} for i in range(2500)])
        client = client_for(sim)
        assert client.list_newest([str(seeded[-1]["job_id"])]).list_calls == 1
        assert client.list_newest([str(seeded[0]["job_id"])]).list_calls == 3


def test_find_by_name_is_exact_though_search_is_a_substring():
    with SimServer(SimConfig()) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": "/b/"} for n in ("web", "web-2", "old-web")])
        assert [j.job_name for j in client_for(sim).find_by_name("web")] == ["web"]


def test_reads_retry_429_honouring_retry_after_then_give_up():
    with SimServer(SimConfig(rate_429=1.0, retry_after=0.25)) as sim:
        sleeps: list[float] = []
        with pytest.raises(ThrottledError) as caught:
            client_for(sim, sleeps).list_page()
        assert sleeps == [0.25, 0.25]
        assert sim.stats["faults.429"] == 3
        assert caught.value.error_code == "APIG.0308" and "throttling threshold" in caught.value.error_message


def test_reads_retry_5xx_and_dropped_connections_with_backoff():
    with SimServer(SimConfig(rate_5xx=1.0)) as sim:
        sleeps: list[float] = []
        with pytest.raises(ServerError):
            client_for(sim, sleeps).list_page()
        assert sleeps == [0.01, 0.02]
    with SimServer(SimConfig(rate_drop=1.0)) as sim:
        with pytest.raises(TransportError) as caught:
            client_for(sim).list_page()
        assert caught.value.ambiguous and "connection failed" in str(caught.value)


def test_mutations_are_never_retried_by_the_client():
    with SimServer(SimConfig(rate_lost_response=1.0)) as sim:
        with pytest.raises(TransportError):
            client_for(sim).create_job({"job_name": "once", "train_url": "/b/"})
        assert sim.stats["POST create"] == 1
        assert [j["job_name"] for j in sim.state.list_jobs("proj-1", {})["jobs"]] == ["once"]


def test_a_modelarts_error_keeps_its_code_and_is_not_retried():
    with SimServer(SimConfig()) as sim:
        client = client_for(sim)
        with pytest.raises(ApiResponseError) as caught:
            client.get_job("424242")
        assert caught.value.error_code == "ModelArts.0102" and caught.value.http_status == 400
        assert client.calls["detail"] == 1


def test_401_is_an_auth_error_and_not_retried():
    with SimServer(SimConfig(token="right")) as sim:
        client = client_for(sim)
        with pytest.raises(AuthError):
            client.list_page()
        assert client.calls["list"] == 1


def test_error_message_read_from_either_key():
    request = Request("GET", "http://x/v1/p/visualization-jobs")
    for key in ("error_message", "error_msg"):
        body = ('{"is_success": false, "error_code": "ModelArts.0104", "%s": "bad search"}' % key).encode()
        with pytest.raises(ApiResponseError, match="ModelArts.0104: bad search"):
            parse_answer(Response(400, {}, body), request)
    with pytest.raises(ApiResponseError, match="ModelArts.0101"):  # HTTP 200 but is_success false
        parse_answer(Response(200, {}, b'{"is_success": false, "error_code": "ModelArts.0101"}'), request)


def test_rate_limiter_allows_at_most_rate_requests_in_any_second():
    now = [0.0]
    sent: list[float] = []

    def sleep(seconds):
        now[0] += seconds

    limiter = RateLimiter(rate=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(23):
        limiter.acquire()
        sent.append(now[0])
        now[0] += 0.01
    assert max(sum(1 for t in sent if start <= t < start + 1.0 - 1e-6) for start in sent) == 5
    assert sent[5] >= 1.0 - 1e-6  # the sixth waited for the window to move


def test_token_is_not_in_the_auth_repr():
    assert "t0ken" not in repr(TokenAuth("t0ken-value"))
