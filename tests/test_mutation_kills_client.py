"""Kill-tests of the mutation run over api/client.py (tests/MUTATION.md, part 3): what the client decides from
an answer (a whole list, a created job, a failure, an ambiguous change), its deadline and its waits.
The simulator or small servers over loopback (tests/httputil.py), or pure."""

from __future__ import annotations

import json
import time

import pytest

from httputil import Recorder
from test_client import client_for
from vizctl.errors import ApiResponseError


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
