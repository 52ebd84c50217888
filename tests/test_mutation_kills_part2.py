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
from vizctl import signer
from vizctl.redact import Registry, redact
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

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
