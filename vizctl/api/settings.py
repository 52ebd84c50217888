"""Connection settings: where each one comes from, highest first, and which credentials win.

Layers, highest first: flags; ``VIZCTL_*`` variables; the ecosystem's variables
(``HUAWEICLOUD_SDK_*``, ``HW_*``, ``OS_*``); files users already have (vizctl's
own config file, the KooCLI profile file, the Huawei SDK credentials file,
``clouds.yaml``). Plain settings (region, endpoint, project ...) take the
highest layer that has them. Credentials are taken as one group, from the
highest source that holds any (an AK never pairs with another source's SK);
within a source a token wins over an AK/SK pair, which wins over a password.

Every value remembers its source, so ``vizctl config show`` and every error can
name the variable or file (never the value) it came from. Every secret value
found, in any layer, chosen or not, is listed by :meth:`Settings.secrets` for
:mod:`vizctl.redact`; a chosen one too short to be masked is refused.
"""

from __future__ import annotations

import configparser
import json
import os
import stat
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping
from urllib.parse import SplitResult, unquote, urlsplit

from vizctl.errors import ConfigError
from vizctl.redact import MIN_SECRET_LENGTH, too_short

SECRETS = ("token", "secret_key", "security_token", "password", "passcode")
CREDENTIALS = ("token", "access_key", "secret_key", "security_token", "username", "user_id", "password", "passcode")
PRIMARY_CREDENTIALS = ("token", "access_key", "secret_key", "password")
METHODS = ("token", "password", "aksk", "agency")
# Every setting, in the order `config show` lists them; VIZCTL_<NAME> sets each.
NAMES = ("endpoint", "project_id", "region", "profile", "auth", "cloud", "iam_endpoint", "project_name", "domain_name",
         *CREDENTIALS, "ca_bundle", "metadata_url", "config")

ECOSYSTEM_VARIABLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Huawei Cloud SDK", (
        ("HUAWEICLOUD_SDK_AK", "access_key"), ("HUAWEICLOUD_SDK_SK", "secret_key"),
        ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "security_token"), ("HUAWEICLOUD_SDK_PROJECT_ID", "project_id"),
        ("HUAWEICLOUD_SDK_IAM_ENDPOINT", "iam_endpoint"))),
    ("huaweicloud Terraform provider", (
        ("HW_REGION_NAME", "region"), ("HW_ACCESS_KEY", "access_key"), ("HW_SECRET_KEY", "secret_key"),
        ("HW_SECURITY_TOKEN", "security_token"), ("HW_PROJECT_ID", "project_id"), ("HW_PROJECT_NAME", "project_name"),
        ("HW_DOMAIN_NAME", "domain_name"), ("HW_USER_NAME", "username"), ("HW_USER_ID", "user_id"),
        ("HW_USER_PASSWORD", "password"), ("HW_AUTH_TOKEN", "token"), ("HW_AUTH_URL", "iam_endpoint"),
        ("HW_CLOUD", "cloud"), ("HW_PROFILE", "profile"))),
    ("OpenStack / Open Telekom Cloud", (
        ("OS_REGION_NAME", "region"), ("OS_ACCESS_KEY", "access_key"), ("OS_SECRET_KEY", "secret_key"),
        ("OS_SECURITY_TOKEN", "security_token"), ("OS_AUTH_URL", "iam_endpoint"), ("OS_PROJECT_ID", "project_id"),
        ("OS_TENANT_ID", "project_id"), ("OS_PROJECT_NAME", "project_name"), ("OS_TENANT_NAME", "project_name"),
        ("OS_USER_DOMAIN_NAME", "domain_name"), ("OS_DOMAIN_NAME", "domain_name"), ("OS_USERNAME", "username"),
        ("OS_USER_ID", "user_id"), ("OS_PASSWORD", "password"), ("OS_PASSCODE", "passcode"), ("OS_TOKEN", "token"),
        ("OS_AUTH_TOKEN", "token"))),
    ("requests", (("REQUESTS_CA_BUNDLE", "ca_bundle"), ("CURL_CA_BUNDLE", "ca_bundle"))),
)
# The variables whose whole value is a credential vizctl reads.
SECRET_VARIABLES = frozenset((*(f"VIZCTL_{n.upper()}" for n in SECRETS),
                              *(v for _, pairs in ECOSYSTEM_VARIABLES for v, n in pairs if n in SECRETS)))
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")  # a proxy URL may carry user:password@
ENCRYPTED_KOOCLI = (
    "the KooCLI profile {name!r} in {path} has no readable keys (KooCLI stores them encrypted by default, and only "
    "KooCLI can read them): run "
    "`hcloud configure set --cli-auth-encrypt=false` (KooCLI 5.2.7 or later) to store them readably, or export "
    "VIZCTL_ACCESS_KEY and VIZCTL_SECRET_KEY instead"
)


@dataclass(frozen=True)
class Value:
    """One setting's value and where it came from (a flag, variable or file)."""

    value: str
    source: str


@dataclass
class Source:
    """One place settings come from; ``values`` maps setting names to values."""

    label: str
    values: dict[str, Value] = field(default_factory=dict)

    def put(self, name: str, value, where: str) -> None:
        if value not in (None, "") and name not in self.values:
            self.values[name] = Value(str(value), where)


@dataclass(frozen=True)
class Settings:
    """The resolved settings: one :class:`Value` per setting found, plus the auth method."""

    values: Mapping[str, Value]
    method: str | None  # token | password | aksk | agency, None when nothing is configured
    warnings: tuple[str, ...] = ()
    found_secrets: tuple[str, ...] = ()  # every secret value of every layer, the unchosen ones too

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.value if value else None

    def source(self, name: str) -> str:
        return self.values[name].source

    def secrets(self) -> list[str]:
        """Every secret value found: the chosen credentials and those of every other layer."""
        return [*(self.values[n].value for n in SECRETS if n in self.values), *self.found_secrets]


def add_connection_arguments(group) -> None:
    """The connection flags of this module (an argparse group; read back by :func:`resolve`)."""
    group.add_argument("--region", metavar="NAME", help="region, e.g. eu-de or ap-southeast-1: sets the endpoint and finds the project (env VIZCTL_REGION)")
    group.add_argument("--profile", metavar="NAME", help="profile of vizctl's config file or of KooCLI's ~/.hcloud/config.json (env VIZCTL_PROFILE)")
    group.add_argument("--ca-bundle", metavar="FILE", help="CA certificates to trust, for a private CA (env VIZCTL_CA_BUNDLE, REQUESTS_CA_BUNDLE)")
    group.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (warns on every run)")
    group.add_argument("--debug", action="store_true", help="log every request and response, headers included, secrets masked")


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str], cwd: str) -> Settings:
    """Every connection setting from flags, variables and files, highest layer first."""
    getenv = lambda name: environ.get(name) or None  # noqa: E731 - an empty variable is an unset one
    sources = [_flags(flags), _vizctl_variables(getenv), *_ecosystem_variables(getenv)]
    warnings: list[str] = []
    profile = _first(sources, "profile")
    sources += _files(getenv, cwd, profile, warnings)
    values: dict[str, Value] = {}
    for source in sources:
        for name, value in source.values.items():
            if name not in CREDENTIALS and name != "auth":
                values.setdefault(name, value)
    credentials, method = _credentials(sources)
    values.update(credentials)
    for name, value in values.items():
        check_clean(name, value)
    found = tuple(v.value for source in sources for n, v in source.values.items() if n in SECRETS)
    return Settings(values, method, tuple(warnings), found)


# -- layers ----------------------------------------------------------------------


def _flags(flags: Mapping[str, str | None]) -> Source:
    source = Source("flags")
    for name, value in flags.items():
        source.put(name, value, f"flag --{name.replace('_', '-')}")
    return source


def _vizctl_variables(getenv: Callable[[str], str | None]) -> Source:
    source = Source("VIZCTL_* variables")
    for name in NAMES:
        variable = f"VIZCTL_{name.upper()}"
        source.put(name, getenv(variable), f"env {variable}")
    return source


def _ecosystem_variables(getenv: Callable[[str], str | None]) -> list[Source]:
    sources = []
    for label, pairs in ECOSYSTEM_VARIABLES:
        source = Source(f"{label} variables")
        for variable, name in pairs:
            source.put(name, getenv(variable), f"env {variable}")
        sources.append(source)
    return sources


def _first(sources: Iterable[Source], name: str) -> Value | None:
    return next((s.values[name] for s in sources if name in s.values), None)


# -- files -----------------------------------------------------------------------


def _files(getenv, cwd: str, profile: Value | None, warnings: list[str]) -> list[Source]:
    home = getenv("HOME")
    in_home = (lambda *parts: os.path.join(home, *parts)) if home else (lambda *parts: None)
    sources = []
    found_profile = False
    own = getenv("VIZCTL_CONFIG") or in_home(".config", "vizctl", "config.yaml")
    if own and os.path.isfile(own):
        source = _vizctl_config(own, profile, getenv, warnings)
        found_profile |= source is not None and profile is not None
        sources += [source] if source else []
    koocli = getenv("HW_SHARED_CONFIG_FILE") or in_home(".hcloud", "config.json")
    if koocli and os.path.isfile(koocli):
        source = _koocli(koocli, profile)
        found_profile |= source is not None and profile is not None
        sources += [source] if source else []
    if profile is not None and not found_profile:
        raise ConfigError(f"profile {profile.value!r} ({profile.source}) is in neither vizctl's config file "
                          f"({own or 'none'}) nor KooCLI's ({koocli or 'none'})")
    sdk = getenv("HUAWEICLOUD_SDK_CREDENTIALS_FILE") or in_home(".huaweicloud", "credentials")
    if sdk and os.path.isfile(sdk):
        sources.append(_sdk_credentials(sdk))
    cloud = getenv("OS_CLOUD")
    if cloud:
        sources.append(_clouds_yaml(cloud, getenv, cwd, home))
    return sources


def _read(path: str, parse: Callable[[str], object], kind: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return parse(handle.read())
    except OSError as exc:
        raise ConfigError(f"cannot read {kind} {path}: {exc.strerror or exc}") from None
    except (ValueError, configparser.Error) as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f"{path}:{line + 1}" if line is not None else path
        raise ConfigError(f"{where}: not a valid {kind} ({getattr(exc, 'kind', type(exc).__name__)})") from None


class _YamlSyntaxError(ValueError):
    """A YAML file that does not parse: where (``problem_mark``) and what kind of error."""

    def __init__(self, kind: str, problem_mark):
        super().__init__(kind)
        self.kind = kind
        self.problem_mark = problem_mark


def _load_yaml(text: str):
    """``yaml.safe_load``, imported only when a YAML settings file is read: ``vizctl --help`` stays light."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _YamlSyntaxError(type(exc).__name__, getattr(exc, "problem_mark", None)) from None


def _vizctl_config(path: str, profile: Value | None, getenv, warnings: list[str]) -> Source | None:
    """vizctl's own file: ``profiles: {NAME: {setting: value}}``, ``current: NAME``; secrets may be ``env:VAR``."""
    data = _read(path, _load_yaml, "vizctl config file") or {}
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: expected a mapping 'profiles: {{NAME: {{setting: value}}}}'")
    name = profile.value if profile else data.get("current") or ("default" if "default" in profiles else None)
    if name is None or name not in profiles:
        return None
    entry = profiles[name]
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: profile {name!r} must be a mapping of settings")
    source = Source(f"{path} profile {name}")
    readable = os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH)
    for key, raw in entry.items():
        if key not in NAMES or key in ("profile", "config"):
            raise ConfigError(f"{path}: profile {name!r}: unknown setting {key!r} (known: {', '.join(n for n in NAMES if n not in ('profile', 'config'))})")
        where = f"{path} profile {name} {key}"
        text = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
        if text.startswith("env:"):
            variable = text[4:]
            text = getenv(variable)
            if text is None:
                raise ConfigError(f"{where} refers to env:{variable}, which is not set")
            where = f"{where} (env {variable})"
        elif key in SECRETS and readable:
            warnings.append(f"{path} holds a literal {key} and others can read the file: "
                            f"`chmod 600 {path}`, or write {key}: env:VARIABLE")
        source.put(key, text, where)
    return source


def _koocli(path: str, profile: Value | None) -> Source | None:
    """KooCLI's ``~/.hcloud/config.json``: its ``current`` profile, or the one named."""
    data = _read(path, json.loads, "KooCLI config file")
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, list):
        raise ConfigError(f"{path}: not a KooCLI config file (no 'profiles' list)")
    name = profile.value if profile else data.get("current")
    entry = next((p for p in profiles if isinstance(p, dict) and p.get("name") == name), None)
    if entry is None:
        return None
    source = Source(f"{path} profile {name}")
    where = f"{path} profile {name}"
    mode = str(entry.get("mode") or "AKSK")
    keys = entry.get("ssoAuth", {}).get("stsToken", {}) if mode == "SSO" else entry
    if mode in ("AKSK", "SSO"):
        access, secret = keys.get("accessKeyId"), keys.get("secretAccessKey")
        if _encrypted(data, access, secret):
            raise ConfigError(ENCRYPTED_KOOCLI.format(name=name, path=path))
        source.put("access_key", access, f"{where} accessKeyId")
        source.put("secret_key", secret, f"{where} secretAccessKey")
        source.put("security_token", keys.get("securityToken"), f"{where} securityToken")
    elif mode == "ecsAgency":
        source.put("auth", "agency", f"{where} mode ecsAgency")
    else:
        raise ConfigError(f"{where}: mode {mode!r} is not supported by vizctl (AKSK, SSO and ecsAgency are)")
    source.put("region", entry.get("region"), f"{where} region")
    source.put("project_id", entry.get("projectId"), f"{where} projectId")
    return source


def _encrypted(data: dict, access: str | None, secret: str | None) -> bool:
    """KooCLI marks encrypted keys with a top-level ``authEncrypt`` (unconfirmed); a profile without keys is treated alike."""
    return str(data.get("authEncrypt", "")).lower() == "true" or not (access and secret)


def _sdk_credentials(path: str) -> Source:
    """The Huawei SDK's INI file: section ``[basic]`` (or ``[global]``) with ak, sk, security_token ..."""
    parser = configparser.ConfigParser(interpolation=None)
    _read(path, parser.read_string, "Huawei SDK credentials file")
    section = next((s for s in ("basic", "global") if parser.has_section(s)), None)
    source = Source(f"{path} [{section}]")
    if section:
        for key, name in (("ak", "access_key"), ("sk", "secret_key"), ("security_token", "security_token"),
                          ("project_id", "project_id"), ("iam_endpoint", "iam_endpoint")):
            source.put(name, parser.get(section, key, fallback=None), f"{path} [{section}] {key}")
    return source


def _clouds_yaml(cloud: str, getenv, cwd: str, home: str | None) -> Source:
    """The ``OS_CLOUD`` entry as openstacksdk reads it: from the first clouds file found, the first secure file over it.

    Each kind is searched in ``OS_CLIENT_CONFIG_FILE`` (``OS_CLIENT_SECURE_FILE``), then
    ``./``, ``$XDG_CONFIG_HOME/openstack``, ``~/.config/openstack``, ``/etc/xdg/openstack``,
    ``/etc/openstack``, each as ``.yaml``, ``.yml`` and ``.json``; a file that cannot be read is
    passed over, as openstacksdk does. The files are never merged with each other.
    """
    directories = [cwd, *(os.path.join(d, "openstack") for d in (getenv("XDG_CONFIG_HOME"), home and os.path.join(home, ".config")) if d),
                   "/etc/xdg/openstack", "/etc/openstack"]
    found = [_first_clouds_file(getenv(variable), directories, stem)
             for variable, stem in (("OS_CLIENT_CONFIG_FILE", "clouds"), ("OS_CLIENT_SECURE_FILE", "secure"))]
    files = [path for path, _ in found if path]
    clouds = _merge(found[0][1], found[1][1]).get("clouds")
    entry = clouds.get(cloud) if isinstance(clouds, dict) else None
    if not isinstance(entry, dict) and not files:
        raise ConfigError(f"OS_CLOUD is {cloud!r}, but there is no clouds.yaml (looked at OS_CLIENT_CONFIG_FILE, then "
                          f"clouds.yaml, .yml and .json in {', '.join(dict.fromkeys(directories))})")
    if not isinstance(entry, dict):
        raise ConfigError(f"OS_CLOUD is {cloud!r}, but {' and '.join(files)} has no cloud of that name (as openstacksdk, "
                          "vizctl reads only the first clouds file found: OS_CLIENT_CONFIG_FILE names another)")
    where = f"clouds.yaml cloud {cloud} ({', '.join(files)})"
    source = Source(where)
    auth = entry.get("auth") if isinstance(entry.get("auth"), dict) else {}
    for name, keys, block in (
        ("token", ("token",), auth), ("access_key", ("ak", "access_key"), entry),
        ("secret_key", ("sk", "secret_key"), entry), ("security_token", ("security_token",), entry),
        ("username", ("username",), auth), ("user_id", ("user_id",), auth), ("password", ("password",), auth),
        ("project_id", ("project_id", "tenant_id"), auth), ("project_name", ("project_name", "tenant_name"), auth),
        ("domain_name", ("user_domain_name", "domain_name"), auth), ("iam_endpoint", ("auth_url",), auth),
    ):
        for key in keys:
            source.put(name, block.get(key), f"{where} {key}")
    key = "regions" if "regions" in entry else "region_name"
    source.put("region", _first_region(entry.get(key)), f"{where} {key}")
    return source


def _first_region(regions) -> str | None:
    """The region openstacksdk uses when none is asked for: the first of ``regions`` (names or ``{name:}``) or of
    ``region_name`` (one name, a list, or names separated by commas)."""
    if isinstance(regions, str):
        regions = regions.split(",")
    first = regions[0] if isinstance(regions, list) and regions else None
    return first.get("name") if isinstance(first, dict) else first


def _first_clouds_file(given: str | None, directories: list[str], stem: str) -> tuple[str | None, dict]:
    """The first readable file of ``given`` and ``stem``.yaml/.yml/.json in ``directories``, and its content."""
    candidates = [given] if given else []
    candidates += [os.path.join(d, stem + suffix) for d in dict.fromkeys(directories) for suffix in (".yaml", ".yml", ".json")]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            data = _read(path, json.loads if path.endswith(".json") else _load_yaml, f"{stem} file") or {}
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: not a {stem} file (expected a mapping with 'clouds:')")
            return path, data
    return None, {}


def _merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


# -- credentials -----------------------------------------------------------------


def _credentials(sources: list[Source]) -> tuple[dict[str, Value], str | None]:
    """The credential group of the highest source that has one, and its method.

    An ``auth`` setting forces the method of the group found at or below its
    source; ``auth: agency`` (or a KooCLI ecsAgency profile) ends the search there.
    """
    forced: Value | None = None
    for source in sources:
        auth = source.values.get("auth")
        if auth is not None:
            if auth.value not in METHODS:
                raise ConfigError(f"{auth.source} must be one of {', '.join(METHODS)}, not {auth.value!r}")
            if auth.value == "agency":
                return {"auth": auth}, "agency"
            forced = forced or auth
        found = {n: v for n, v in source.values.items() if n in CREDENTIALS}
        if not any(n in found for n in PRIMARY_CREDENTIALS):
            continue
        method = forced.value if forced else _method(found)
        if method == "aksk":
            _require(found, ("access_key", "secret_key"), source, "an AK/SK pair")
            keep = ("access_key", "secret_key", "security_token")
        elif method == "password":
            _require(found, ("password",), source, "a password")
            if "username" not in found and "user_id" not in found:
                raise ConfigError(f"{found['password'].source} is set, but no user name in the same place")
            keep = ("username", "user_id", "password", "passcode")
        else:
            _require(found, ("token",), source, "a token")
            keep = ("token",)
        chosen = {n: found[n] for n in keep if n in found}
        chosen["auth"] = forced or Value(method, f"chosen: the credentials of {source.label}")
        return chosen, method
    return {}, None


def _method(found: dict[str, Value]) -> str:
    if "token" in found:
        return "token"
    if "access_key" in found or "secret_key" in found:
        return "aksk"
    return "password"


def _require(found: dict[str, Value], names: tuple[str, ...], source: Source, what: str) -> None:
    missing = [n for n in names if n not in found]
    if missing:
        have = ", ".join(v.source for v in found.values())
        raise ConfigError(f"{source.label} hold {have} but no {' / '.join(missing)}: {what} needs both from one place")


# -- secrets outside the settings --------------------------------------------------


def proxy_url(value: str) -> SplitResult:
    """A proxy URL's parts; one without a scheme (``user:pw@host:3128``) is http://, as curl and requests read it."""
    return urlsplit(value if "://" in value else f"http://{value}")


def proxy_credentials(value: str) -> tuple[str, str] | None:
    """The user and password of a proxy URL's ``user:password@``, percent-decoded; None without a password."""
    parts = proxy_url(value)
    if parts.username is None or not parts.password:
        return None
    return unquote(parts.username), unquote(parts.password)


def environment_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Variable name -> the credential its value is or holds (credential variables, proxy URLs' passwords)."""
    found = {name: environ[name] for name in SECRET_VARIABLES if environ.get(name)}
    for name in PROXY_VARIABLES:
        credentials = proxy_credentials(environ.get(name) or "")
        if credentials:
            found[name] = credentials[1]
    return {name: value for name, value in found.items() if not too_short(value)}


def check_clean(name: str, value: Value) -> None:
    """Reject whitespace or control characters around or inside a value (a newline in a CI secret), and a secret too short to mask."""
    text = value.value
    if text != text.strip() or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ConfigError(f"{value.source} ({name}) starts or ends with whitespace, or holds a control character "
                          f"(a newline copied into a CI secret?): remove it")
    if name in SECRETS and too_short(text):
        raise ConfigError(f"{value.source} ({name}) is shorter than {MIN_SECRET_LENGTH} characters: too short to be "
                          "a real credential, and too short for vizctl to keep out of its output")


def masked(name: str, value: str) -> str:
    """A value as `config show` prints it: secrets fully masked, the access key's first 4 characters kept."""
    if name in SECRETS:
        return "****"
    if name == "access_key":
        return value[:4] + "****"
    return value
