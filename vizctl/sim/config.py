"""Settings of the simulator: job timings, fault injection and API readings.

:class:`SimConfig` is shared by reference between the state and the HTTP
server, so :meth:`SimConfig.update` (behind ``POST /__sim__/config``) changes
a running simulator's behaviour for the requests that follow.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping


@dataclass
class SimConfig:
    """How the simulated ModelArts behaves; every field has the documented default."""

    startup_seconds: float = 2.0  # INIT -> WAITING -> RUNNING takes this long
    startup_jitter: float = 0.0  # fraction: each job's startup is uniform in [s*(1-j), s*(1+j)]
    fail_pattern: str | None = None  # fnmatch glob on job_name: such jobs end in fail_status
    fail_status: int = 3  # IMAGE_FAILED by default
    latency: float = 0.0  # seconds added to every API request
    rate_429: float = 0.0  # fraction of API requests answered 429 APIG.0308 with Retry-After
    retry_after: float = 1.0  # seconds, sent in the Retry-After header
    rate_5xx: float = 0.0  # fraction answered 500 ModelArts.0010 (nothing done)
    rate_drop: float = 0.0  # fraction whose connection is closed with no answer (nothing done)
    rate_lost_response: float = 0.0  # fraction of mutations carried out, then closed with no answer
    list_lag: float = 0.0  # seconds before the list shows a new job (an eventually consistent index)
    # Answers that are not the API's answer (each kind alone or mixed; see ANSWER_FAULTS):
    rate_html_200: float = 0.0  # a portal / WAF page with HTTP 200, echoing the token (nothing done)
    rate_false_200: float = 0.0  # {"is_success": false, ...} with HTTP 200 (nothing done)
    rate_html_502: float = 0.0  # a gateway's HTML 502 page (nothing done)
    rate_truncated: float = 0.0  # carried out; the JSON answer is cut in half
    rate_retyped: float = 0.0  # carried out; numbers answered as strings and id strings as numbers
    rate_null_fields: float = 0.0  # carried out; the jobs' optional fields are null
    rate_no_jobs_key: float = 0.0  # a list answer without its "jobs" key
    rate_short_total: float = 0.0  # a list answer whose job_total_count says this page is the last
    rate_list_shift: float = 0.0  # a list page beyond the first, as if a job before it had just been deleted
    max_rps: float | None = None  # above this many API requests/second (sliding 1 s window): 429
    seed: int | None = None  # RNG seed for faults and jitter
    quota: int = 1000  # `quotas`: max jobs per project
    max_per_page: int = 1000  # per_page above this is clamped (100 serves the SDK page's reading)
    refuse_over_max_per_page: bool = False  # refuse per_page above max_per_page with 400, instead of clamping
    numbers_as_strings: bool = True  # create answers job_id/status/create_time as strings
    reject_duplicate_names: bool = False  # create of an existing name -> 400 ModelArts.0103
    # Other readings of the documents a conforming server may serve (see READINGS):
    sort_param: str = "both"  # which spelling of the list's sort parameter is honoured: both, sortBy, sort_by, none
    default_sort_by: str = "job_id"  # the list's order when no honoured sort is asked (the SDK page says job_name)
    sort_keys: str = "all"  # sort keys accepted: all, api (job_id first), sdk (job_name, ..., log_dir; no job_id)
    retry_after_format: str = "seconds"  # a 429's Retry-After: seconds, http-date, or absent
    not_found_status: int = 400  # HTTP status of ModelArts.0102 (no such job); 404 is the other reading
    error_message_key: str = "error_message"  # key of an API error's text: error_message or error_msg
    create_answer_minimal: bool = False  # create answers only is_success, job_id and job_name
    sparse_list_items: bool = False  # list items without the optional create_time, duration, job_desc, service_url, resource_id
    extra_list_fields: bool = False  # list items and answers carry fields the documents do not name
    no_quota_fields: bool = False  # the list answer has no job_count_limit or quotas
    details_schedule_as_list: bool = False  # details show schedule as a one-element list, flavor with more keys
    max_search_content: int = 64  # longest search_content accepted (the API page says 64, the SDK page 100)
    token: str | None = None  # None: any non-empty X-Auth-Token is accepted; else it must equal this
    delete_seconds: float = 0.5  # a deleted job shows KILLING this long, then disappears
    stop_seconds: float = 0.5  # a stopped job shows KILLING this long, then KILLED
    hour_seconds: float = 3600.0  # length of one schedule hour (auto-stop); tests shrink it
    strict_auth: bool = False  # accept only tokens issued here or `token`, and only AK/SK pairs known here
    iam_password: str | None = None  # the password IAM accepts (None: any non-empty one)
    iam_passcode: str | None = None  # when set, IAM also wants this MFA passcode
    access_key: str | None = None  # an AK/SK pair whose signatures are verified
    secret_key: str | None = None
    clock_skew_seconds: float = 900.0  # X-Sdk-Date may differ this much from the clock
    token_ttl_seconds: float = 86400.0  # life of an issued IAM token
    projects: dict | None = None  # IAM project name -> id (or list of ids); None: every name has "project-{name}"
    agency: bool = True  # the metadata service serves agency keys (False: "no Cloud Service Agency")
    agency_ttl_seconds: float = 86400.0  # life of served agency keys

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # inf and nan pass every range check below, and hang a request
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{field.name} must be a finite number, not {value}")
        for name in ("startup_jitter", "rate_429", "rate_5xx", "rate_drop", "rate_lost_response", *ANSWER_FAULTS):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], not {getattr(self, name)}")
        for name in ("startup_seconds", "latency", "retry_after", "delete_seconds", "stop_seconds", "list_lag",
                     "clock_skew_seconds", "token_ttl_seconds", "agency_ttl_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, not {getattr(self, name)}")
        if self.hour_seconds <= 0:
            raise ValueError(f"hour_seconds must be positive, not {self.hour_seconds}")
        if self.max_rps is not None and self.max_rps <= 0:
            raise ValueError(f"max_rps must be positive, not {self.max_rps}")
        if self.quota < 0:
            raise ValueError(f"quota must not be negative, not {self.quota}")
        if self.max_per_page < 1:
            raise ValueError(f"max_per_page must be at least 1, not {self.max_per_page}")
        for name, allowed in READINGS.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        if self.max_search_content < 0:
            raise ValueError(f"max_search_content must not be negative, not {self.max_search_content}")
        if self.not_found_status not in (400, 404):
            raise ValueError(f"not_found_status must be 400 or 404, not {self.not_found_status}")
        if self.fail_status < 0:
            raise ValueError(f"fail_status must not be negative, not {self.fail_status}")

    @classmethod
    def from_args(cls, ns: argparse.Namespace, secrets: Mapping[str, str] | None = None) -> "SimConfig":
        """Build a config from a namespace filled by :func:`add_arguments` (unset flags keep defaults)
        and the secret settings :func:`read_secrets` found."""
        values = {
            f.name: getattr(ns, f.name)
            for f in dataclasses.fields(cls)
            if getattr(ns, f.name, None) is not None
        }
        if getattr(ns, "numeric_ids", False):
            values["numbers_as_strings"] = False
        return cls(**values, **(secrets or {}))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-ready dict, each secret that is set shown as ``***``."""
        return {name: "***" if name in SECRET_SETTINGS and value is not None else value
                for name, value in dataclasses.asdict(self).items()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Change some settings in place, from JSON values; all or nothing.

        Raises ValueError for an unknown field, a value of the wrong type or
        an out-of-range value.
        """
        unknown = sorted(set(changes) - _TYPES.keys())
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        checked = dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})
        for name in changes:
            setattr(self, name, getattr(checked, name))


_TYPES = typing.get_type_hints(SimConfig)
# The broken-answer faults: setting -> what a request so drawn gets (the --help text of its flag).
ANSWER_FAULTS = {
    "rate_html_200": "an HTML portal page with HTTP 200 echoing the token (nothing done)",
    "rate_false_200": 'HTTP 200 and {"is_success": false} (nothing done)',
    "rate_html_502": "a gateway's HTML 502 page (nothing done)",
    "rate_truncated": "their JSON cut in half (carried out)",
    "rate_retyped": "numbers as strings and id strings as numbers (carried out)",
    "rate_null_fields": "the jobs' optional fields null (carried out)",
    "rate_no_jobs_key": "a list without its 'jobs' key",
    "rate_short_total": "a list page whose job_total_count says it is the last",
    "rate_list_shift": "a later list page shifted as if a job before it had just been deleted",
}

# The settings that choose between readings of the documents: setting -> its values, the default first.
READINGS = {
    "sort_param": ("both", "sortBy", "sort_by", "none"),
    "default_sort_by": ("job_id", "job_name", "create_time"),
    "sort_keys": ("all", "api", "sdk"),
    "retry_after_format": ("seconds", "http-date", "absent"),
    "error_message_key": ("error_message", "error_msg"),
}


# The secret settings: never flags (any user of the machine can read a process's command line, `ps`),
# but a file or a variable. setting -> (the flag naming its file, its variable, what it is).
SECRETS = {
    "token": ("--token-file", "VIZCTL_SIM_TOKEN", "the only X-Auth-Token accepted (default: any non-empty token)"),
    "iam_password": ("--iam-password-file", "VIZCTL_SIM_IAM_PASSWORD", "the password /v3/auth/tokens accepts (default: any)"),
    "secret_key": ("--secret-key-file", "VIZCTL_SIM_SECRET_KEY", "the secret key of --access-key"),
}


def read_secrets(ns: argparse.Namespace, getenv: Callable[[str], str | None]) -> dict[str, str]:
    """The secret settings, each from the file its flag names, else from its variable (surrounding whitespace
    dropped); ValueError naming the file or variable that cannot be used. Never says a value."""
    found = {}
    for name, (flag, variable, _) in SECRETS.items():
        path = getattr(ns, _dest(flag), None)
        if path is not None:
            source = f"{flag} {path}"
            try:
                with open(path, encoding="utf-8") as handle:
                    value = handle.read(_MAX_SECRET + 1).strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"{source}: {getattr(exc, 'strerror', None) or exc}") from None
        else:
            source, value = variable, (getenv(variable) or "").strip()
            if not value:
                continue
        if not value or len(value) > _MAX_SECRET or any(c in value for c in "\r\n\0"):
            raise ValueError(f"{source}: it must hold one line of 1 to {_MAX_SECRET} characters")
        found[name] = value
    return found


SECRET_SETTINGS = (*SECRETS, "iam_passcode")  # never shown (the passcode is set only by POST /__sim__/config)
_MAX_SECRET = 4096


def _dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


class _SecretFlag(argparse.Action):
    """A secret given on the command line (the old ``--token T``): refused, saying where it goes instead."""

    def __init__(self, option_strings, dest, instead: str = "", **kwargs):
        super().__init__(option_strings, argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
        self.instead = instead

    def __call__(self, parser, namespace, values, option_string=None):
        raise argparse.ArgumentError(self, f"a secret on the command line is visible to every user of the machine "
                                           f"(ps): give it {self.instead}")


def _coerce(name: str, value: Any) -> Any:
    """A JSON value checked against the field's type (an int is accepted for a float)."""
    allowed = typing.get_args(_TYPES[name]) or (_TYPES[name],)
    if value is None:
        if type(None) in allowed:
            return None
        raise ValueError(f"{name} must not be null")
    base = next(t for t in allowed if t is not type(None))
    if isinstance(value, bool) and base is not bool:
        raise ValueError(f"{name} must be {base.__name__}, not a boolean")
    if base is float and isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, base):
        return value
    raise ValueError(f"{name} must be {base.__name__}, not {type(value).__name__}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's flags (one per setting) to ``parser``; read them back with from_args."""
    d = SimConfig()
    add = parser.add_argument
    add("--startup-seconds", type=float, metavar="S",
        help=f"time a new job takes from INIT to RUNNING (default {d.startup_seconds})")
    add("--startup-jitter", type=float, metavar="FRACTION",
        help="spread each job's startup uniformly by this fraction (default 0)")
    add("--fail-pattern", metavar="GLOB",
        help="jobs whose name matches this glob end in --fail-status instead of RUNNING")
    add("--fail-status", type=int, metavar="N",
        help=f"status of jobs matching --fail-pattern (default {d.fail_status}, IMAGE_FAILED)")
    add("--latency", type=float, metavar="S", help="seconds added to every API request (default 0)")
    add("--rate-429", type=float, metavar="FRACTION",
        help="fraction of API requests throttled with 429 APIG.0308 (default 0)")
    add("--retry-after", type=float, metavar="S",
        help=f"seconds sent in the Retry-After header of a 429 (default {d.retry_after})")
    add("--rate-5xx", type=float, metavar="FRACTION",
        help="fraction of API requests answered 500 ModelArts.0010, nothing done (default 0)")
    add("--rate-drop", type=float, metavar="FRACTION",
        help="fraction of API requests whose connection is closed unanswered, nothing done (default 0)")
    add("--rate-lost-response", type=float, metavar="FRACTION",
        help="fraction of mutations carried out whose answer is then lost (default 0)")
    add("--list-lag", type=float, metavar="S",
        help="the list shows a new job only this many seconds after its create (default 0)")
    for name, what in ANSWER_FAULTS.items():
        add("--" + name.replace("_", "-"), type=float, metavar="FRACTION", help=f"fraction of API requests answered with {what} (default 0)")
    add("--max-rps", type=float, metavar="N",
        help="throttle with 429 above this many API requests per second (default: no limit)")
    add("--seed", type=int, metavar="N", help="random seed for faults and startup jitter")
    add("--quota", type=int, metavar="N", help=f"maximum number of jobs per project (default {d.quota})")
    add("--max-per-page", type=int, metavar="N",
        help=f"clamp the list's per_page to this (default {d.max_per_page}; the SDK page says 100)")
    add("--refuse-over-max-per-page", action="store_true",
        help="refuse a per_page above --max-per-page with 400 ModelArts.0101 instead of clamping it")
    add("--numeric-ids", action="store_true",
        help="answer create with numbers, not the sample's strings, for job_id/status/create_time")
    add("--reject-duplicate-names", action="store_true",
        help="refuse a create whose name is taken with 400 ModelArts.0103")
    add("--sort-param", choices=READINGS["sort_param"],
        help="which spelling of the list's sort parameter is honoured; the other is ignored (default: both)")
    add("--default-sort-by", choices=READINGS["default_sort_by"],
        help="the list's order when no honoured sort is asked (default job_id; the SDK page says job_name)")
    add("--sort-keys", choices=READINGS["sort_keys"],
        help="sort keys the list accepts: the API page's (job_id ...), the SDK page's (no job_id), or all (default)")
    add("--retry-after-format", choices=READINGS["retry_after_format"],
        help="Retry-After of a 429 in seconds, as an HTTP date, or absent (default: seconds)")
    add("--not-found-status", type=int, metavar="{400,404}",
        help="HTTP status of ModelArts.0102 for a job id that does not exist (default 400)")
    add("--error-message-key", choices=READINGS["error_message_key"],
        help="key of an API error's text (default error_message; gateways say error_msg)")
    add("--create-answer-minimal", action="store_true", default=None,
        help="answer create with is_success, job_id and job_name only")
    add("--sparse-list-items", action="store_true", default=None,
        help="list items without their optional fields (create_time, duration, job_desc, service_url, resource_id)")
    add("--extra-list-fields", action="store_true", default=None,
        help="list items and answers carry fields the documents do not name")
    add("--no-quota-fields", action="store_true", default=None,
        help="the list answer has no job_count_limit or quotas")
    add("--details-schedule-as-list", action="store_true", default=None,
        help="details show schedule as a one-element list and flavor with more keys than code")
    add("--max-search-content", type=int, metavar="N",
        help=f"longest search_content accepted (default {d.max_search_content}; the SDK page says 100)")
    for name, (flag, variable, what) in SECRETS.items():
        add(flag, metavar="FILE", help=f"read {what} from FILE (or env {variable})")
        add("--" + name.replace("_", "-"), action=_SecretFlag, instead=f"in a file with {flag} FILE, or in {variable}")
    add("--strict-auth", action="store_true", default=None,
        help="accept only tokens issued on /v3/auth/tokens (or --token-file's) and AK/SK pairs known here")
    add("--access-key", metavar="AK", help="an access key whose signatures are verified (with --secret-key-file)")
    add("--delete-seconds", type=float, metavar="S",
        help=f"a deleted job shows KILLING this long before it disappears (default {d.delete_seconds})")
    add("--stop-seconds", type=float, metavar="S",
        help=f"a stopped job shows KILLING this long before KILLED (default {d.stop_seconds})")
    add("--hour-seconds", type=float, metavar="S",
        help=f"length of one auto-stop schedule hour (default {d.hour_seconds})")
