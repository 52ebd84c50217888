"""AK/SK request signing, ``SDK-HMAC-SHA256``: byte-identical to ``huaweicloudsdkcore``'s ``Signer``.

Pure functions over plain values, shared by the client (:class:`vizctl.api.auth.SignerAuth`)
and the simulator, which checks signatures with the same canonical form.
The reference signer's rules (see shared/api/credentials.md):

- signed headers: every header whose name has no ``_``, lower-cased and sorted; values trimmed;
- canonical URI: the path unquoted, each segment ``quote(segment, safe='~')``, ``/`` appended;
- canonical query: ``(key, value)`` pairs sorted, each ``quote(safe='~')``;
- payload: hex SHA-256 of the body (``X-Sdk-Content-Sha256`` when that header is set).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Mapping
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DATE_HEADER = "X-Sdk-Date"
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Signed:
    """The outcome of signing: the headers to send, and the canonical request (for --debug)."""

    headers: dict[str, str]
    canonical_request: str
    signature: str


def encode(text: str) -> str:
    """The signer's percent-encoding: everything but letters, digits and ``-_.~``."""
    return quote(text, safe="~")


def canonical_query(params: Iterable[tuple[str, str]]) -> str:
    """``k=v`` pairs sorted as (key, value) tuples, both encoded; also the query string vizctl sends."""
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted((str(k), str(v)) for k, v in params))


def canonical_uri(path: str) -> str:
    uri = "/".join(encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_request(method: str, path: str, params: Iterable[tuple[str, str]],
                      headers: Mapping[str, str], body: bytes | None) -> tuple[str, list[str]]:
    """The canonical request and the signed header names, exactly as the reference signer builds them."""
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    signed = sorted(name.lower() for name in headers if "_" not in name)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed)
    if not body:
        payload = EMPTY_HASH
    else:
        payload = lowered.get(CONTENT_HASH_HEADER.lower()) or hashlib.sha256(body).hexdigest()
    text = "\n".join([method.upper(), canonical_uri(path), canonical_query(params), canonical_headers,
                      ";".join(signed), payload])
    return text, signed


def signature(secret_key: str, date: str, canonical: str) -> str:
    """hex(HMAC-SHA256(SK, "SDK-HMAC-SHA256\\n{date}\\n{sha256hex(canonical)}"))."""
    string_to_sign = f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def sign(access_key: str, secret_key: str, method: str, host: str, path: str,
         params: Iterable[tuple[str, str]], headers: Mapping[str, str], body: bytes | None,
         now: datetime | None = None) -> Signed:
    """Sign one request: adds ``X-Sdk-Date`` (unless given), ``Host`` (unless given) and ``Authorization``."""
    out = dict(headers)
    content_type = _get(out, "Content-Type")
    if content_type and not content_type.startswith(("application/json", "application/bson")):
        out[CONTENT_HASH_HEADER] = "UNSIGNED-PAYLOAD"
    if _get(out, DATE_HEADER) is None:
        out[DATE_HEADER] = (now or datetime.now(timezone.utc)).strftime(DATE_FORMAT)
    if _get(out, "Host") is None:
        out["Host"] = host
    canonical, signed = canonical_request(method, path, params, out, body)
    sig = signature(secret_key, _get(out, DATE_HEADER), canonical)
    out["Authorization"] = f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    return Signed(out, canonical, sig)


def parse_authorization(value: str) -> dict[str, str] | None:
    """``{"Access", "SignedHeaders", "Signature"}`` of an Authorization header, or None."""
    if not value.startswith(ALGORITHM + " "):
        return None
    fields = {}
    for part in value[len(ALGORITHM) + 1:].split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    return fields if {"Access", "SignedHeaders", "Signature"} <= fields.keys() else None


def _get(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)
