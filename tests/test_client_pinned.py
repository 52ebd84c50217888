"""Client behaviour that mutation testing found unpinned (tests/MUTATION.md): a search sent with every page of a
read, an AK/SK first read of several pages, what an answer means (3xx, missing or string is_success, empty bodies)
and that no credential shows in it, and the rate limiter's wait ending on Ctrl-C. Simulator over loopback, or pure."""

from __future__ import annotations

import threading
import time

import pytest

from test_auth_methods import AK, SK, aksk_env, connect, sim_with
from test_client import client_for
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient, parse_answer
from vizctl.errors import ApiResponseError, AuthError, ProtocolError, RedirectAnswer, RetryCancelled, ServerError, ThrottledError, UnsuccessfulAnswer
from vizctl.api.retry import RateLimiter, RetryPolicy
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.api.transport import Request, Response

NAMES = ["x-1", "x-10", "x-11", "x-12", "y-1", "y-2", "y-3"]


def test_a_search_goes_with_page_1_its_cross_check_and_every_later_page():
    with SimServer(SimConfig(max_per_page=2)) as sim:  # "x-1" matches four jobs: two pages of the search
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/b/{n}/"} for n in NAMES])
        notices: list[str] = []
        client = client_for(sim, notice=notices.append)
        assert [job.job_name for job in client.find_by_name("x-1")] == ["x-1"]
        assert client.calls["list"] == 3 and notices == []  # page 1, its cross-check, page 2: every one searched


def test_a_read_refused_for_its_sort_asks_the_same_page_again_in_the_sdk_terms_search_order_and_size_kept():
    with SimServer(SimConfig(max_per_page=2, sort_keys="sdk")) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/b/{n}/"} for n in NAMES])
        sent: list[str] = []
        client = client_for(sim, log=sent.append)
        assert [job.job_name for job in client.find_by_name("x-1")] == ["x-1"]
        assert client.calls["list"] == 2 + 2 + 1  # page 1 and its cross-check refused and asked again, then page 2
    accepted = [line.split(" -> ")[0] for line in sent if line.endswith(")") and " -> 200 " in line]
    both = "sortBy=create_time&sort_by=create_time"  # both spellings: the API page's and the SDK page's
    assert f"GET /v1/proj-1/visualization-jobs?per_page=100&page=1&{both}&order=desc&search_content=x-1" in accepted
    assert f"GET /v1/proj-1/visualization-jobs?per_page=1000&page=2&{both}&order=asc&search_content=x-1" in accepted


def test_an_aksk_first_read_of_several_pages_sends_page_1_alone_then_reads_the_rest_once():
    with sim_with(access_key=AK, secret_key=SK, projects={"eu-de": "pid-eu-de"}, max_per_page=2) as sim:
        sim.state.seed_jobs("pid-eu-de", [{"job_name": n, "train_url": f"/b/{n}/"} for n in NAMES])
        conn, client = connect(aksk_env(sim))
        notices: list[str] = []
        client.notice = notices.append
        snapshot = client.list_all()
        assert sorted(job.job_name for job in snapshot.jobs) == sorted(NAMES)
        assert snapshot.list_calls == 1 + 1 + 3 and notices == []  # page 1 alone, then its cross-check and pages 2-4
        conn, client = connect(aksk_env(sim))
        assert [job.job_name for job in client.find_by_name("x-1")] == ["x-1"]  # a search read first: page 1 alone, searched
        assert client.calls["list"] == 3


def test_details_reads_stop_at_the_first_that_fails_for_good_and_none_is_nothing_to_read():
    with SimServer(SimConfig(latency=0.05)) as sim:
        seeded = sim.state.seed_jobs("proj-1", [{"job_name": f"d-{i}", "train_url": "/b/"} for i in range(8)])
        client = client_for(sim)
        assert client.get_jobs([], 4) == []
        with pytest.raises(ApiResponseError, match="job 999 does not exist"):  # not retried
            client.get_jobs(["999", *(str(job["job_id"]) for job in seeded)], 1)
        assert sim.stats["GET detail"] <= 2  # the queued reads were dropped, not sent after the failure


def test_a_page_read_that_fails_for_good_sends_none_of_the_pages_still_queued():
    with SimServer(SimConfig(max_per_page=2, max_rps=2, retry_after=30, latency=0.1)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": f"q-{i}", "train_url": "/b/"} for i in range(40)])
        client = client_for(sim, retry=RetryPolicy(), deadline=time.monotonic() + 3)  # 30 s is beyond it: fails at once
        with pytest.raises(RetryCancelled, match="throttled"):
            client.list_all()
        # page 1 and its cross-check pass; of pages 2-20 four leave together and are refused, and no worker sends
        # another once one was refused for good
        assert sim.stats["GET list"] <= 2 + 4, dict(sim.stats)


REQUEST = Request("GET", "https://modelarts.example/v1/p/visualization-jobs")


@pytest.mark.parametrize("status", [300, 301, 399])
def test_every_3xx_is_a_redirect_naming_where_it_points_without_the_credentials(status):
    answer = Response(status, {"Location": "http://modelarts.example/v1/p?token=t0ken-value"}, b"<html>moved</html>")
    with pytest.raises(RedirectAnswer) as caught:
        parse_answer(answer, REQUEST, ["t0ken-value"])
    assert caught.value.http_status == status
    assert "a redirect to http://modelarts.example/v1/p?token=" in str(caught.value) and "t0ken-value" not in str(caught.value)
    with pytest.raises(RedirectAnswer, match=r"a redirect to \(none\)"):
        parse_answer(Response(status, {}, b""), REQUEST)


def test_success_needs_no_is_success_field_and_an_empty_body_is_an_empty_object():
    assert parse_answer(Response(200, {}, b'{"jobs": []}'), REQUEST) == {"jobs": []}
    assert parse_answer(Response(204, {}, b""), REQUEST) == {}


def test_is_success_false_as_a_string_is_unsuccessful_and_no_error_code_stays_none():
    with pytest.raises(UnsuccessfulAnswer) as caught:
        parse_answer(Response(200, {}, b'{"is_success": "false", "error_msg": "quota"}'), REQUEST)
    assert caught.value.error_code is None and caught.value.error_message == "quota"
    assert (caught.value.method, caught.value.path) == ("GET", "/v1/p/visualization-jobs")


def test_a_429_without_a_throttle_code_is_throttling():
    with pytest.raises(ThrottledError) as caught:
        parse_answer(Response(429, {"Retry-After": "2"}, b'{"error_msg": "slow down"}'), REQUEST)
    assert (caught.value.retry_after, caught.value.method, caught.value.path) == (2, "GET", "/v1/p/visualization-jobs")


@pytest.mark.parametrize("status, kind, not_kind", [(401, AuthError, None), (403, AuthError, None), (404, ApiResponseError, AuthError),
                                                     (408, ServerError, None), (409, ApiResponseError, ServerError)])
def test_each_error_status_is_its_error_class(status, kind, not_kind):
    with pytest.raises(kind) as caught:
        parse_answer(Response(status, {}, b'{"error_code": "X.1", "error_msg": "no"}'), REQUEST)
    assert not_kind is None or not isinstance(caught.value, not_kind)


def test_a_400_that_is_not_json_is_the_apis_refusal_not_a_protocol_error():
    with pytest.raises(ApiResponseError) as caught:  # list_page falls back to the SDK page's reading on a 400
        parse_answer(Response(400, {}, b"<html>Bad Request</html>"), REQUEST)
    assert caught.value.http_status == 400 and not isinstance(caught.value, ProtocolError)


def test_a_credential_in_an_error_code_or_message_is_masked():
    body = b'{"error_code": "X.t0ken-value", "error_msg": "bad token t0ken-value"}'
    with pytest.raises(ApiResponseError) as caught:
        parse_answer(Response(403, {}, body), REQUEST, ["t0ken-value"])
    assert "t0ken-value" not in str(caught.value) + (caught.value.error_code or "") + caught.value.error_message


def test_ctrl_c_during_the_rate_limiters_wait_sends_nothing():
    now, cancel = [0.0], threading.Event()

    def sleep(seconds):  # Ctrl-C arrives during the wait
        now[0] += seconds
        cancel.set()

    limiter = RateLimiter(1, clock=lambda: now[0], sleep=sleep)
    assert limiter.acquire(cancel) is True  # the first request of the second goes at once
    assert limiter.acquire(cancel) is False


def test_a_request_the_rate_limiter_held_back_until_ctrl_c_is_not_sent():
    with SimServer(SimConfig()) as sim:
        client = client_for(sim, rate_limiter=RateLimiter(1, sleep=lambda s: client.cancel.set()))
        client.list_page()
        with pytest.raises(RetryCancelled, match="was not sent"):
            client.list_page()
        assert client.calls["list"] == 1 and sim.stats["GET list"] == 1


def test_a_429_naming_the_gateways_limit_sets_the_rate_to_90_percent_of_it():
    with SimServer(SimConfig(max_rps=2, retry_after=0.01)) as sim:
        limiter = RateLimiter()
        client = ModelArtsClient(sim.url, "proj-1", TokenAuth("t0ken-value"), rate_limiter=limiter)
        for _ in range(3):  # the third in one second is refused: "limit:2, time:1 second"; its retries wait for the limiter
            client.list_page()
        assert sim.stats["faults.max_rps"] >= 1 and limiter.rate == pytest.approx(1.8)
