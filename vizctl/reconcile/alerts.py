"""Alerts to webhooks: a generic JSON POST and a Slack-compatible one (``{"text": ...}``).

Delivery runs on a thread of its own, so a slow or dead webhook never holds
up a check: each alert is tried ``ATTEMPTS`` times (``TIMEOUT`` seconds each,
``BACKOFF`` doubling in between), then given up and logged. Webhook URLs
often hold a secret (a Slack URL is its own credential): they are shown by
kind and number only, and the caller registers them as secrets so no error
message can print them.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from vizctl import __version__
from vizctl.errors import ApiError, ConfigError, UsageError
from vizctl.api.transport import Request, RequestsTransport, Transport

ATTEMPTS = 3
TIMEOUT = 5.0
BACKOFF = 1.0
QUEUE_SIZE = 100  # alerts waiting for delivery; only transitions are alerted, so this is many
SLACK_TEXT_LIMIT = 3500  # characters of diff in a Slack message (Slack cuts a text block near 4,000)


@dataclass(frozen=True)
class Alert:
    """One transition worth telling: ``event`` is in_sync, drifted, failed, manifests_invalid or manifests_valid."""

    event: str
    previous: str | None
    summary: str
    diff: str = ""  # the rendered plan (text), when there is one
    error: str = ""
    plan: dict[str, Any] | None = None  # the plan's documented JSON form (docs/plan-json.md)
    endpoint: str = ""
    project_id: str = ""
    time: float = 0.0


@dataclass(frozen=True)
class Webhook:
    """Where alerts go: ``kind`` is json or slack."""

    kind: str
    url: str
    number: int

    @property
    def label(self) -> str:
        return f"{self.kind} webhook {self.number}"

    def secrets(self) -> list[str]:
        """The URL and its parts that may be a credential (the path of a Slack URL is one)."""
        parts = urlsplit(self.url)
        return [self.url, parts.path, parts.query, parts.netloc.rpartition("@")[0]]


def webhooks(json_urls: list[str], slack_urls: list[str]) -> list[Webhook]:
    """The webhooks given on the command line, checked to be http(s) URLs (exit 64 otherwise)."""
    hooks = [Webhook("json", url, n) for n, url in enumerate(json_urls, 1)]
    hooks += [Webhook("slack", url, n) for n, url in enumerate(slack_urls, 1)]
    for hook in hooks:
        parts = urlsplit(hook.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"the {hook.label} is not an http:// or https:// URL")
    return hooks


def body_for(kind: str, alert: Alert) -> dict[str, Any]:
    """What one kind of webhook is sent for ``alert``."""
    if kind == "slack":
        text = f"*vizctl reconcile*: {alert.summary}"
        if alert.error:
            text += f"\n{alert.error}"
        if alert.diff:
            diff = alert.diff if len(alert.diff) <= SLACK_TEXT_LIMIT else alert.diff[:SLACK_TEXT_LIMIT] + "\n..."
            text += f"\n```\n{diff}\n```"
        return {"text": text}
    return {
        "source": "vizctl",
        "vizctl_version": __version__,
        "event": alert.event,
        "previous": alert.previous,
        "summary": alert.summary,
        "error": alert.error or None,
        "diff": alert.diff or None,
        "plan": alert.plan,
        "endpoint": alert.endpoint or None,
        "project_id": alert.project_id or None,
        "time": round(alert.time, 3),
    }


class Notifier:
    """Sends alerts to every webhook, in order, on a thread of its own.

    ``log`` receives one line per failed delivery; ``delivered(kind, ok)`` is told each outcome.
    """

    def __init__(
        self,
        hooks: list[Webhook],
        log: Callable[[str], None],
        delivered: Callable[[str, bool], None] = lambda kind, ok: None,
        transport: Transport | None = None,
    ):
        self.hooks = hooks
        self.log = log
        self.delivered = delivered
        self._transport = transport or RequestsTransport(pool_size=2)
        self._queue: queue.Queue[Alert | None] = queue.Queue(QUEUE_SIZE)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._work, name="vizctl-alerts", daemon=True)
        if hooks:
            self._thread.start()

    def send(self, alert: Alert) -> None:
        """Queue ``alert`` for every webhook; never blocks, never raises."""
        if not self.hooks:
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.log(f"alert dropped ({alert.event}): {QUEUE_SIZE} alerts are still waiting for the webhooks")

    def close(self, timeout: float) -> None:
        """Deliver what is queued within ``timeout`` seconds (retries cut short), then stop."""
        if self.hooks:
            self._queue.put(None)
            self._thread.join(timeout)
            self._closing.set()  # a delivery still retrying gives up now
            self._thread.join(1.0)
        self._transport.close()

    def _work(self) -> None:
        while (alert := self._queue.get()) is not None:
            for hook in self.hooks:
                self.delivered(hook.kind, self._post(hook, body_for(hook.kind, alert)))

    def _post(self, hook: Webhook, body: dict[str, Any]) -> bool:
        payload = json.dumps(body, ensure_ascii=False).encode()
        request = Request("POST", hook.url, (), payload, {"Content-Type": "application/json", "User-Agent": f"vizctl/{__version__}"})
        wait = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                answer = self._transport.send(request, TIMEOUT)
                if 200 <= answer.status < 300:
                    return True
                why = f"HTTP {answer.status}"
            except (ApiError, ConfigError) as exc:
                why = str(exc)
            last = attempt == ATTEMPTS or self._closing.is_set()
            self.log(f"{hook.label}: delivery failed ({why})" + ("; giving up on this alert" if last else f"; trying again in {wait:g} s"))
            if last or self._closing.wait(wait):
                return False
            wait *= 2
        return False
