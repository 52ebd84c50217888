"""From settings to a working connection: endpoint, project id, auth and HTTP setup.

:func:`open_connection` resolves the settings (:mod:`vizctl.api.settings`), derives
what is not given (the endpoint and IAM from the region, the project id from
IAM) and picks the auth method. Every secret of the settings and of the proxy
URLs is registered with :mod:`vizctl.redact` before anything can print it
(:mod:`vizctl.api.iam` registers those the answers carry).
"""

from __future__ import annotations

import argparse
import os
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from vizctl.api import endpoints, iam
from vizctl.api.auth import AgencyAuth, Auth, Keys, PasswordAuth, RenewingTransport, SignerAuth, TokenAuth
from vizctl.environment import Environment
from vizctl.errors import AuthError, ConfigError, VizctlError
from vizctl.redact import MIN_SECRET_LENGTH, too_short
from vizctl.api.settings import Settings, proxy_credentials, resolve
from vizctl.api.transport import HttpSettings, Request, RequestsTransport, Response, Transport, register_proxy_secrets

NO_ENDPOINT = (
    "no API endpoint configured: pass --region NAME or --endpoint URL (or set VIZCTL_REGION or VIZCTL_ENDPOINT), "
    "or use a profile; see docs/credentials.md. Or use --sim to try vizctl against the built-in simulator"
)
NO_CREDENTIALS = (
    "no credentials found (looked at VIZCTL_*, HUAWEICLOUD_SDK_*, HW_* and OS_* variables, vizctl's config file, "
    "~/.hcloud/config.json, ~/.huaweicloud/credentials and OS_CLOUD's clouds.yaml), and no ECS agency answered "
    "at {url}: set VIZCTL_ACCESS_KEY + VIZCTL_SECRET_KEY (or VIZCTL_TOKEN, valid for 24 hours), or see docs/credentials.md"
)
MASKED_HEADERS = ("authorization", "x-auth-token", "x-subject-token", "x-security-token", "x-metadata-token", "proxy-authorization")
FLAG_SETTINGS = ("endpoint", "project_id", "region", "profile", "ca_bundle")


@dataclass
class Connection:
    """Where the API is and how to talk to it."""

    endpoint: str
    project_id: str
    auth: Auth
    transport: Transport
    settings: Settings


def open_connection(args: argparse.Namespace, env: Environment, pool_size: int) -> Connection:
    """Resolve the settings and credentials; talks to IAM / metadata only for what is not given."""
    if getattr(args, "debug", False):
        env.verbosity = max(env.verbosity, 2)
    settings = read_settings(args, env)
    transport: Transport = RequestsTransport(pool_size, http_settings(args, settings, env))
    if getattr(args, "debug", False):
        transport = DebugTransport(transport, env)
    endpoint = _endpoint(settings)
    # logging in and looking up the project are part of the command: none of it outlasts --timeout either
    region, timeout = settings.get("region"), min(args.request_timeout, getattr(args, "timeout", args.request_timeout))
    iam_url = _iam(settings)
    project_id = settings.get("project_id")
    method = settings.method
    if method == "token":
        auth: Auth = TokenAuth(settings.get("token"))
    elif method == "aksk":
        auth = SignerAuth(Keys(settings.get("access_key"), settings.get("secret_key"), settings.get("security_token")))
    elif method == "password":
        auth, project_id = _password_auth(settings, iam_url, project_id, transport, env, timeout)
        transport = RenewingTransport(transport, auth)
    else:
        auth = _agency_auth(settings, transport, env, asked=method == "agency")
    if not project_id:
        if not region:
            raise ConfigError("no project id configured: pass --project-id (or set VIZCTL_PROJECT_ID), or --region "
                              "to look it up by the region's name")
        try:
            project_id = iam.find_project(transport, iam_url, region, auth.apply, timeout)
        except AuthError as error:
            raise explain_auth_error(error, settings, auth, env) from None
        env.log(f"project id {project_id} (IAM project named {region})")
    return Connection(endpoint, project_id, auth, transport, settings)


def read_settings(args: argparse.Namespace, env: Environment) -> Settings:
    """The resolved settings of flags, environment and files; their secrets registered, their warnings said."""
    flags = {name: getattr(args, name, None) for name in FLAG_SETTINGS}
    settings = resolve(flags, env.environ, env.cwd)
    for secret in settings.secrets():
        env.add_secret(secret)
    for warning in settings.warnings:
        env.err(f"Warning: {warning}")
    return settings


def _endpoint(settings: Settings) -> str:
    region = settings.get("region")
    endpoint = settings.get("endpoint") or (endpoints.modelarts_endpoint(region, settings.get("cloud")) if region else None)
    if not endpoint:
        raise ConfigError(NO_ENDPOINT)
    check_url(endpoint, "the endpoint")
    return endpoint.rstrip("/")


def _iam(settings: Settings) -> str | None:
    given = settings.get("iam_endpoint")
    if given:
        check_url(given, "the IAM endpoint")
        return endpoints.strip_v3(given)
    region = settings.get("region")
    return endpoints.iam_endpoint(region, settings.get("cloud")) if region else None


def check_url(url: str, what: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{what} must be an http(s) URL, e.g. https://modelarts.eu-de.otc.t-systems.com (got {url!r})")
    if parts.username or parts.password:
        raise ConfigError(f"{what} URL must not carry credentials: put them in VIZCTL_TOKEN or VIZCTL_ACCESS_KEY / VIZCTL_SECRET_KEY")


def _password_auth(settings: Settings, iam_url: str | None, project_id: str | None, transport: Transport,
                   env: Environment, timeout: float) -> tuple[PasswordAuth, str]:
    if iam_url is None:
        raise ConfigError("a password login needs IAM: set --region (or VIZCTL_IAM_ENDPOINT / OS_AUTH_URL)")
    project_name = settings.get("project_name") or settings.get("region")
    if not (project_id or project_name):
        raise ConfigError("a password login needs a project: pass --project-id or --region (or set OS_PROJECT_NAME)")
    identity = iam.PasswordIdentity(settings.get("password"), settings.get("username"), settings.get("user_id"),
                                    settings.get("domain_name"), settings.get("passcode"))
    body = iam.token_body(identity, project_id, project_name)
    scoped: list[str | None] = []

    def issue(within: float | None) -> str:
        issued = iam.issue_token(transport, iam_url, body, timeout if within is None else min(timeout, within))
        scoped.append(issued.project_id)
        env.log(f"got an IAM token for project {issued.project_id or project_name}")
        return issued.token

    auth = PasswordAuth(issue)
    auth.token()  # log in now: a wrong password is a start-up error, and the token names the project
    project_id = project_id or scoped[-1]
    if not project_id:
        raise ConfigError("IAM's token names no project: pass --project-id")
    return auth, project_id


def _agency_auth(settings: Settings, transport: Transport, env: Environment, asked: bool) -> AgencyAuth:
    url = settings.get("metadata_url") or iam.METADATA_URL
    auth = AgencyAuth(lambda: iam.metadata_keys(transport, url))
    try:
        auth.keys  # fetch now: fail fast and readably, never hang a plan
    except ConfigError:
        raise
    except VizctlError as exc:
        if asked:
            raise ConfigError(f"no agency keys from the ECS metadata service at {url} ({exc}): is this an ECS VM?") from None
        raise ConfigError(NO_CREDENTIALS.format(url=url)) from None
    env.log(f"using the ECS agency's temporary keys from {url}")
    return auth


def http_settings(args: argparse.Namespace, settings: Settings, env: Environment) -> HttpSettings:
    """TLS verification (on unless --insecure; --ca-bundle / REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE: a file or a directory of
    hashed certificates) and proxies from HTTPS_PROXY / HTTP_PROXY / NO_PROXY; the proxies' passwords become secrets."""
    verify: bool | str = True
    if getattr(args, "insecure", False):
        env.err("Warning: TLS certificate verification is off (--insecure): anyone on the network path can read "
                "and change vizctl's requests, credentials included")
        verify = False
    elif settings.get("ca_bundle"):
        verify = settings.get("ca_bundle")
        problem = _ca_bundle_problem(verify)
        if problem:
            raise ConfigError(f"{settings.source('ca_bundle')}: {problem}")
    proxies = {}
    for scheme in ("https", "http"):
        variable = next((v for v in (f"{scheme.upper()}_PROXY", f"{scheme}_proxy") if env.getenv(v)), None)
        if variable:
            proxies[scheme] = register_proxy(env.getenv(variable), variable)
    no_proxy = env.getenv("NO_PROXY") or env.getenv("no_proxy") or ""
    return HttpSettings(verify, proxies, tuple(e for e in no_proxy.split(",") if e.strip()))


def register_proxy(proxy: str, variable: str) -> str:
    """``proxy``, its password registered as it is written, decoded and in the ``Basic`` header; a short one refused."""
    credentials = proxy_credentials(proxy)
    if credentials:
        password = credentials[1]
        if too_short(password):
            raise ConfigError(f"the password in {variable} is shorter than {MIN_SECRET_LENGTH} characters: too short "
                              "for vizctl to keep out of its output (a proxy's error page may echo it)")
        register_proxy_secrets(proxy)
    return proxy


def _ca_bundle_problem(path: str) -> str | None:
    """What is wrong with a CA bundle path, said plainly (never opened here: a FIFO would block), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return f"no such file: {path}"
    if stat.S_ISDIR(info.st_mode):
        return None  # a directory of hashed certificates (c_rehash / openssl rehash), as requests takes it
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a CA bundle (not a regular file): give a file of PEM CA certificates or a directory of hashed ones"
    if info.st_size == 0:
        return f"{path} is not a CA bundle (the file is empty): give a file of PEM CA certificates"
    return None


def explain_auth_error(error: AuthError, settings: Settings, auth: Auth, env: Environment) -> VizctlError:
    """A refused credential, said plainly: an expired token, or a rejected signature and what to check."""
    text = error.error_message or ""
    expired = "APIGW.0307" in f"{error.error_code}{text}" or "token must be updated" in text.lower()
    if settings.method == "password" and expired:
        return ConfigError(f"the API refused the IAM token of vizctl's password login ({settings.source('password')}) as "
                           f"expired, and a fresh one too: check that the IAM endpoint ({settings.get('iam_endpoint') or 'of --region'}) "
                           f"belongs to the same cloud and region as the ModelArts endpoint, and the clocks. Not retried")
    if settings.method == "token" and expired:
        return ConfigError(f"the IAM token from {settings.source('token')} has expired (tokens live 24 hours; a "
                           f"password or key change revokes them): get a new one, or let vizctl log in itself with "
                           f"a password or an AK/SK pair (see docs/credentials.md)")
    if error.error_code in ("APIGW.0301", "APIG.0301"):
        keys = getattr(auth, "keys", None)
        if getattr(env, "verbosity", 0) >= 2:
            env.err(f"vizctl: debug: the gateway's canonical request: {text}")
            env.err(f"vizctl: debug: vizctl's canonical request:   {getattr(auth, 'last_canonical', '').replace(chr(10), '|')}")
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        key = f"access key {keys.access_key[:4]}**** " if keys else ""
        return ConfigError(f"the API gateway rejected the AK/SK signature (APIGW.0301) of {key}"
                           f"({_credential_source(settings)}): check that the secret key belongs to that access key, "
                           f"and this machine's clock (the gateway allows 15 minutes of skew; vizctl's clock says {now}). "
                           f"Not retried: repeated failures lock the key for five minutes. --debug shows both canonical requests.")
    return error


def _credential_source(settings: Settings) -> str:
    value = settings.values.get("access_key")
    return value.source if value else "the ECS agency"


class DebugTransport:
    """``--debug``: each request and answer (method, URL, status, time, headers), secret headers masked."""

    def __init__(self, inner: Transport, env: Environment):
        self._inner = inner
        self._env = env

    def send(self, request: Request, timeout: float) -> Response:
        query = "&".join(f"{k}={v}" for k, v in request.params)
        url = request.url + (("&" if "?" in request.url else "?") + query if query else "")
        self._env.err(f"vizctl: debug: > {request.method} {url} {_headers(request.headers)}")
        started = time.monotonic()
        try:
            response = self._inner.send(request, timeout)
        except VizctlError as exc:
            self._env.err(f"vizctl: debug: < no answer after {(time.monotonic() - started) * 1000:.0f} ms: {exc}")
            raise
        self._env.err(f"vizctl: debug: < {response.status} in {(time.monotonic() - started) * 1000:.0f} ms {_headers(response.headers)}")
        return response

    def close(self) -> None:
        self._inner.close()


def _headers(headers) -> str:
    shown = {}
    for name, value in headers.items():
        if name.lower() == "authorization" and value.startswith("SDK-HMAC-SHA256 "):
            value = value.rsplit("Signature=", 1)[0] + "Signature=****"
        elif name.lower() in MASKED_HEADERS:
            value = "****"
        shown[name] = value
    return repr(shown)
