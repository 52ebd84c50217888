"""The AK/SK signer against the reference (huaweicloudsdkcore, a test-only dependency) and the public vectors."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest

from vizctl.api import signer

DATE = "20200608T023900Z"
AK, SK = "AccessKey", "SecretKey"

# (method, path, query pairs, extra headers, body)
TABLE = [
    ("GET", "/v1/p1/visualization-jobs", [("per_page", "1000"), ("page", "1"), ("sortBy", "job_id")], {}, b""),
    ("GET", "/v1/p1/visualization-jobs", [("search_content", "a b/c&d=e+f~g*h"), ("order", "asc")], {}, None),
    ("GET", "/resources", [("multi", "3"), ("multi", "1"), ("multi", "2"), ("test", "一 (&=?!#%.*)"), ("path", "/tmp/123")], {}, b""),
    ("POST", "/v1/p1/visualization-jobs", [], {"Content-Type": "application/json"}, b'{"job_name": "tb-1", "train_url": "/b/l/"}'),
    ("PUT", "/v1/p%201/visualization-jobs/12", [], {"Content-Type": "application/json"}, b'{"job_desc": "\xc3\xa9t\xc3\xa9"}'),
    ("DELETE", "/v1/p1/visualization-jobs/12%2F3", [], {}, None),
    ("POST", "/v1/p1/visualization-jobs/12/stop", [], {"X-Security-Token": "st-abc", "X-Project-Id": "p1", "Not_Signed": "x"}, b""),
    ("POST", "/upload", [], {"Content-Type": "text/plain"}, b"raw text"),
]


@pytest.mark.parametrize("method,path,query,headers,body", TABLE)
def test_matches_huaweicloudsdkcore(method, path, query, headers, body):
    sdk = pytest.importorskip("huaweicloudsdkcore.signer.signer")
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.sdk_request import SdkRequest

    theirs = SdkRequest(method=method, schema="https", host="modelarts.eu-de.otc.t-systems.com", resource_path=path,
                        query_params=list(query), header_params={**headers, "X-Sdk-Date": DATE}, body=body)
    sdk.Signer(BasicCredentials(AK, SK)).sign(theirs)
    ours = signer.sign(AK, SK, method, "modelarts.eu-de.otc.t-systems.com", path, query,
                       {**headers, "X-Sdk-Date": DATE}, body)
    assert ours.headers["Authorization"] == theirs.header_params["Authorization"]
    assert ours.headers.get(signer.CONTENT_HASH_HEADER) == theirs.header_params.get(signer.CONTENT_HASH_HEADER)
    # what vizctl sends as the query is the reference's canonical query (so the gateway sees what was signed)
    assert theirs.uri.partition("?")[2] == signer.canonical_query(query)


def test_public_vector_1():
    signed = signer.sign(
        "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc", "GET", "service.region.example.com",
        "/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs", [("limit", "2"), ("marker", "13551d6b-755d-4757-b956-536f674975c0")],
        {"Content-Type": "application/json", "X-Sdk-Date": "20191115T033655Z"}, b"")
    assert hashlib.sha256(signed.canonical_request.encode()).hexdigest() == "b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a"
    assert signed.signature == "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"


@pytest.mark.parametrize("method,body,expected", [
    ("GET", b"", "cfb4171acec81de07d50e53d57eb77edd537414d66ddb1d7d780f128e12cd842"),
    ("POST", b'{"name":"test","id":1}', "436b1ac0a1ae03705934bb70ef2f2e09f7bfed2117d731a38235053199323a1f"),
])
def test_public_vector_2(method, body, expected):
    signed = signer.sign(AK, SK, method, "service.endpoint.myhuaweicloud.com", "/resources", [("size", "1")],
                         {"X-Sdk-Date": DATE, "Not_Signed": "x"}, body)
    assert signed.signature == expected
    assert "SignedHeaders=host;x-sdk-date," in signed.headers["Authorization"]


def test_canonical_query_example():
    query = [("test", "一 (&=?!#%.*)"), ("path", "/tmp/123"), ("multi", "2"), ("multi", "1"), ("multi", "3"),
             ("limit", "1"), ("enable", "true")]
    assert signer.canonical_query(query) == (
        "enable=true&limit=1&multi=1&multi=2&multi=3&path=%2Ftmp%2F123&test=%E4%B8%80%20%28%26%3D%3F%21%23%25.%2A%29")


def test_date_defaults_to_now_in_utc():
    signed = signer.sign(AK, SK, "GET", "h", "/", [], {}, None, now=datetime(2026, 1, 2, 3, 4, 5))
    assert signed.headers["X-Sdk-Date"] == "20260102T030405Z"
    assert signer.parse_authorization(signed.headers["Authorization"])["Access"] == AK
