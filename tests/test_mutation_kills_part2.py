"""Tests that kill the survivors of the second mutation run (tests/MUTATION.md, "Part 2").

Each pins a behaviour a mutant of ``redact.py``, ``signer.py``, ``auth.py`` or ``commands/``
changed without any other test noticing. The secret registry and the signer are pure
logic, tested directly (a fresh :class:`~vizctl.redact.Registry`, so nothing leaks into the
process's one registry); the simulator's answers are read over real loopback HTTP.
"""

from __future__ import annotations

import base64
import html
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

import test_signer as reference
from httputil import Recorder
from vizctl import signer
from vizctl.auth import PasswordAuth, RenewingTransport
from vizctl.redact import Registry, redact
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.transport import Request, RequestsTransport, Response

# -- redact.py: the registry ------------------------------------------------------------------


def test_a_new_registry_masks_what_is_registered_with_it():
    registry = Registry()
    registry.register("tok-1234")
    assert registry.redact("token tok-1234 refused") == "token *** refused"
    assert registry.holds_secret("a tok-1234") and not Registry().holds_secret("a tok-1234")


def test_a_secret_under_four_characters_is_registered_in_no_form():
    registry = Registry()
    registry.register("a b")  # its URL-encoded form a%20b is five characters long
    assert registry.redact("a%20b and a+b") == "a%20b and a+b"
    assert not registry.holds_secret("a%20b")


def test_the_html_form_that_leaves_quotes_alone_is_masked():
    registry = Registry()
    secret = 'pa&ss"wd'
    registry.register(secret)
    shown = html.escape(secret, quote=False)  # pa&amp;ss"wd, as an HTML page without attribute escaping shows it
    assert registry.redact(f"<p>{shown}</p>") == "<p>***</p>"


def test_basic_credentials_with_a_password_outside_latin_1_are_masked_in_utf_8():
    registry = Registry()
    registry.register_basic("user", "pass-€uro")  # cannot be encoded as latin-1: only the UTF-8 Base64 exists
    header = base64.b64encode("user:pass-€uro".encode()).decode()
    assert registry.redact(f"Authorization: Basic {header}") == "Authorization: Basic ***"


def test_basic_credentials_whose_password_holds_y_umlaut_are_masked_in_latin_1_too():
    registry = Registry()
    registry.register_basic("user", "pass-ÿ-word")  # U+00FF, the last latin-1 character
    header = base64.b64encode("user:pass-ÿ-word".encode("latin-1")).decode()  # what requests sends
    assert registry.redact(f"Basic {header}") == "Basic ***"


def test_a_registered_secret_that_holds_another_is_masked_whole_whatever_their_letters():
    registry = Registry()
    registry.register("wxyz")  # sorts after "abc-wxyz": longest first is by length, not by letters
    registry.register("abc-wxyz")
    assert registry.redact("[abc-wxyz]") == "[***]"


def test_an_extra_secret_that_holds_another_is_masked_whole():
    assert Registry().redact("[abc-wxyz]", ["wxyz", "abc-wxyz"]) == "[***]"


def test_extra_secrets_that_are_missing_or_too_short_mask_nothing():
    assert redact("a &lt; b", [None, "", "<"]) == "a &lt; b"  # "<" is too short, though its HTML form is not


# -- signer.py --------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,query,headers,body", [
    ("GET", "/", [("a", "1")], {}, b""),
    ("GET", "/v1/p1/visualization-jobs/", [], {}, b""),
    ("POST", "/v1/p1/visualization-jobs", [], {"Content-Type": "application/bson"}, b"\x05\x00\x00\x00\x00"),
])
def test_more_requests_match_huaweicloudsdkcore(method, path, query, headers, body):
    """A path that ends in ``/`` keeps one ``/``; a BSON body is signed, not ``UNSIGNED-PAYLOAD``."""
    reference.test_matches_huaweicloudsdkcore(method, path, query, headers, body)


def test_a_host_header_given_is_the_one_signed_and_sent():
    signed = signer.sign("AK", "SK", "GET", "h.example", "/", [], {"Host": "gateway.example:8443"}, None)
    assert signed.headers["Host"] == "gateway.example:8443"
    assert "host:gateway.example:8443\n" in signed.canonical_request


def test_the_signing_date_is_utc_whatever_the_local_time_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")  # UTC+8, no daylight saving time
    time.tzset()
    try:
        signed = signer.sign("AK", "SK", "GET", "h", "/", [], {}, None)
    finally:
        monkeypatch.undo()
        time.tzset()
    date = datetime.strptime(signed.headers["X-Sdk-Date"], signer.DATE_FORMAT).replace(tzinfo=timezone.utc)
    assert abs(date - datetime.now(timezone.utc)) < timedelta(minutes=1)


@pytest.mark.parametrize("authorization", [
    "SDK-HMAC-SHA256 Access=SIMAK, SignedHeaders=host;x-sdk-date",
    "SDK-HMAC-SHA256 Access=SIMAK, Signature=00",
    "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=00",
])
def test_an_authorization_header_missing_a_field_is_refused_as_unauthenticated(authorization):
    assert signer.parse_authorization(authorization) is None
    config = SimConfig(startup_seconds=0, access_key="SIMAK", secret_key="sim-secret-key", strict_auth=True)
    with SimServer(config) as sim:
        date = datetime.now(timezone.utc).strftime(signer.DATE_FORMAT)
        answer = requests.get(sim.url + "/v1/p1/visualization-jobs", timeout=5,
                              headers={"Authorization": authorization, "X-Sdk-Date": date})
    assert answer.status_code == 401


# -- auth.py: a password login's token, renewed once, within the request's timeout -------------

EXPIRED = b'{"error_code": "APIGW.0307", "error_msg": "The token must be updated."}'


class Clock:
    """A monotonic clock the test moves: the login or the API 'takes' the time it is told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def renewing(api_url: str, clock: Clock, login_takes: float = 0.0):
    """A RenewingTransport over the real transport to ``api_url``; its logins issue tok-1, tok-2 ... and are
    recorded (the timeout each was given); each renewal 'takes' ``login_takes`` seconds of ``clock``."""
    logins: list[float | None] = []

    def issue(timeout: float | None) -> str:
        logins.append(timeout)
        if len(logins) > 1:
            clock.now += login_takes
        return f"tok-{len(logins)}"

    auth = PasswordAuth(issue)
    return RenewingTransport(RequestsTransport(), auth, clock=clock), auth, logins


def send(transport, auth, url: str, timeout: float = 10.0):
    return transport.send(auth.apply(Request("GET", url + "/v1/p/visualization-jobs")), timeout)


def expired_for(*tokens: str, clock: Clock | None = None, api_takes: float = 0.0):
    """An API that refuses ``tokens`` as expired (the first answer 'taking' ``api_takes`` of ``clock``)."""
    def answer(handler):
        if clock is not None:
            clock.now += api_takes
        if handler.headers.get("X-Auth-Token") in tokens:
            return 401, {"Content-Type": "application/json"}, EXPIRED
        return 200, {"Content-Type": "application/json"}, b'{"jobs": []}'
    return answer


def test_the_renewal_login_is_bounded_by_what_is_left_of_the_requests_timeout():
    clock = Clock()
    with Recorder(expired_for("tok-1", clock=clock, api_takes=3.0)) as api:
        transport, auth, logins = renewing(api.url, clock)
        assert send(transport, auth, api.url, timeout=10.0).status == 200
    assert logins[0] is None and logins[1] == pytest.approx(7.0)  # 10 s, less the 3 s the refused request took
    assert [r[1]["X-Auth-Token"] for r in api.requests] == ["tok-1", "tok-2"]


@pytest.mark.parametrize("api_takes, renewed", [(10.0, False), (9.5, True)])
def test_no_renewal_once_the_first_answer_used_up_the_timeout(api_takes, renewed):
    clock = Clock()
    with Recorder(expired_for("tok-1", clock=clock, api_takes=api_takes)) as api:
        transport, auth, logins = renewing(api.url, clock)
        answer = send(transport, auth, api.url, timeout=10.0)
    assert (answer.status, len(logins), len(api.requests)) == ((200, 2, 2) if renewed else (401, 1, 1))


@pytest.mark.parametrize("login_takes, sent_again", [(10.0, False), (9.5, True)])
def test_a_login_that_used_up_the_timeout_leaves_the_expired_answer_standing(login_takes, sent_again):
    clock = Clock()
    with Recorder(expired_for("tok-1")) as api:
        transport, auth, logins = renewing(api.url, clock, login_takes=login_takes)
        answer = send(transport, auth, api.url, timeout=10.0)
    assert (answer.status, len(api.requests), len(logins)) == ((200, 2, 2) if sent_again else (401, 1, 2))


def test_a_401_that_is_not_an_expired_token_does_not_log_in_again():
    def refused(handler):
        return 401, {"Content-Type": "application/json"}, b'{"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information"}'
    with Recorder(refused) as api:
        transport, auth, logins = renewing(api.url, Clock())
        assert send(transport, auth, api.url).status == 401
    assert len(logins) == 1 and len(api.requests) == 1


def test_an_expired_answer_that_is_not_utf_8_is_still_read_as_expired():
    def answer(handler):
        if handler.headers.get("X-Auth-Token") == "tok-1":
            return 401, {"Content-Type": "text/plain"}, b"\xff\xfe token expired"
        return 200, {"Content-Type": "application/json"}, b'{"jobs": []}'
    with Recorder(answer) as api:
        transport, auth, logins = renewing(api.url, Clock())
        assert send(transport, auth, api.url).status == 200
    assert len(logins) == 2


def test_a_late_expired_answer_to_a_request_sent_before_the_renewal_does_not_end_renewals():
    logins = []
    auth = PasswordAuth(lambda timeout: (logins.append(timeout), f"tok-{len(logins)}")[1])
    old = auth.apply(Request("GET", "http://127.0.0.1:9/"))  # sent with tok-1, answered late
    expired = Response(401, {}, EXPIRED)
    assert auth.renew(old) and auth.token() == "tok-2"
    auth.answered(old, expired)  # about tok-1: says nothing of the renewed token
    assert auth.token() == "tok-2"
