"""The simulator's auth side: IAM tokens, the IAM project lookup, AK/SK signature checks, ECS agency keys.

Nothing here speaks HTTP: the server hands each method what the request
carries and sends back the ``(status, body, headers)`` it returns.

By default any non-empty ``X-Auth-Token`` is accepted (tokens this simulator
issued are checked for expiry) and AK/SK requests are verified only for keys it
knows (``access_key``/``secret_key`` in the config, or agency keys it served).
``strict_auth`` accepts only what it issued or was given.
"""

from __future__ import annotations

import calendar
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from urllib.parse import unquote, urlsplit

from vizctl.api import signer
from vizctl.sim.config import SimConfig

Answer = tuple[int, Any, dict[str, str]]
TOKEN_EXPIRED = {"error_code": "APIGW.0307", "error_msg": "The token must be updated."}
# The headers the signing rules sign whenever they are sent (credentials.md, "AK/SK signing"): Host and
# X-Sdk-Date always (the signer adds them), the others because the signer adds them before signing.
MUST_BE_SIGNED = ("Host", "X-Sdk-Date", "X-Security-Token", "X-Project-Id", "X-Sdk-Content-Sha256")
ALWAYS_SIGNED = ("Host", "X-Sdk-Date")
NO_TOKEN = {"is_success": False, "error_code": "ModelArts.0108",
            "error_message": "Authorization failed: a valid X-Auth-Token is required"}


class SimIam:
    """Issued tokens and agency keys, and the checks every API request goes through."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # token -> expiry (epoch s)
        self._keys: dict[str, tuple[str, str, float]] = {}  # agency AK -> (SK, security token, expiry)

    # -- checking requests ------------------------------------------------------------

    def check(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer | None:
        """None when the request may pass; else the gateway's 401 answer."""
        token = headers.get("X-Auth-Token")
        if token:
            return self._check_token(token)
        fields = signer.parse_authorization(headers.get("Authorization", "").strip())
        if fields and headers.get("X-Sdk-Date"):
            return self._check_signature(fields, method, raw_path, headers, body)
        return 401, NO_TOKEN, {}

    def _check_token(self, token: str) -> Answer | None:
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is not None:
            return (401, TOKEN_EXPIRED, {}) if expiry <= self._clock() else None
        if token == self.config.token or (self.config.token is None and not self.config.strict_auth):
            return None
        return 401, NO_TOKEN, {}

    def _secret_of(self, access_key: str) -> tuple[str, str | None] | None:
        if self.config.access_key and access_key == self.config.access_key:
            return self.config.secret_key or "", None
        with self._lock:
            known = self._keys.get(access_key)
        if known is None or known[2] <= self._clock():
            return None
        return known[0], known[1]

    def _check_signature(self, fields: dict[str, str], method: str, raw_path: str, headers: Mapping[str, str],
                         body: bytes) -> Answer | None:
        refused = self._check_shape(fields, headers)
        if refused is not None:
            return refused
        known = self._secret_of(fields["Access"])
        if known is None:
            if self.config.strict_auth:
                return _rejected("the access key does not exist or has expired", "")
            return None  # accepted by shape: this simulator does not know that key's secret
        secret, security_token = known
        if security_token and headers.get("X-Security-Token") != security_token:
            return _rejected("temporary keys need their X-Security-Token", "")
        url = urlsplit(raw_path)  # absolute when the request came through a proxy
        path, query = url.path, url.query
        params = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in query.split("&") if p]
        params = [(unquote(k), unquote(v)) for k, v in params]
        names = fields["SignedHeaders"].split(";")
        signed = {name: headers.get(name, "") for name in names}
        canonical, _ = signer.canonical_request(method, path, params, signed, body)
        if signer.signature(secret, headers["X-Sdk-Date"], canonical) != fields["Signature"]:
            return _rejected("verify aksk signature fail", canonical.replace("\n", "|"))
        return None

    def _check_shape(self, fields: dict[str, str], headers: Mapping[str, str]) -> Answer | None:
        """What the gateway checks before the key: the date and its skew (both ways), the headers that must be signed."""
        try:
            date = calendar.timegm(time.strptime(headers["X-Sdk-Date"], signer.DATE_FORMAT))
        except ValueError:
            return _rejected("X-Sdk-Date is not YYYYMMDDTHHMMSSZ", "")
        if abs(date - self._clock()) > self.config.clock_skew_seconds:
            return _rejected("the request time differs from the gateway's by more than the allowed skew", "")
        signed = {name.strip().lower() for name in fields["SignedHeaders"].split(";")}
        unsigned = [name for name in MUST_BE_SIGNED
                    if (name in ALWAYS_SIGNED or headers.get(name) is not None) and name.lower() not in signed]
        if unsigned:
            return _rejected(f"{', '.join(unsigned)} must be among SignedHeaders", "")
        return None

    # -- IAM ------------------------------------------------------------------------------

    def issue_token(self, body: Any) -> Answer:
        """``POST /v3/auth/tokens``: a project-scoped token for a password (and passcode) the config accepts."""
        try:
            identity = body["auth"]["identity"]
            password = identity["password"]["user"].get("password")
            scope = body["auth"]["scope"]["project"]
            scope_id, scope_name = scope.get("id"), scope.get("name", "")
            passcode = ((identity.get("totp") or {}).get("user") or {}).get("passcode")
            methods = identity.get("methods", [])
            if not isinstance(scope_name, str) or not isinstance(methods, list):
                raise TypeError
        except (KeyError, TypeError, AttributeError):  # not the shape of a password identity scoped to a project
            return 400, {"error": {"code": 400, "message": "The request body is invalid.", "title": "Bad Request"}}, {}
        wanted = self.config.iam_password
        password_ok = bool(password) and (wanted is None or password == wanted)
        passcode_ok = self.config.iam_passcode is None or ("totp" in methods and passcode == self.config.iam_passcode)
        if not (password_ok and passcode_ok):
            return 401, {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}}, {}
        project_id = scope_id or (self.project_ids(scope_name) or [None])[0]
        if not project_id:
            return 400, {"error": {"code": 400, "message": "The project does not exist.", "title": "Bad Request"}}, {}
        token = "sim-iam-" + uuid.uuid4().hex
        expiry = self._clock() + self.config.token_ttl_seconds
        with self._lock:
            self._tokens[token] = expiry
        return 201, {"token": {"expires_at": _iso(expiry), "methods": methods,
                               "project": {"id": project_id, "name": scope_name or project_id}}}, {"X-Subject-Token": token}

    def expire_tokens(self) -> int:
        """Expire every token issued so far (``POST /__sim__/expire-tokens``); answers how many."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = 0.0
            return len(self._tokens)

    def project_ids(self, name: str) -> list[str]:
        """The ids of the projects named ``name``: from the config, else one ``project-{name}``."""
        if self.config.projects is None:
            return [f"project-{name}"] if name else []
        ids = self.config.projects.get(name, [])
        return [ids] if isinstance(ids, str) else list(ids)

    def list_projects(self, query: Mapping[str, str]) -> Answer:
        """``GET /v3/projects?name=``."""
        name = query.get("name", "")
        return 200, {"projects": [{"id": i, "name": name, "enabled": True} for i in self.project_ids(name)]}, {}

    # -- ECS metadata -----------------------------------------------------------------------

    def metadata_session(self) -> Answer:
        return 200, "sim-metadata-" + uuid.uuid4().hex, {}

    def security_key(self) -> Answer:
        """``GET /openstack/latest/securitykey``: new temporary keys of the VM's agency."""
        if not self.config.agency:
            return 401, {"error": "the VM has no Cloud Service Agency"}, {}
        access = "SIMAGENCY" + uuid.uuid4().hex[:11].upper()
        secret, security_token = uuid.uuid4().hex + uuid.uuid4().hex[:8], "sim-st-" + uuid.uuid4().hex
        expiry = self._clock() + self.config.agency_ttl_seconds
        with self._lock:
            self._keys[access] = (secret, security_token, expiry)
        return 200, {"credential": {"access": access, "secret": secret, "securitytoken": security_token,
                                    "expires_at": _iso(expiry)}}, {}


def _rejected(reason: str, canonical: str) -> Answer:
    message = f"Incorrect IAM authentication information: {reason}"
    if canonical:
        message += f", canonicalRequest: {canonical}"
    return 401, {"error_code": "APIGW.0301", "error_msg": message}, {}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
