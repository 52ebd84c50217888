"""Every error vizctl raises on purpose, and the exit code each one ends in.

The tree::

    VizctlError                     anything vizctl reports as one readable message
    ├── UsageError                  a bad flag or argument                  -> 64
    ├── ConfigError                 no endpoint, no token, bad setting       -> 1
    │   └── LocalRequestError       a request that cannot be built (a header value with a line break)
    ├── ConfirmationError           a question, but no terminal to answer it -> 1
    ├── OutputError                 standard output could not be written in full -> 1
    ├── ManifestError               every problem in the manifests at once   -> 1
    ├── PlanError                   the plan cannot be carried out           -> 1
    │   └── StalePlanError          a saved plan no longer matches           -> 1
    └── ApiError                    talking to ModelArts went wrong          -> 1
        ├── TransportError          no HTTP answer at all (reset, dropped)    ambiguous, retried
        │   ├── RequestTimeout      no answer within --request-timeout        ambiguous, retried
        │   └── UnreachableError    refused, unknown host, no connection: nothing sent; retried once
        ├── RetryCancelled          a retry not sent: Ctrl-C, or it was due after --timeout
        │   └── DeadlineExceeded    --timeout ran out: a request not sent, or its answer cut off (then ambiguous for a change)
        ├── ProtocolError           an answer that is not the API's (HTML, cut) ambiguous, retried
        │   └── InconsistentList    the list kept disagreeing with itself (list_all re-reads)
        └── ApiResponseError        an error answer: HTTP status + ModelArts error_code
            ├── AuthError           401 / 403: never retried
            ├── ThrottledError      429 or APIG.0308: not carried out; resent after the advised wait
            ├── ServerError         5xx or 408                                ambiguous, retried
            ├── UnsuccessfulAnswer  HTTP 2xx whose body says is_success false ambiguous, retried
            └── RedirectAnswer      HTTP 3xx: not followed (it would carry the credentials elsewhere)

``ApiError.ambiguous`` tells whether a mutation may have been carried out
despite the error: such a create is never sent again before the live list says
the job does not exist. ``ApiError.retryable`` tells whether a read may be sent
again unchanged (the client does, under :class:`~vizctl.api.retry.RetryPolicy`);
``max_attempts`` caps that for errors where retrying long is pointless.

:func:`exit_status_for` in ``cli.py`` is the one place errors become exit codes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from vizctl.wording import plural


class ExitStatus(enum.IntEnum):
    """vizctl's documented exit codes."""

    OK = 0
    ERROR = 1  # invalid manifest, configuration or API error, refused plan
    CHANGES = 2  # plan --detailed-exitcode: there is something to do
    NOT_CONVERGED = 3  # apply finished, but some job failed, timed out, is unknown, missing or duplicated
    USAGE = 64  # bad command line
    INTERRUPTED = 130  # Ctrl-C


class VizctlError(Exception):
    """Base of every error vizctl reports as one readable message."""

    exit_status = ExitStatus.ERROR

    def report(self) -> str:
        """The message as the CLI prints it."""
        return f"Error: {self}"


class UsageError(VizctlError):
    """A bad flag, argument or combination of them."""

    exit_status = ExitStatus.USAGE


class ConfigError(VizctlError):
    """Missing or invalid connection settings."""


class LocalRequestError(ConfigError):
    """A request that could not even be built or sent (e.g. a header value with a line break).

    A setting is wrong: never retried, and the message holds no header value.
    """


class ConfirmationError(VizctlError):
    """A change needs a ``yes`` but there is no terminal to ask: not a bad command line (64)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the manifests, with where it is."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class OutputError(VizctlError):
    """The output (standard output, a file asked for) could not be written in full: a result not delivered is no success."""


class ManifestError(VizctlError):
    """The manifests are invalid; carries every problem found."""

    def __init__(self, problems: list[Problem], skipped: tuple[str, ...] = ()):
        self.problems = problems
        self.skipped = skipped  # files in a directory read and found not to be manifests, as Manifest.skipped
        files = len({p.path for p in problems})
        super().__init__(f"{plural(len(problems), 'problem')} in {plural(files, 'file')}; nothing was sent to the API")

    def __str__(self) -> str:
        return "\n".join([*(str(p) for p in self.problems), self.args[0]])

    def report(self) -> str:
        return "\n".join([*(str(p) for p in self.problems), f"Error: {self.args[0]}"])


class PlanError(VizctlError):
    """The plan has problems that stop apply (duplicates, quota, refused prune)."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the manifests or the live jobs."""


class ApiError(VizctlError):
    """Talking to the ModelArts API failed."""

    ambiguous = False  # may a mutation have taken effect anyway?
    retryable = False  # may a read be retried unchanged?
    max_attempts: int | None = None  # at most this many tries of one request, whatever the policy
    attempts = 1  # how many times the request was sent before the client gave up

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.attempts <= 1 else f"{text} [gave up after {self.attempts} attempts]"


class TransportError(ApiError):
    """No HTTP answer at all: the connection was reset or dropped."""

    ambiguous = True
    retryable = True


class RequestTimeout(TransportError):
    """No answer within the request timeout."""


class UnreachableError(TransportError):
    """No connection: refused, not made in time, or the host name does not resolve. Nothing was sent."""

    ambiguous = False
    max_attempts = 2  # one more try covers a blip; a wrong endpoint is not fixed by waiting


class RetryCancelled(ApiError):
    """A retry was not sent: Ctrl-C, or its wait would have ended after the deadline (--timeout)."""


class DeadlineExceeded(RetryCancelled):
    """The command's --timeout ran out: a request was not sent, or its answer did not come in the time left
    (the message says which, and that a change sent may have been carried out)."""


class ProtocolError(ApiError):
    """An answer that is not the JSON the API documents: a portal page, cut JSON, a job without an id.

    A read answered like this is sent again; a change is settled by reading the list.
    """

    ambiguous = True
    retryable = True


class InconsistentList(ProtocolError):
    """Read after read, the job list disagreed with itself; vizctl does not plan on a partial list."""

    retryable = False  # list_all already read the whole list again, several times


class ApiResponseError(ApiError):
    """The API answered with an error: HTTP status plus ModelArts code and message."""

    def __init__(self, http_status: int, error_code: str | None, message: str, *, method: str = "", path: str = ""):
        self.http_status = http_status
        self.error_code = error_code
        self.error_message = message
        self.method = method
        self.path = path
        code = f"{error_code}: " if error_code else ""
        where = f" ({method} {path})" if method else ""
        super().__init__(f"API error {http_status} {code}{message}{where}")


class AuthError(ApiResponseError):
    """401 or 403: credentials refused. Never retried (an AK locks after repeated failures)."""


class ThrottledError(ApiResponseError):
    """429 or APIG.0308: flow control. ``retry_after`` is the advised wait in seconds."""

    retryable = True

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiResponseError):
    """5xx (or 408): the request may or may not have been carried out."""

    ambiguous = True
    retryable = True


class UnsuccessfulAnswer(ApiResponseError):
    """HTTP 2xx, but the body says ``is_success: false``: a contradiction, so a maybe."""

    ambiguous = True
    retryable = True


class RedirectAnswer(ApiResponseError):
    """HTTP 3xx: the gateway points elsewhere (http:// to https://, a moved endpoint). Not followed, not retried:
    following would send the credentials to another address, and resending gets the same answer."""


DUPLICATE_NAME_CODE = "ModelArts.0103"
NOT_FOUND_CODE = "ModelArts.0102"  # the job does not exist (often with HTTP 400, not 404)
NOT_ALLOWED_CODE = "ModelArts.0105"  # not allowed in the job's status: delete of KILLING, restart of RUNNING
