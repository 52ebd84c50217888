"""Kill-tests of mutation part 3 (tests/MUTATION.md): apply's confirmation and run, the session, the commands,
through the real CLI against the simulator over loopback HTTP (and a few pure functions)."""

from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from cliutil import manifest_of, run, run_in_thread, wait_until, write
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer
from vizctl.sim.state import SimState

FAST = dict(startup_seconds=0.2, delete_seconds=0.05, stop_seconds=0.05, retry_after=0.05)


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, *names, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": n, "train_url": f"/bucket/{n}/logs/", "running": True, **fields} for n in names])


# -- applying/run.py ---------------------------------------------------------------------------------


def test_the_prompt_asks_the_question_and_waits_on_the_same_line_and_no_is_one_error(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pr-1")
    result = run("apply", "-f", str(m), sim=sim, tty=True, stdin="no\n")
    assert result.code == 1
    assert result.err == "Apply these changes? Only 'yes' is accepted: Error: cancelled; nothing was changed\n"
    assert sim.stats["POST create"] == 0


def test_apply_json_starts_with_the_plan_it_carries_out(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pj-1", "pj-2")
    seed(sim, "pj-2")
    result = run("apply", "-f", str(m), "-y", "-o", "json", sim=sim)
    first = json.loads(result.out.splitlines()[0])
    assert first["type"] == "plan"
    assert {c["job_name"]: c["action"] for c in first["plan"]["changes"]} == {"pj-1": "create", "pj-2": "no-op"}


def test_apply_verbose_shows_the_plan_verbose(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pv-1")
    seed(sim, "pv-other")
    quiet = run("apply", "-f", str(m), "-y", sim=sim)
    assert "(left alone; names with -v)" in quiet.out and "pv-other" not in quiet.out
    seed(sim, "pv-more")
    verbose = run("apply", "-f", str(m), "-y", "-v", sim=sim)
    assert "live jobs not declared in any manifest (left alone)\n    pv-more\n    pv-other" in verbose.out


def test_apply_verbose_logs_the_api_calls_it_made(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pl-1")
    result = run("apply", "-f", str(m), "-y", "-v", sim=sim)
    assert result.code == 0
    [line] = [line for line in result.err.splitlines() if "API calls:" in line]
    assert line.startswith("vizctl: API calls: {") and "'create': 1" in line


def test_apply_on_a_terminal_colours_the_plan(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pc-1")
    result = run("apply", "-f", str(m), "-y", sim=sim, tty=True)
    plan = result.out.split("Plan: ")[0]
    assert "\x1b[" in plan and "pc-1" in plan
    assert "\x1b[" not in run("plan", "-f", str(m), sim=sim).out  # not a terminal: no colour


def test_ctrl_c_while_apply_waits_in_this_process_says_interrupted_and_exits_130(tmp_path):
    """SIGINT to this very process while apply (on the main thread) waits for its job: the handler apply installed runs."""
    with SimServer(SimConfig(startup_seconds=30)) as server:
        m = manifest_of(tmp_path / "m.yaml", "ci-1")

        def press_ctrl_c():
            wait_until(lambda: server.stats["POST create"] == 1 and server.stats["GET list"] >= 3, timeout=20)
            os.kill(os.getpid(), signal.SIGINT)

        before = signal.getsignal(signal.SIGINT)
        presser = threading.Thread(target=press_ctrl_c, daemon=True)
        presser.start()
        result = run("apply", "-f", str(m), "-y", "--timeout", "25", sim=server)
        presser.join(5)
    assert result.code == 130, result.all
    assert "Interrupted: starting nothing new, finishing requests in flight (Ctrl-C again to quit at once)" in result.out
    assert "not yet running" in result.out and "Traceback" not in result.all
    assert signal.getsignal(signal.SIGINT) is before  # apply's handler is gone again


def test_a_terminal_gets_colour_unless_no_color_or_no_color_is_set(tmp_path, sim):
    """Live bug found by mutation part 3: `sim serve`'s ``set_defaults(no_color=True)`` changed the --no-color flag every
    command shares, so no command ever coloured its output on a terminal."""
    m = manifest_of(tmp_path / "m.yaml", "nc-1")
    assert "\x1b[" in run("plan", "-f", str(m), sim=sim, tty=True).out
    assert "\x1b[" not in run("plan", "-f", str(m), "--no-color", sim=sim, tty=True).out
    assert "\x1b[" not in run("plan", "-f", str(m), sim=sim, tty=True, env={"NO_COLOR": "1"}).out
    assert "\x1b[" not in run("plan", "-f", str(m), sim=sim, tty=True, env={"TERM": "dumb"}).out


def test_a_job_not_waited_for_gets_no_service_url_it_was_never_shown(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "nw-1", "nw-2")
    [kept] = seed(sim, "nw-2")
    result = run("apply", "-f", str(m), "-y", "--no-wait", "-o", "json", sim=sim)
    summary = json.loads(result.out.splitlines()[-1])
    urls = {job["job_name"]: job["service_url"] for job in summary["jobs"]}
    assert urls == {"nw-1": None, "nw-2": kept["service_url"]} and kept["service_url"]


# -- session.py -------------------------------------------------------------------------------------


def test_sim_keeps_its_state_in_a_dot_vizctl_directory_git_ignores_and_remembers_jobs(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "ss-1")
    assert run("apply", "--sim", "-f", str(m), "-y", cwd=tmp_path).code == 0
    assert (tmp_path / ".vizctl" / ".gitignore").read_text() == "# vizctl --sim state: local, never committed\n*\n"
    assert (tmp_path / ".vizctl" / "sim-state.json").exists()
    (tmp_path / ".vizctl" / ".gitignore").write_text("mine\n")
    again = run("plan", "--sim", "-f", str(m), "--project-id", "other-project", cwd=tmp_path)
    assert again.out.splitlines()[0] == "vizctl compared the manifests with the live jobs of project other-project at sim:"
    assert "+ ss-1" in again.out  # another project of the same simulator: nothing there
    assert "No changes." in run("plan", "--sim", "-f", str(m), cwd=tmp_path).out  # the state was kept
    assert (tmp_path / ".vizctl" / ".gitignore").read_text() == "mine\n"  # an existing one is left alone


def test_sim_where_dot_vizctl_is_a_file_is_one_config_error(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "sf-1")
    (tmp_path / ".vizctl").write_text("not a directory")
    result = run("plan", "--sim", "-f", str(m), cwd=tmp_path)
    assert result.code == 1
    assert result.err == f"Error: cannot keep the simulator state in {tmp_path / '.vizctl'}: it is not a directory\n"


def test_sim_takes_vizctl_token_and_never_prints_it(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "st-1")
    token = "tok-sim-SECRET-98765"
    result = run("plan", "--sim", "-f", str(m), "-vv", cwd=tmp_path, env={"VIZCTL_TOKEN": token})
    assert result.code == 0 and "GET /v1/sim-project/visualization-jobs" in result.err
    assert token not in result.all
    bad = run("plan", "--sim", "-f", str(m), cwd=tmp_path, env={"VIZCTL_TOKEN": "tok with\nnewline"})
    assert bad.code == 1 and "token" in bad.err and "Traceback" not in bad.all


def test_destroy_off_a_terminal_says_to_pass_auto_approve(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "dt-1")
    seed(sim, "dt-1")
    result = run("destroy", str(m), sim=sim)
    assert result.code == 1
    assert result.err.endswith("Error: confirmation needed, but standard input is not a terminal: pass --auto-approve (-y)\n")
    assert sim.stats["DELETE delete"] == 0


def test_a_job_the_list_shows_without_a_service_url_gets_none_and_the_plan_ends_with_a_blank_line(tmp_path):
    with SimServer(SimConfig(sparse_list_items=True, **FAST)) as server:  # list items without service_url
        m = manifest_of(tmp_path / "m.yaml", "su-1")
        text = run("apply", "-f", str(m), "-y", sim=server)
        assert text.code == 0 and "\n\nLegend: + create\n\n" in text.out
        assert text.out.splitlines()[-1] == "  ✓ su-1  created, RUNNING (job 1)"
        manifest_of(m, "su-2")
        summary = json.loads(run("apply", "-f", str(m), "-y", "-o", "json", sim=server).out.splitlines()[-1])
    assert [(j["job_name"], j["outcome"], j["service_url"]) for j in summary["jobs"]] == [("su-2", "created", None)]
    assert 0 <= summary["elapsed"] < 60


def test_apply_on_another_thread_runs_without_a_signal_handler(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "th-1")
    thread, box = run_in_thread("apply", "-f", str(m), "-y", sim=sim)
    thread.join(30)
    assert box["result"].code == 0, box["result"].all
    assert "Apply complete in 0." in box["result"].out or "Apply complete in 1." in box["result"].out


# -- commands/sim.py ---------------------------------------------------------------------------------


def test_sim_serve_serves_until_ctrl_c_then_says_stopped_and_never_prints_its_token(tmp_path):
    """``sim serve`` on this process's main thread; Ctrl-C (SIGINT to this process) once it has answered a request."""
    import io
    import re
    import urllib.error
    import urllib.request

    from vizctl.cli import main
    from vizctl.environment import Environment

    (tmp_path / "token").write_text("tok-served-SECRET-4321\n")
    SimState(SimConfig(), tmp_path / "sim.json").seed_jobs("p-1", [{"job_name": "kept", "train_url": "/bucket/kept/", "running": True}])
    err = io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=err, environ={}, stdin_isatty=False, stdout_isatty=False)
    answers = []

    def use_then_stop():
        wait_until(lambda: "listening on http://" in err.getvalue(), timeout=20)
        url = re.search(r"listening on (http://\S+)", err.getvalue()).group(1)
        for path, token in [("", "tok-served-SECRET-4321"), ("", "another-token"), ("/999", "tok-served-SECRET-4321")]:
            request = urllib.request.Request(f"{url}/v1/p-1/visualization-jobs{path}", headers={"X-Auth-Token": token})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answers.append((answer.status, b'"kept"' in answer.read()))
            except urllib.error.HTTPError as refused:
                answers.append((refused.code, False))
        os.kill(os.getpid(), signal.SIGINT)

    helper = threading.Thread(target=use_then_stop, daemon=True)
    helper.start()
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt (a background job ignores it)
    try:
        code = main(["sim", "serve", "--host", "127.0.0.2", "--port", "0", "--token-file", str(tmp_path / "token"),
                     "--state", str(tmp_path / "sim.json"), "--not-found-status", "404"], env=env)
    finally:
        signal.signal(signal.SIGINT, before)
    helper.join(5)
    assert code == 0
    assert answers == [(200, True), (401, False), (404, False)]  # the --state's job; only the token of --token-file; the flags
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("vizctl simulator listening on http://127.0.0.2:")
    assert lines[0].endswith("(any project id; any non-empty token unless --token-file, VIZCTL_SIM_TOKEN or --strict-auth); Ctrl-C stops it")
    assert lines[-1] == "Simulator stopped."
    from vizctl import redact

    assert redact.redact("tok-served-SECRET-4321") != "tok-served-SECRET-4321"  # registered as a secret


def test_sim_serve_on_a_port_in_use_is_one_config_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("sim", "serve", "--port", str(port))
    assert result.code == 1 and result.err == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


# -- commands/plan.py --------------------------------------------------------------------------------


def test_plan_verbose_counts_its_list_and_details_calls(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "pd-1", "pd-2", job_type="tensorboard")  # job_type: only the details show it
    seed(sim, "pd-1", "pd-2", job_type="tensorboard")
    result = run("plan", "-f", str(m), "-v", "--no-cache", sim=sim)
    assert result.code == 0
    assert f"vizctl: {sim.stats['GET list']} list call(s), 2 details call(s)" in result.err.splitlines()


def test_plan_out_says_how_to_apply_the_saved_plan_with_or_without_the_simulator(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "po-1")
    saved = run("plan", "-f", str(m), "--out", str(tmp_path / "p.json"), sim=sim)
    assert f"Saved the plan to {tmp_path / 'p.json'}; apply it with: vizctl apply {tmp_path / 'p.json'} (it holds" in saved.err
    local = run("plan", "--sim", "-f", str(m), "--out", str(tmp_path / "s.json"), cwd=tmp_path)
    assert f"apply it with: vizctl apply --sim {tmp_path / 's.json'} (it holds no credentials" in local.err


# -- commands/config.py ------------------------------------------------------------------------------


def certifi_bundle():
    from pathlib import Path

    import certifi

    return Path(certifi.where())


def config_show(*flags, **environ):
    result = run("config", "show", *flags, env={"HOME": "/nonexistent", **environ})
    assert result.code == 0, result.all
    return result.out


def test_config_show_of_a_region_derives_the_endpoints_with_the_cloud_and_says_agency_is_the_fallback():
    assert config_show(VIZCTL_REGION="ap-southeast-1", VIZCTL_CLOUD="example-cloud.com", HTTPS_PROXY="http://p.corp:3128",
                       HTTP_PROXY="http://u:pw-SECRET-1@p.corp:8080", NO_PROXY="a.internal,b.internal") == (
        "endpoint      https://modelarts.ap-southeast-1.example-cloud.com  from region ap-southeast-1\n"
        "project_id    (looked up at run time)                             IAM project named ap-southeast-1\n"
        "region        ap-southeast-1                                      env VIZCTL_REGION\n"
        "auth          agency                                              nothing else configured: the ECS metadata service will be asked\n"
        "cloud         example-cloud.com                                   env VIZCTL_CLOUD\n"
        "iam_endpoint  https://iam.ap-southeast-1.example-cloud.com        from region ap-southeast-1\n"
        "tls_verify    on (system CAs)                                     default\n"
        "https_proxy   http://p.corp:3128                                  env HTTPS_PROXY (except a.internal,b.internal)\n"
        "http_proxy    http://u:****@p.corp:8080                           env HTTP_PROXY (except a.internal,b.internal)\n"
    )


def test_config_show_with_a_token_and_insecure_names_no_agency_and_says_tls_is_off():
    assert config_show("--insecure", VIZCTL_TOKEN="tok-123456789", VIZCTL_ENDPOINT="https://m.example", VIZCTL_PROJECT_ID="p1") == (
        "endpoint    https://m.example  env VIZCTL_ENDPOINT\n"
        "project_id  p1                 env VIZCTL_PROJECT_ID\n"
        "auth        token              chosen: the credentials of VIZCTL_* variables\n"
        "token       ****               env VIZCTL_TOKEN\n"
        "tls_verify  off (--insecure)   flag --insecure\n"
    )


def test_config_show_masks_every_part_of_a_proxy_password_and_caps_the_value_column(tmp_path):
    bundle = tmp_path / ("d" * 70) / "ca.pem"
    bundle.parent.mkdir()
    bundle.write_bytes(certifi_bundle().read_bytes())
    out = config_show(VIZCTL_TOKEN="tok-123456789", VIZCTL_ENDPOINT="https://m.example", VIZCTL_PROJECT_ID="p1",
                      VIZCTL_CA_BUNDLE=str(bundle), HTTP_PROXY="http://u:pw:x@rt-SECRET@p.corp:8080", HTTPS_PROXY="http://bob@p.corp:3128")
    pad = " " * (60 - len("https://m.example"))
    assert out.splitlines()[0] == f"endpoint     https://m.example{pad}  env VIZCTL_ENDPOINT"  # values padded to 60 at most
    assert f"tls_verify   CA bundle {bundle}  default" in out.splitlines()
    assert f"http_proxy   http://u:****@p.corp:8080{' ' * (60 - 25)}  env HTTP_PROXY" in out.splitlines()
    assert f"https_proxy  http://bob@p.corp:3128{' ' * (60 - 22)}  env HTTPS_PROXY" in out.splitlines()
    assert "pw" not in out and "SECRET" not in out and ":x" not in out


def test_plan_errors_go_to_stderr_once_and_the_count_is_said(tmp_path, sim):
    seed(sim, "pe-1", "pe-1")
    m = manifest_of(tmp_path / "m.yaml", "pe-1", "pe-2")
    text = run("plan", "-f", str(m), sim=sim)
    assert text.code == 1 and text.err == "Error: the plan has 1 error; see above\n"  # the text plan shows the error itself
    ambiguous = "Error: 2 live jobs are named pe-1 (ids 1, 2): vizctl will neither pick one nor add another; delete the extra ones\n"
    for output in ("json", "markdown"):
        other = run("plan", "-f", str(m), "-o", output, sim=sim)
        assert other.code == 1 and other.err == ambiguous + "Error: the plan has 1 error; see above\n"
    seed(sim, "pe-2", "pe-2")
    assert run("plan", "-f", str(m), sim=sim).err == "Error: the plan has 2 errors; see above\n"


def test_plan_exits_2_for_changes_only_with_detailed_exitcode(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "px-1")
    assert run("plan", "-f", str(m), sim=sim).code == 0
    assert run("plan", "-f", str(m), "--detailed-exitcode", sim=sim).code == 2
    seed(sim, "px-1")
    assert run("plan", "-f", str(m), "--detailed-exitcode", sim=sim).code == 0


# -- commands/apply.py -------------------------------------------------------------------------------


def test_a_saved_plan_refuses_each_planning_flag_on_its_own(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "sp-1")
    assert run("plan", "-f", str(m), "--out", str(tmp_path / "p.json"), sim=sim).code == 0
    for flag in (["--target", "sp-1"], ["--replace", "sp-1"], ["--prune"], ["--force"]):
        result = run("apply", str(tmp_path / "p.json"), *flag, sim=sim)
        assert result.code == 64, flag
        assert result.err == "Error: a saved plan is applied as it is: --target, --replace, --prune and --force belong to `vizctl plan`\n"
    assert sim.stats["POST create"] == 0


def test_apply_off_a_terminal_says_how_to_go_on_and_a_plan_with_errors_changes_nothing(tmp_path):
    with SimServer(SimConfig(quota=1, **FAST)) as server:
        one = manifest_of(tmp_path / "one.yaml", "ae-1")
        asked = run("apply", "-f", str(one), sim=server)
        assert asked.code == 1 and asked.err == ("Error: confirmation needed, but standard input is not a terminal: pass --auto-approve (-y), "
                                                 "or apply a plan saved with `vizctl plan --out FILE`\n")
        two = manifest_of(tmp_path / "two.yaml", "ae-1", "ae-2")
        refused = run("apply", "-f", str(two), "-y", sim=server)
        assert refused.code == 1 and refused.err.endswith("Error: the plan has errors (above); nothing was changed\n")
        assert server.stats["POST create"] == 0


def test_apply_uses_the_details_cache(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "dc-1", "dc-2", job_type="tensorboard")  # job_type: only the details show it
    seed(sim, "dc-1", "dc-2", job_type="tensorboard")
    cache = {"VIZCTL_CACHE_DIR": str(tmp_path / "cache")}
    assert run("apply", "-f", str(m), "-y", sim=sim, env=cache).code == 0
    assert sim.stats["GET detail"] == 2
    assert run("apply", "-f", str(m), "-y", sim=sim, env=cache).code == 0
    assert sim.stats["GET detail"] == 2  # the second apply knew them from the cache


# -- commands/show.py (part 2's survivors, rechecked) --------------------------------------------------


def test_show_renders_a_saved_plan_verbose_with_v_in_colour_on_a_terminal_and_logs_where_it_was_made(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "sh-1")
    seed(sim, "sh-other")
    plan_file = tmp_path / "p.json"
    assert run("plan", "-f", str(m), "--out", str(plan_file), sim=sim).code == 0
    quiet = run("show", str(plan_file))
    assert "(left alone; names with -v)" in quiet.out and "\x1b[" not in quiet.out and quiet.err == ""
    verbose = run("show", str(plan_file), "-v")
    assert "live job not declared in any manifest (left alone)\n    sh-other" in verbose.out
    assert f"vizctl: plan made for {sim.url} project proj-1" in verbose.err.splitlines()
    assert "\x1b[" in run("show", str(plan_file), tty=True).out


def test_plan_passes_prune_and_force_to_the_planner(tmp_path, sim):
    m = write(tmp_path / "m.yaml", 'prune: {prefix: "pf-"}\njobs:\n' + "".join(f"  - {{job_name: pf-{i}, train_url: /bucket/pf-{i}/logs/}}\n" for i in range(6)))
    seed(sim, *(f"pf-{i}" for i in range(12)))  # 6 of 12 undeclared: beyond the 30% limit
    assert run("plan", "-f", str(m), sim=sim).code == 0  # without --prune the undeclared ones are left alone
    refused = run("plan", "-f", str(m), "--prune", sim=sim)
    assert refused.code == 1 and "refused without --force" in refused.out
    forced = run("plan", "-f", str(m), "--prune", "--force", "--detailed-exitcode", sim=sim)
    assert forced.code == 2 and sum(line.lstrip().startswith("- pf-") for line in forced.out.splitlines()) == 6, forced.out


def test_requests_are_logged_from_vv_and_retries_are_noticed_at_every_verbosity(tmp_path):
    with SimServer(SimConfig(seed=1, **FAST)) as server:
        m = manifest_of(tmp_path / "m.yaml", "lv-1")
        assert "GET /v1/proj-1/visualization-jobs" not in run("plan", "-f", str(m), "-v", sim=server).err
        assert "GET /v1/proj-1/visualization-jobs" in run("plan", "-f", str(m), "-vv", sim=server).err
        server.config.update({"rate_429": 0.5})
        noticed = run("plan", "-f", str(m), sim=server)
    assert noticed.code == 0 and noticed.err.startswith("vizctl: throttled by the API, retrying in "), noticed.err
