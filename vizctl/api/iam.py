"""IAM and ECS metadata calls: a password token, the project id of a region, the VM agency's keys.

Each takes a :class:`~vizctl.api.transport.Transport`, so they run over the same
TLS, proxy and ``--debug`` setup as the ModelArts calls. Every secret an answer
carries (the token, the metadata session token, the agency's keys) is
registered with :mod:`vizctl.redact` the moment it is read, before anything
can print it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from vizctl import redact
from vizctl.api.auth import Keys
from vizctl.errors import ApiError, AuthError, ConfigError, ProtocolError
from vizctl.api.transport import Request, Response, Transport

METADATA_URL = "http://169.254.169.254"
METADATA_TIMEOUT = 2.0  # a machine without metadata must not hang a plan
NO_AGENCY = "Cloud Service Agency"


@dataclass(frozen=True)
class PasswordIdentity:
    """Who asks IAM for a token: a user (name + domain, or id), a password, maybe an MFA passcode."""

    password: str
    username: str | None = None
    user_id: str | None = None
    domain_name: str | None = None
    passcode: str | None = None

    def __repr__(self) -> str:
        return f"PasswordIdentity(username={self.username!r}, user_id={self.user_id!r}, domain_name={self.domain_name!r}, password=***)"


def token_body(identity: PasswordIdentity, project_id: str | None, project_name: str | None) -> dict[str, Any]:
    """The documented ``POST /v3/auth/tokens`` body, scoped to a project by id or name."""
    if identity.user_id:
        user: dict[str, Any] = {"id": identity.user_id, "password": identity.password}
    else:
        if not identity.domain_name:
            raise ConfigError("a password login by user name needs the account's domain name "
                              "(VIZCTL_DOMAIN_NAME, HW_DOMAIN_NAME or OS_USER_DOMAIN_NAME)")
        user = {"name": identity.username, "password": identity.password, "domain": {"name": identity.domain_name}}
    methods = ["password"]
    auth: dict[str, Any] = {"identity": {"methods": methods, "password": {"user": user}}}
    if identity.passcode:
        if not identity.user_id:
            raise ConfigError("an MFA passcode needs the user id (VIZCTL_USER_ID, HW_USER_ID or OS_USER_ID)")
        methods.append("totp")
        auth["identity"]["totp"] = {"user": {"id": identity.user_id, "passcode": identity.passcode}}
    auth["scope"] = {"project": {"id": project_id} if project_id else {"name": project_name}}
    return {"auth": auth}


@dataclass(frozen=True)
class IssuedToken:
    token: str
    project_id: str | None

    def __repr__(self) -> str:
        return f"IssuedToken(token=***, project_id={self.project_id!r})"


def issue_token(transport: Transport, iam: str, body: dict[str, Any], timeout: float) -> IssuedToken:
    """``POST {iam}/v3/auth/tokens``: the token (``X-Subject-Token``) and the project it is scoped to."""
    request = Request("POST", f"{iam}/v3/auth/tokens", (("nocatalog", "true"),), json.dumps(body).encode(),
                      {"Content-Type": "application/json;charset=utf8", "Accept": "application/json"})
    response = transport.send(request, timeout)
    data = _answer(response, "IAM refused the password login (check the user name, domain, password and passcode)",
                   "/v3/auth/tokens")
    token = response.headers.get("X-Subject-Token")
    if not token:
        raise ProtocolError("IAM answered the password login without an X-Subject-Token header")
    learned(token, "IAM's X-Subject-Token")
    project = ((data.get("token") or {}).get("project") or {}).get("id")
    return IssuedToken(token, str(project) if project else None)


def find_project(transport: Transport, iam: str, region: str, sign: Callable[[Request], Request], timeout: float) -> str:
    """The id of the project named after ``region`` (``GET {iam}/v3/projects?name=``), as the Huawei SDK finds it."""
    request = sign(Request("GET", f"{iam}/v3/projects", (("name", region),), None, {"Accept": "application/json"}))
    data = _answer(transport.send(request, timeout), "IAM refused the project lookup", "/v3/projects")
    projects = data.get("projects")
    if not isinstance(projects, list):
        raise ProtocolError("IAM's project list has no 'projects' list")
    ids = [str(p.get("id")) for p in projects if isinstance(p, dict) and p.get("name") == region and p.get("id")]
    if len(ids) != 1:
        found = "no project" if not ids else f"{len(ids)} projects ({', '.join(ids)})"
        raise ConfigError(f"IAM has {found} named {region!r}: pass --project-id (or set VIZCTL_PROJECT_ID)")
    return ids[0]


def metadata_keys(transport: Transport, base: str, timeout: float = METADATA_TIMEOUT) -> Keys:
    """The VM agency's temporary keys from ECS metadata, read the way the Huawei SDK reads them."""
    base = base.rstrip("/")
    headers = {}
    session = transport.send(Request("PUT", f"{base}/meta-data/latest/api/token", (), None,
                                     {"X-Metadata-Token-Ttl-Seconds": "21600"}), timeout)
    if session.status == 200:
        headers["X-Metadata-Token"] = learned(session.body.decode("utf-8", "replace").strip(), "the ECS metadata session token")
    elif session.status not in (404, 405, 503):
        raise AuthError(session.status, None, "the ECS metadata service refused a session token",
                        method="PUT", path="/meta-data/latest/api/token")
    answer = transport.send(Request("GET", f"{base}/openstack/latest/securitykey", (), None, headers), timeout)
    if answer.status == 401 and NO_AGENCY in answer.body.decode("utf-8", "replace"):
        raise ConfigError("this VM has no agency: attach one with ModelArts permissions to the ECS "
                          "(Cloud Service Agency), or configure other credentials")
    data = _answer(answer, "the ECS metadata service refused the agency keys", "/openstack/latest/securitykey")
    credential = data.get("credential") or {}
    if not (credential.get("access") and credential.get("secret")):
        raise ProtocolError("the ECS metadata answer has no credential.access / credential.secret")
    access, secret, token = (learned(str(credential[k]), f"the ECS metadata answer's credential.{k}") if credential.get(k)
                             else None for k in ("access", "secret", "securitytoken"))
    return Keys(access, secret, token, _epoch(credential.get("expires_at")))


def learned(secret: str, what: str) -> str:
    """``secret``, registered with :mod:`vizctl.redact`; one too short to be masked is refused."""
    if redact.too_short(secret):
        raise ProtocolError(f"{what} is shorter than {redact.MIN_SECRET_LENGTH} characters: not a credential vizctl "
                            "can keep out of its output")
    redact.register(secret)
    return secret


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _answer(response: Response, what: str, path: str) -> dict[str, Any]:
    """The JSON object of a 2xx answer; else an error naming the IAM message (never the request body)."""
    try:
        data = json.loads(response.body or b"{}")
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if response.status < 300:
        return data
    error = data.get("error") if isinstance(data.get("error"), dict) else data
    code = error.get("error_code")  # Keystone-style bodies carry only the HTTP status as "code"
    message = error.get("error_msg") or error.get("message") or f"HTTP {response.status}"
    if response.status in (401, 403):
        raise AuthError(response.status, code, f"{what}: {message}", path=path)
    raise ApiError(f"{what}: HTTP {response.status} {message} ({path})")
