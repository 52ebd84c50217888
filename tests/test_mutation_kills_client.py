"""Kill-tests of the mutation run over api/client.py (tests/MUTATION.md, part 3): what the client decides from
an answer (a whole list, a created job, a failure, an ambiguous change), its deadline and its waits.
Small servers over loopback (tests/httputil.py) or the simulator, or pure."""

from __future__ import annotations

import collections
import email.utils
import json
import re
import time

import pytest

from httputil import Recorder
from test_client import client_for
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ListPage, ModelArtsClient, _list_item, _list_problem, _retry_after, parse_job, snippet
from vizctl.api.retry import RetryPolicy
from vizctl.errors import ApiResponseError, DeadlineExceeded, InconsistentList, ProtocolError, ThrottledError
from vizctl.api.transport import Request
from vizctl.model import LiveJob

JSON = {"Content-Type": "application/json"}
BASE = "/v1/proj-1/visualization-jobs"


def _query(handler) -> dict[str, str]:
    return dict(part.split("=", 1) for part in handler.path.split("?", 1)[1].split("&")) if "?" in handler.path else {}


def _job(n: int, **fields) -> dict:
    return {"job_id": n, "job_name": f"j-{n}", "status": 8, "train_url": "/b/", **fields}


# -- the changes: method, path, body, and the operation they are counted (and named in messages) under ---------


@pytest.mark.parametrize("call, line, body, op", [
    (lambda c: c.update_job("7/x", "new words"), f"PUT {BASE}/7%2Fx", {"job_desc": "new words"}, "update"),
    (lambda c: c.delete_job("7/x"), f"DELETE {BASE}/7%2Fx", None, "delete"),
    (lambda c: c.stop_job("7/x"), f"POST {BASE}/7%2Fx/stop", None, "stop"),
    (lambda c: c.restart_job("7/x"), f"POST {BASE}/7%2Fx/restart", None, "restart"),
    (lambda c: c.get_job("7/x"), f"GET {BASE}/7%2Fx", None, "detail"),
])
def test_each_call_is_its_method_and_one_path_segment_counted_under_its_operation(call, line, body, op):
    bodies = []

    def answer(handler):
        bodies.append(json.loads(handler.body) if handler.body else None)
        return 200, JSON, json.dumps(_job(7)).encode()

    with Recorder(answer) as server:
        client = client_for(server)
        call(client)
    assert [request for request, _ in server.requests] == [line] and bodies == [body]
    assert client.calls == collections.Counter({op: 1})


@pytest.mark.parametrize("call, doing", [
    (lambda c: c.update_job("7", "d"), "updating a job"),
    (lambda c: c.delete_job("7"), "deleting a job"),
    (lambda c: c.stop_job("7"), "stopping a job"),
    (lambda c: c.restart_job("7"), "restarting a job"),
    (lambda c: c.create_job({"job_name": "n", "train_url": "/b/"}), "creating a job"),
])
def test_a_change_throttled_past_the_deadline_says_what_it_was_doing(call, doing):
    with Recorder(lambda handler: (429, {**JSON, "Retry-After": "30"}, b'{"error_msg": "slow down"}')) as server:
        client = client_for(server, retry=RetryPolicy(), deadline=time.monotonic() + 5)
        with pytest.raises(DeadlineExceeded, match=f"^{doing} stopped: throttled: the API asked to wait 30 s, beyond --timeout"):
            call(client)
    assert len(server.requests) == 1




# -- what is sent: the URL of the project, the headers, the body ---------------------------------------------------------


def test_requests_go_under_the_endpoint_and_the_project_as_one_segment_with_json_headers():
    with Recorder(lambda handler: (200, JSON, json.dumps(_job(7)).encode())) as server:
        client = ModelArtsClient(server.url + "/", "p/1", TokenAuth("t0ken-value"))
        client.get_job("7")
        client.update_job("7", "d")
    (read, read_headers), (change, change_headers) = server.requests
    assert (read, change) == ("GET /v1/p%2F1/visualization-jobs/7", "PUT /v1/p%2F1/visualization-jobs/7")
    assert read_headers["Accept"] == change_headers["Accept"] == "application/json"
    assert "Content-Type" not in read_headers and change_headers["Content-Type"] == "application/json"


def test_a_wait_of_ten_seconds_or_more_is_announced_in_whole_seconds():
    answers = [(429, {**JSON, "Retry-After": "10"}, b'{"error_msg": "slow down"}'), (200, JSON, json.dumps(_job(7)).encode())]
    notices: list[str] = []
    sleeps: list[float] = []
    with Recorder(lambda handler: answers.pop(0)) as server:
        client_for(server, sleeps, retry=RetryPolicy(), notice=notices.append).get_job("7")
    assert notices == [f"throttled by the API, retrying in 10 s (GET {BASE}/7)"] and sleeps == [10]


# -- quoting an answer: short, one line, no tags, no credential ------------------------------------------------------


@pytest.mark.parametrize("body, quoted", [
    (b"<html><body><h1>502 Bad\n Gateway</h1></body></html>", "502 Bad Gateway"),
    (b"key only-this-call-s3cret refused", "key *** refused"),
    (b"caf\xe9", "caf\ufffd"),
    (b"", "(empty body)"),
    (None, "(empty body)"),
    (b"<p> </p>", "(empty body)"),
    (b"x" * 160, "x" * 160),
    (b"x" * 161, "x" * 159 + "\u2026"),
])
def test_a_snippet_of_an_answer(body, quoted):
    assert snippet(body, ["only-this-call-s3cret"]) == quoted


def test_a_malformed_answer_quoted_in_an_error_has_the_clients_credential_masked():
    with Recorder(lambda handler: (200, JSON, b'{"jobs": "t0ken-value"}')) as server:
        with pytest.raises(ProtocolError) as caught:
            client_for(server).list_page(1)
    assert "t0ken-value" not in str(caught.value) and '{"jobs": "***"}' in str(caught.value)

# -- a job in an answer: what is one, and what it reads ---------------------------------------------------------------


def test_a_job_reads_every_listed_field_in_either_number_reading():
    job = parse_job({"job_id": "7", "job_name": "n", "status": "8", "train_url": "", "job_desc": 5, "create_time": "12",
                     "service_url": None, "duration": "3600000", "resource_id": "r-1", "is_success": True})
    assert (job.job_id, job.job_name, job.status, job.train_url, job.job_desc) == ("7", "n", 8, "", "5")
    assert (job.create_time, job.service_url, job.duration, job.extra) == (12, "", 3600000, {"resource_id": "r-1"})
    assert parse_job({**_job(7), "service_url": "https://tb/7"}).service_url == "https://tb/7"


def test_a_list_item_keeps_no_extra_fields():
    assert _list_item({**_job(7), "resource_id": "r-1"}).extra == {}


@pytest.mark.parametrize("data, problem", [
    ({**_job(7), "job_name": ""}, "no job_name"),  # an empty name is not a job named nothing (an empty train_url is read)
    ({**_job(7), "job_id": "", "job_name": None}, "no job_id, job_name"),
    ({**_job(7), "job_id": "seven"}, "job_id 'seven', status 8"),
    ({**_job(7), "status": "running"}, "job_id 7, status 'running'"),
])
def test_a_job_without_a_usable_id_name_or_status_is_a_protocol_error_quoting_it(data, problem):
    with pytest.raises(ProtocolError) as caught:
        parse_job(data)
    assert str(caught.value) == f"a job in the answer is not usable ({problem}): {json.dumps(data)}"


def test_a_job_that_is_not_an_object_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="^a job in the answer is not an object$"):
        parse_job(["job_id", 7])


# -- the deadline: what was not sent, what got no answer, and whether anything changed ---------------------------------


def test_a_request_left_no_time_is_not_sent_and_says_the_limit_it_was_set_for():
    with Recorder(lambda handler: (200, JSON, b"{}")) as server:
        client = client_for(server)
        client.start_deadline(0.5, started=time.monotonic() - 1)  # counted from the command's start: already over
        with pytest.raises(DeadlineExceeded) as caught:
            client.create_job({"job_name": "n-1", "train_url": "/b/"})
    assert str(caught.value) == f"--timeout (0.5 s) ran out before creating a job: POST {BASE} was not sent; nothing was changed"
    assert server.requests == [] and not caught.value.ambiguous


def test_a_deadline_of_seconds_from_now_is_that_far_ahead():
    client = ModelArtsClient("http://127.0.0.1:9", "proj-1", TokenAuth("t0ken-value"))
    assert client.time_left() == float("inf")
    client.start_deadline(30)
    assert 29 < client.time_left() <= 30 and client.time_limit == 30


def test_after_a_change_a_request_left_no_time_does_not_say_nothing_was_changed():
    with Recorder(lambda handler: (200, JSON, b"{}")) as server:
        client = client_for(server)
        client.update_job("7", "d")
        client.deadline = time.monotonic() - 1
        with pytest.raises(DeadlineExceeded) as caught:
            client.list_page(1)
    assert str(caught.value) == f"--timeout ran out before reading the job list: {LIST_1} was not sent"
    assert len(server.requests) == 1


def _slow(handler):
    time.sleep(1.5)
    return 200, JSON, json.dumps(_job(7)).encode()


def test_a_read_unanswered_in_the_time_left_ends_at_the_deadline_and_is_not_ambiguous():
    with Recorder(_slow) as server:
        client = client_for(server, deadline=time.monotonic() + 0.5)
        with pytest.raises(DeadlineExceeded) as caught:
            client.get_job("7")
    assert str(caught.value) == (f"--timeout ran out while reading a job's details: GET {BASE}/7 got no answer in the time left;"
                                 " nothing was changed")
    assert caught.value.ambiguous is False and len(server.requests) == 1


def test_a_change_unanswered_in_the_time_left_may_have_been_carried_out():
    with Recorder(_slow) as server:
        client = client_for(server, deadline=time.monotonic() + 0.5)
        with pytest.raises(DeadlineExceeded) as caught:
            client.update_job("7", "d")
    assert str(caught.value) == (f"--timeout ran out while updating a job: PUT {BASE}/7 got no answer in the time left;"
                                 " it may have been carried out (`vizctl plan` shows whether)")
    assert caught.value.ambiguous is True and len(server.requests) == 1


def test_a_read_throttled_past_the_deadline_says_nothing_was_changed():
    with Recorder(lambda handler: (429, {**JSON, "Retry-After": "30"}, b'{"error_msg": "slow down"}')) as server:
        client = client_for(server, retry=RetryPolicy(), deadline=time.monotonic() + 5)
        with pytest.raises(DeadlineExceeded) as caught:
            client.list_page(1)
    assert str(caught.value) == ("reading the job list stopped: throttled: the API asked to wait 30 s, beyond --timeout"
                                 f" ({LIST_1}); nothing was changed")

# -- the create answer: what it lacks is what vizctl asked for ---------------------------------------------------


def test_a_create_answer_with_only_an_id_is_the_job_asked_for():
    with Recorder(lambda handler: (200, JSON, b'{"job_id": "12", "create_time": "1524189990635", "job_name": null}')) as server:
        job = client_for(server).create_job({"job_name": "n-1", "train_url": "/b/logs/"})
    assert (job.job_id, job.job_name, job.train_url, job.status, job.create_time) == ("12", "n-1", "/b/logs/", 1, 1524189990635)



@pytest.mark.parametrize("answer", [b'{"job_id": ""}', b'{"job_name": "n-1", "status": 1}'])
def test_a_create_answer_without_an_id_is_a_protocol_error_naming_the_request_and_the_answer(answer):
    with Recorder(lambda handler: (200, JSON, answer)) as server:
        with pytest.raises(ProtocolError) as caught:
            client_for(server).create_job({"job_name": "n-1", "train_url": "/b/"})
    assert str(caught.value) == f"the create answer has no job_id (POST {BASE}): {json.dumps(json.loads(answer))}"
    assert len(server.requests) == 1  # a change is not resent: the caller reads the list to settle it


def test_a_create_answer_whose_id_is_not_a_number_names_the_request():
    with Recorder(lambda handler: (200, JSON, b'{"job_id": "twelve", "status": 1}')) as server:
        with pytest.raises(ProtocolError, match=rf"job_id 'twelve'.*\(POST {BASE}\)$"):
            client_for(server).create_job({"job_name": "n-1", "train_url": "/b/"})

# -- details reads: retried, waited for without a test's sleep, and named when malformed -------------------------


def test_a_details_read_answered_503_is_tried_again_and_the_notice_counts_the_tries():
    answers = [(503, JSON, b'{"error_msg": "busy"}'), (200, JSON, json.dumps(_job(7)).encode())]
    notices: list[str] = []
    with Recorder(lambda handler: answers.pop(0)) as server:
        # no sleep= of the test's: the real wait (on the cancel event) is what runs
        client = ModelArtsClient(server.url, "proj-1", TokenAuth("t0ken-value"), notice=notices.append,
                                 retry=RetryPolicy(attempts=3, backoff=0.01, jitter=False))
        assert client.get_job("7").job_name == "j-7"
    assert len(server.requests) == 2 and client.calls["detail"] == 2
    assert len(notices) == 1 and notices[0].endswith("; retrying in 0.0 s (attempt 2 of 3)"), notices


def test_a_details_answer_that_is_not_a_job_names_the_request():
    with Recorder(lambda handler: (200, JSON, b'{"job_id": 7, "status": 8, "train_url": "/b/"}')) as server:
        with pytest.raises(ProtocolError, match=rf"not usable \(no job_name\).*\(GET {BASE}/7\)"):
            client_for(server).get_job("7")
    assert len(server.requests) == 3  # a read: tried again, as the policy allows


# -- waits past the deadline: why, in the right words -------------------------------------------------------------


def test_a_429_without_retry_after_past_the_deadline_names_the_default_wait():
    with Recorder(lambda handler: (429, JSON, b'{"error_msg": "slow down"}')) as server:
        client = client_for(server, retry=RetryPolicy(), deadline=time.monotonic() + 1)
        with pytest.raises(DeadlineExceeded, match=r"throttled: the API asked to wait 2 s, beyond --timeout"):
            client.list_page()


def test_a_server_error_whose_next_try_is_due_past_the_deadline_says_so_not_throttled():
    with Recorder(lambda handler: (503, JSON, b'{"error_msg": "busy"}')) as server:
        client = client_for(server, retry=RetryPolicy(backoff=5, jitter=False), deadline=time.monotonic() + 1)
        with pytest.raises(DeadlineExceeded) as caught:
            client.get_job("7")
    assert "busy" in str(caught.value) and "the next try is due in 5.0 s, beyond --timeout" in str(caught.value)
    assert "throttled" not in str(caught.value) and len(server.requests) == 1


def test_a_wait_that_would_leave_less_than_a_request_before_the_deadline_is_not_waited():
    sleeps: list[float] = []
    client = ModelArtsClient("http://127.0.0.1:9", "proj-1", TokenAuth("t0ken-value"), sleep=sleeps.append)
    error = ThrottledError(429, None, "slow down", retry_after=1.0, method="GET", path=BASE)
    client.deadline = time.monotonic() + 1.0 + 0.05  # the wait ends 0.05 s before it: no time left to send
    with pytest.raises(DeadlineExceeded, match="asked to wait 1 s"):
        client._wait_to_retry("list", error, Request("GET", "http://127.0.0.1:9" + BASE), 1)
    assert sleeps == []


def test_an_http_date_retry_after_under_a_second_ahead_is_that_wait():
    if time.time() % 1 > 0.9:
        time.sleep(0.15)  # the next whole second must still be ahead when it is read
    ahead = email.utils.formatdate(int(time.time()) + 1, usegmt=True)
    assert 0 < _retry_after(ahead) <= 1





# -- one read of the list: whole, or why not ---------------------------------------------------------------------


def _pg(ids, total: int) -> ListPage:
    return ListPage(jobs=tuple(LiveJob(job_id=str(n), job_name=f"j-{n}", status=8) for n in ids), total=total,
                    job_count_limit=None, quotas=None)


@pytest.mark.parametrize("pages, newest, beyond, problem", [
    ([_pg([1, 2], 5), _pg([3, 4], 5), _pg([5], 5)], _pg([5, 4], 5), [], None),
    ([_pg([1, 2], 5), _pg([3, 4], 5), _pg([5], 5)], _pg([5, 4], 5), [_pg([], 5)], None),  # an empty page beyond is fine
    ([_pg([1, 2], 2), _pg([], 2)], _pg([2, 1], 2), [], None),  # an empty last page too
    ([_pg([1, 2], 4), _pg([3, 4], 5)], _pg([4, 3], 4), [], "job_total_count moved between pages: 4, 5"),
    ([_pg([1, 2], 4), _pg([3, 4], 4)], _pg([4, 3], 6), [], "job_total_count moved between pages: 4, 6"),  # the newest votes
    ([_pg([1, 2], 4), _pg([3, 4], 4)], _pg([4, 3], 4), [_pg([], 3)], "job_total_count moved between pages: 3, 4"),
    ([_pg([1, 2], 4), _pg([3, 4], 4)], _pg([4, 3], 4), [_pg([5], 4)], "a page beyond job_total_count held jobs"),
    ([_pg([1, 2], 4), _pg([3], 4), _pg([4], 4)], _pg([4, 3], 4), [], "page 2 held fewer jobs than page 1"),
    ([_pg([1, 2], 3), _pg([2, 3], 3)], _pg([3, 2], 3), [], "a job was listed twice"),
    ([_pg([1, 2], 5), _pg([3, 4], 5)], _pg([4, 3], 5), [], "the pages held 4 jobs, job_total_count says 5"),
    ([_pg([1, 2], 4), _pg([3, 4], 4)], _pg([6, 4], 4), [], "the newest jobs include 1 not on the pages"),
])
def test_a_read_of_the_list_is_whole_only_when_every_count_agrees(pages, newest, beyond, problem):
    assert _list_problem(pages, newest, beyond) == problem


def _lying_list(count: int, lies: dict[tuple[int, int], int]):
    """Jobs 1..``count`` two a page; the ``k``-th read of ascending page ``n`` claims the total ``lies[n, k]``.
    Returns the answer and the log of (page, order) asked."""
    asked: list[tuple[int, str]] = []

    def answer(handler):
        query = _query(handler)
        page, order = int(query["page"]), query["order"]
        asked.append((page, order))
        ids = list(range(1, count + 1)) if order == "asc" else list(range(count, 0, -1))
        total = lies.get((page, asked.count((page, order))), count) if order == "asc" else count
        body = {"jobs": [_job(n) for n in ids[2 * (page - 1): 2 * page]], "job_total_count": total,
                "job_count_limit": 100 - count, "quotas": 100}
        return 200, JSON, json.dumps(body).encode()
    return answer, asked


def test_a_read_where_one_page_loses_the_vote_reads_again_only_that_page():
    answer, asked = _lying_list(6, {(3, 1): 7})
    notices: list[str] = []
    with Recorder(answer) as server:
        snapshot = client_for(server, notice=notices.append).list_all()
    assert [job.job_id for job in snapshot.jobs] == ["1", "2", "3", "4", "5", "6"] and snapshot.list_calls == 4 + 2
    assert (snapshot.job_count_limit, snapshot.quotas) == (94, 100)
    assert sorted(asked[4:]) == [(1, "desc"), (3, "asc")]  # pages 1 and 2 kept; page 3 and the newest asked again
    assert notices == ["the job list was not whole (job_total_count moved between pages: 6, 7); reading it again"]


def test_the_same_page_losing_the_vote_twice_reads_everything_again():
    answer, asked = _lying_list(6, {(3, 1): 7, (3, 2): 7})
    with Recorder(answer) as server:
        snapshot = client_for(server).list_all()
    assert len(snapshot.jobs) == 6 and snapshot.list_calls == 4 + 2 + 4
    assert sorted(asked[6:]) == [(1, "asc"), (1, "desc"), (2, "asc"), (3, "asc")]


def test_a_read_where_no_total_wins_reads_everything_again():
    answer, asked = _lying_list(6, {(2, 1): 7, (3, 1): 7})  # 6, 7, 7 and the newest's 6: a tie
    with Recorder(answer) as server:
        snapshot = client_for(server).list_all()
    assert len(snapshot.jobs) == 6 and snapshot.list_calls == 4 + 4
    assert sorted(asked[4:]) == [(1, "asc"), (1, "desc"), (2, "asc"), (3, "asc")]


def test_a_list_that_never_agrees_is_an_error_after_the_last_read_not_a_list():
    answer, asked = _lying_list(4, {(2, k): 5 for k in range(1, 20)})
    with Recorder(answer) as server:
        with pytest.raises(InconsistentList) as caught:
            client_for(server).list_all()
    assert str(caught.value) == ("the job list disagreed with itself on 10 reads in a row (last: job_total_count moved between"
                                 " pages: 4, 5); not planning on a partial list. Are jobs being changed right now? Try again")


def test_a_one_page_list_is_its_jobs_and_quota():
    answer, asked = _lying_list(2, {})
    with Recorder(answer) as server:
        snapshot = client_for(server).list_all()
    assert [job.job_id for job in snapshot.jobs] == ["1", "2"] and (snapshot.job_count_limit, snapshot.quotas) == (98, 100)
    assert snapshot.list_calls == 2 and sorted(asked) == [(1, "asc"), (1, "desc")]


LIST_1 = f"GET {BASE}?per_page=1000&page=1&sortBy=job_id&sort_by=job_id&order=asc"


@pytest.mark.parametrize("answer, problem", [
    ({"job_total_count": 3}, "no 'jobs' list"),
    ({"jobs": {"job_id": 1}, "job_total_count": 3}, "no 'jobs' list"),
    ({"jobs": [], "job_total_count": -1}, "no usable 'job_total_count'"),
    ({"jobs": [], "job_total_count": "many"}, "no usable 'job_total_count'"),
    ({"jobs": []}, "no usable 'job_total_count'"),
])
def test_a_list_page_without_jobs_or_a_usable_total_is_a_protocol_error_naming_it(answer, problem):
    with Recorder(lambda handler: (200, JSON, json.dumps(answer).encode())) as server:
        with pytest.raises(ProtocolError) as caught:
            client_for(server).list_page(1)
    assert str(caught.value) == f"the list answer has {problem} ({LIST_1}): {json.dumps(answer)} [gave up after 3 attempts]"


def test_an_empty_project_is_a_page_of_no_jobs_with_its_quota():
    answer = {"jobs": [], "job_total_count": "0", "job_count_limit": "100", "quotas": 100}
    with Recorder(lambda handler: (200, JSON, json.dumps(answer).encode())) as server:
        page = client_for(server).list_page(1)
    assert (page.jobs, page.total, page.job_count_limit, page.quotas) == ((), 0, 100, 100)


def test_a_list_item_that_is_not_a_job_names_the_list_request():
    answer = {"jobs": [_job(1), {"job_id": 2, "status": 8, "train_url": "/b/"}], "job_total_count": 2}
    with Recorder(lambda handler: (200, JSON, json.dumps(answer).encode())) as server:
        with pytest.raises(ProtocolError, match=rf"\(no job_name\): .* \({re.escape(LIST_1)}\) \[gave up after 3 attempts\]$"):
            client_for(server).list_page(1)


def test_a_page_asked_early_that_lies_beyond_a_stale_total_but_holds_a_job_makes_the_read_not_whole():
    # job 5 is new: page 3 already holds it, while every total and the newest-first page still say 4 jobs
    stale: set[tuple[int, str]] = set()  # the pages still to answer from before job 5, once each
    notices: list[str] = []

    def answer(handler):
        query = _query(handler)
        key = (int(query["page"]), query["order"])
        old = key in stale
        stale.discard(key)
        ids = [1, 2, 3, 4, 5] if key[1] == "asc" else [4, 3] if old else [5, 4]
        jobs = ids[2 * (key[0] - 1): 2 * key[0]] if key[1] == "asc" else ids
        total = 4 if old else 5
        return 200, JSON, json.dumps({"jobs": [_job(n) for n in jobs], "job_total_count": total}).encode()

    with Recorder(answer) as server:
        client = client_for(server, notice=notices.append)
        assert len(client.list_all().jobs) == 5  # three pages: remembered, so the next read asks pages 2 and 3 with page 1
        stale.update({(1, "asc"), (1, "desc"), (2, "asc"), (3, "asc")})  # each still counts 4, but page 3 holds job 5
        snapshot = client.list_all()
    assert sorted(job.job_id for job in snapshot.jobs) == ["1", "2", "3", "4", "5"]
    assert notices == ["the job list was not whole (a page beyond job_total_count held jobs); reading it again"]

# -- the newest jobs, page by page ----------------------------------------------------------------------------------


def _newest_first(count: int):
    """A list of jobs 1..``count``, newest first, two a page, with a quota."""
    def answer(handler):
        query = _query(handler)
        assert query["order"] == "desc"
        page = int(query["page"])
        ids = list(range(count, 0, -1))[2 * (page - 1): 2 * page]
        body = {"jobs": [_job(n) for n in ids], "job_total_count": count, "job_count_limit": 95, "quotas": 100}
        return 200, JSON, json.dumps(body).encode()
    return answer


def test_list_newest_reads_page_after_page_until_it_sees_the_ids():
    with Recorder(_newest_first(5)) as server:
        snapshot = client_for(server).list_newest(["3"])
    assert [job.job_id for job in snapshot.jobs] == ["5", "4", "3", "2"] and snapshot.list_calls == 2
    assert (snapshot.job_count_limit, snapshot.quotas) == (95, 100)
    assert [_query_of(line)["page"] for line, _ in server.requests] == ["1", "2"]


def test_list_newest_of_an_id_never_listed_stops_at_the_total():
    with Recorder(_newest_first(4)) as server:
        snapshot = client_for(server).list_newest(["9"])
    assert len(snapshot.jobs) == 4 and snapshot.list_calls == 2 == len(server.requests)  # no empty page 3 asked


def _query_of(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split("?", 1)[1].split(" ")[0].split("&"))

# -- a list refused with 400: the steps to the SDK page's terms, in the order the refusal names, and no more ---------


def _refusing(message: str, refuses=lambda query: query["sortBy"] == "job_id" or int(query["per_page"]) > 100):
    """A list server answering 400 ``message`` while ``refuses`` the query; after 8 requests it gives in (a bound)."""
    def answer(handler):
        if len(seen) < 8 and refuses(_query(handler)):
            seen.append(handler.path)
            return 400, JSON, json.dumps({"error_code": "ModelArts.0101", "error_message": message}).encode()
        seen.append(handler.path)
        return 200, JSON, json.dumps({"jobs": [_job(1)], "job_total_count": 1}).encode()
    seen: list[str] = []
    return answer, seen


@pytest.mark.parametrize("message, first, second", [
    ("Invalid sortBy job_id or per_page", "sorting by create_time", "reading 100 jobs a page"),  # names the sort: sort first
    ("Invalid parameter", "reading 100 jobs a page", "sorting by create_time"),
])
def test_a_list_refused_for_its_sort_and_size_takes_both_steps_in_the_order_the_refusal_says(message, first, second):
    answer, seen = _refusing(message)
    notices: list[str] = []
    with Recorder(answer) as server:
        client = client_for(server, notice=notices.append)
        assert [job.job_id for job in client.list_page(1).jobs] == ["1"]
    assert len(seen) == 3 and (client.per_page, client.sort_key) == (100, "create_time")
    assert len(notices) == 2 and first in notices[0] and second in notices[1], notices


def test_a_list_refused_whatever_the_terms_is_the_refusal_after_both_steps():
    answer, seen = _refusing("Invalid parameter", refuses=lambda query: True)
    notices: list[str] = []
    with Recorder(answer) as server:
        client = client_for(server, notice=notices.append)
        with pytest.raises(ApiResponseError, match="Invalid parameter"):
            client.list_page(1)
    assert len(seen) == 3 and len(notices) == 2

# -- a list read that fails for good -------------------------------------------------------------------------------


def _list_answer(handler, total: int, slow_page: int, failing_from: int):
    """A list of ``total`` jobs two a page; page ``slow_page`` answers after 0.5 s, pages from ``failing_from`` 404."""
    query = dict(part.split("=", 1) for part in handler.path.split("?", 1)[1].split("&"))
    page = int(query["page"])
    if query["order"] == "asc" and page == slow_page:
        time.sleep(0.5)
    if query["order"] == "asc" and page >= failing_from:
        return 404, {"Content-Type": "application/json"}, b'{"error_code": "ModelArts.0000", "error_msg": "no such page"}'
    first = 2 * page - 1 if query["order"] == "asc" else total - 1
    jobs = [{"job_id": n, "job_name": f"j-{n}", "status": 8, "train_url": "/b/"} for n in (first, first + 1)]
    return 200, {"Content-Type": "application/json"}, json.dumps({"jobs": jobs, "job_total_count": total}).encode()


def test_once_a_page_read_fails_for_good_no_worker_sends_a_queued_page_while_an_earlier_one_is_still_out():
    # page 2 is slow, so the main thread still waits on it when page 3 fails: the workers must not go on with 6..20
    with Recorder(lambda handler: _list_answer(handler, total=40, slow_page=2, failing_from=3)) as server:
        with pytest.raises(ApiResponseError, match="no such page"):
            client_for(server).list_all()
    pages = [line for line, _ in server.requests if "order=asc" in line]
    assert len(pages) <= 1 + 5, pages  # page 1, then at most the four workers' first pages and one more
