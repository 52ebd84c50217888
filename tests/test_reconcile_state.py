"""The pure parts of `vizctl reconcile`: which checks are alerted, what a webhook is sent, how flags read."""

from __future__ import annotations

import pytest

from vizctl.errors import UsageError
from vizctl.planning.plan import Action, Change, Plan
from vizctl.reconcile.alerts import Alert, Webhook, body_for, webhooks
from vizctl.reconcile.metrics import listen_address
from vizctl.reconcile.state import Sync, Tracker, job_sync, sync_of

I, D, F = Sync.IN_SYNC, Sync.DRIFTED, Sync.FAILED


def alerts(states, alert_after=1):
    """The transitions alerted for a run of checks, as (state, previous) pairs."""
    tracker, out = Tracker(alert_after), []
    for state in states:
        tracker, transition = tracker.observe(state)
        if transition is not None:
            out.append((transition.state, transition.previous))
    return out


def test_in_sync_at_start_up_is_not_alerted_and_each_transition_is_alerted_once():
    assert alerts([I, I, D, D, D, I, I]) == [(D, I), (I, D)]


def test_drift_at_start_up_is_alerted():
    assert alerts([D, D]) == [(D, None)]


def test_alert_after_n_drifted_checks_in_a_row():
    assert alerts([I, D, D, I, D, D, D], alert_after=3) == [(D, I)]
    assert alerts([I, D, D, I], alert_after=3) == []  # two drifted checks then in sync again: nothing to say


def test_one_failed_check_is_a_blip_two_in_a_row_are_an_outage_and_its_end_is_one_more_alert():
    assert alerts([I, F, I, F, I, F, I]) == []  # a flapping API: no storm
    assert alerts([I, F, F, F, F, I, I, I]) == [(F, I), (I, F)]


def test_once_failed_the_way_back_needs_two_good_checks_so_a_flapping_outage_is_one_alert():
    assert alerts([I, F, F, I, F, F, I, F, F, I, I]) == [(F, I), (I, F)]


def test_failures_wait_at_least_as_long_as_drift_does():
    assert alerts([I, F, F, F], alert_after=4) == []
    assert alerts([I, F, F, F, F], alert_after=4) == [(F, I)]


def test_recovery_from_an_outage_into_drift_is_the_drift_alert():
    assert alerts([I, F, F, D, D]) == [(F, I), (D, F)]


def change(action, notes=()):
    return Change(job_name="j", action=action, reason="r", notes=notes)


def test_a_plan_is_in_sync_drifted_or_failed_as_plan_detailed_exitcode_says():
    assert sync_of(Plan(changes=(change(Action.NOOP), change(Action.KEEP_STOPPED), change(Action.WAIT)))) is I
    assert sync_of(Plan(changes=(change(Action.NOOP), change(Action.RESTART)))) is D
    assert sync_of(Plan(changes=(change(Action.DRIFTED),))) is D
    assert sync_of(Plan(changes=(change(Action.NOOP),), errors=("quota",))) is F
    assert sync_of(Plan(changes=(change(Action.AMBIGUOUS),))) is F


def test_job_sync_label():
    assert [job_sync(change(a)) for a in (Action.NOOP, Action.WAIT, Action.CREATE, Action.FAILED)] == ["in_sync", "progressing", "drifted", "drifted"]
    assert job_sync(change(Action.NOOP, notes=("flavor cannot be changed in place",))) == "drifted"


def test_slack_gets_text_with_the_diff_in_a_code_block_and_the_generic_hook_gets_every_field():
    alert = Alert("drifted", "in_sync", "drift: 1 job not as declared (a create)", diff="+ a  create", plan={"changes": []},
                  endpoint="sim", project_id="p", time=12.5)
    assert body_for("slack", alert) == {"text": "*vizctl reconcile*: drift: 1 job not as declared (a create)\n```\n+ a  create\n```"}
    generic = body_for("json", alert)
    assert (generic["event"], generic["previous"], generic["diff"], generic["plan"], generic["time"]) == ("drifted", "in_sync", "+ a  create", {"changes": []}, 12.5)


def test_a_long_diff_is_cut_for_slack():
    text = body_for("slack", Alert("drifted", None, "s", diff="x" * 10_000))["text"]
    assert len(text) < 4000 and text.endswith("...\n```")


def test_webhook_urls_must_be_http_and_their_secret_parts_are_known():
    with pytest.raises(UsageError, match="slack webhook 1 is not an http"):
        webhooks([], ["hooks.example.com/T/B/secret"])
    hook = Webhook("slack", "https://user:pw@hooks.example.com/services/T0/B0/s3cr3t?token=abcd", 1)
    assert {"https://user:pw@hooks.example.com/services/T0/B0/s3cr3t?token=abcd", "/services/T0/B0/s3cr3t", "token=abcd", "user:pw"} <= set(hook.secrets())


@pytest.mark.parametrize("text, address", [(":9090", ("0.0.0.0", 9090)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9100", ("::1", 9100))])
def test_metrics_addr(text, address):
    assert listen_address(text) == address


@pytest.mark.parametrize("text", ["9090", "host:", "host:99999", "host:http"])
def test_a_bad_metrics_addr_is_a_usage_error(text):
    with pytest.raises(UsageError, match="--metrics-addr must be HOST:PORT"):
        listen_address(text)


class Shifting(dict):
    """Environment variables whose DESC changes each time it is read: files that read differently every time."""

    reads = 0

    def get(self, key, default=None):
        if key == "DESC":
            self.reads += 1
            return f"v{self.reads}"
        return super().get(key, default)

    def __getitem__(self, key):
        return self.get(key)

    def __contains__(self, key):
        return key == "DESC" or super().__contains__(key)


def test_manifests_that_read_differently_twice_in_a_row_are_not_used_until_they_settle(tmp_path):
    from vizctl.manifests.loader import load_manifests
    from vizctl.reconcile.loop import ManifestSource

    path = tmp_path / "m.yaml"
    path.write_text("jobs:\n  - job_name: a\n    train_url: /b/\n    job_desc: ${DESC}\n")
    first = load_manifests([str(path)], {"DESC": "first"})
    source = ManifestSource([str(path)], Shifting(), first)
    assert source.refresh() is first and source.problem is None  # being changed right now
    source.environ = {"DESC": "settled"}
    assert source.refresh().jobs[0].body["job_desc"] == "settled"
    path.write_text("jobs:\n  - job_name: not a name!\n")
    assert source.refresh().jobs[0].body["job_desc"] == "settled" and "not a name!" in source.problem.report()
