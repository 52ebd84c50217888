"""One registry of secrets: every secret vizctl learns, in every form it may be echoed in, is masked everywhere.

The CLI runs for real against the simulator or small local servers that echo
credentials back (a metadata service, a proxy, IAM, an API gateway), as
hostile or careless servers do.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import uuid
from urllib.parse import quote, quote_plus

import pytest

from cliutil import TOKEN, manifest_of, run
from httputil import Recorder
from vizctl import redact
from vizctl.environment import Environment
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

FAST = {"startup_seconds": 0.2, "delete_seconds": 0.1, "stop_seconds": 0.1}


def unique(prefix: str) -> str:
    """A secret no other test registers (the registry lives as long as the process)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def echoes(secret: str) -> list[str]:
    """The forms in which servers, logs and error messages repeat a secret."""
    encoded = [quote(secret, safe=""), quote(secret), quote_plus(secret)]
    lower_hex = [re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), e) for e in encoded]
    return [secret, *encoded, *lower_hex, json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1], html.escape(secret)]


def assert_nowhere(text: str, secret: str) -> None:
    for form in echoes(secret):
        assert form not in text, f"{form!r} (a form of a secret) is shown:\n{text}"


# -- the registry itself -----------------------------------------------------------------


def test_every_form_of_a_registered_secret_is_masked():
    secret = unique('Pw "q\\ü/&<x> +1')  # a quote, a backslash, non-ASCII, /, &, <, a space, +
    redact.register(secret)
    for form in set(echoes(secret)):
        assert redact.redact(f"[{form}]") == "[***]", form
        assert redact.holds_secret(f"..{form}..")


def test_basic_credentials_mask_the_base64_of_user_and_password_but_not_the_user():
    password = unique("proxy-pw")
    redact.register_basic("proxyuser", password)
    header = "Basic " + base64.b64encode(f"proxyuser:{password}".encode()).decode()
    assert redact.redact(f"got {header} from proxyuser") == "got Basic *** from proxyuser"
    accented = unique("pässwörd")  # requests encodes a Basic pair as latin-1, vizctl's transport as UTF-8
    redact.register_basic("proxyuser", accented)
    for encoding in ("latin-1", "utf-8"):
        assert redact.redact(base64.b64encode(f"proxyuser:{accented}".encode(encoding)).decode()) == "***"


def test_a_secret_holding_another_is_masked_whole():
    short = unique("inner")
    redact.register(short)
    redact.register(short + "-and-more")
    assert redact.redact(f"<{short}-and-more>") == "<***>"


def test_the_length_boundary_three_characters_are_not_masked_four_are():
    assert redact.MIN_SECRET_LENGTH == 4 and "would mangle every output" in redact.__doc__
    assert redact.too_short("Zq7") and not redact.too_short("Zq7#") and not redact.too_short("")
    redact.register("Zq7")
    redact.register("Zq#8")
    assert redact.redact("Zq7 Zq#8") == "Zq7 ***"


def test_a_masked_result_is_said_so_once_on_standard_error():
    secret = unique("result-secret")
    redact.register(secret)
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdout=out, stderr=err, environ={})
    env.out("clean line")
    assert err.getvalue() == ""
    env.out(f"a {secret}")
    env.out(f"b {secret}")
    assert out.getvalue() == "clean line\na ***\nb ***\n"
    assert err.getvalue() == "Note: the output held a credential vizctl knows; it is shown as ***\n"


def test_extra_secrets_are_masked_in_their_forms_too():
    extra = unique('header"value')
    assert redact.redact(f"echo {json.dumps(extra)}", [extra]) == 'echo "***"'


# -- secrets learned from answers --------------------------------------------------------


def test_the_metadata_session_token_is_registered_the_moment_it_is_read(tmp_path):
    session = unique("metadata-session")

    def metadata(handler):
        if handler.command == "PUT":
            return 200, {}, session.encode()
        echo = handler.headers.get("X-Metadata-Token", "")
        return 500, {"Content-Type": "application/json"}, json.dumps({"error_msg": f"token {echo} broke"}).encode()

    with Recorder(metadata) as service:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--debug", "-vv",
                     env={"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": service.url,
                          "VIZCTL_ENDPOINT": "http://127.0.0.1:9", "VIZCTL_PROJECT_ID": "p"})
    assert result.code == 1 and "no agency keys from the ECS metadata service" in result.err
    assert "token *** broke" in result.err  # the error is shown, the token is not
    assert_nowhere(result.all, session)


def test_the_agency_keys_are_registered_access_key_and_security_token_included(tmp_path):
    access, secret, token = unique("AGENCYAK").upper(), unique('agency"sk\\'), unique("agency-st")

    def metadata(handler):
        if handler.command == "PUT":
            return 404, {}, b""
        keys = {"access": access, "secret": secret, "securitytoken": token, "expires_at": "2099-01-01T00:00:00Z"}
        return 200, {"Content-Type": "application/json"}, json.dumps({"credential": keys}).encode()

    def gateway(handler):  # an HTML error page repeating what it was sent, in its own encodings
        page = f"<p>denied {access} {json.dumps(secret)} {quote(token)} {handler.headers.get('X-Security-Token')}</p>"
        return 400, {"Content-Type": "text/html"}, page.encode()

    with Recorder(metadata) as service, Recorder(gateway) as api:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "-vv", "--debug",
                     env={"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": service.url,
                          "VIZCTL_ENDPOINT": api.url, "VIZCTL_PROJECT_ID": "p"})
    assert result.code == 1 and "denied ***" in result.err, result.all
    for learned in (access, secret, token):
        assert_nowhere(result.all, learned)


@pytest.mark.parametrize("source", ["env", "clouds.yaml"])
def test_a_json_escaped_password_echoed_by_iam_is_masked_wherever_it_was_read(tmp_path, source):
    password = unique('Iam"pass\\word')

    def iam(handler):
        sent = json.dumps({"user": {"name": "u", "password": password}})  # the server quotes the body it got
        return 401, {"Content-Type": "application/json"}, json.dumps({"error": {"code": 401, "message": f"bad body {sent}"}}).encode()

    login = {"OS_USERNAME": "u", "OS_USER_DOMAIN_NAME": "d", "OS_PASSWORD": password}
    if source == "clouds.yaml":
        cloud = {"clouds": {"otc": {"auth": {"username": "u", "user_domain_name": "d", "password": password}}}}
        (tmp_path / "clouds.json").write_text(json.dumps(cloud))
        login = {"OS_CLOUD": "otc", "OS_CLIENT_CONFIG_FILE": str(tmp_path / "clouds.json")}
    with Recorder(iam) as server:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--debug",
                     env={"VIZCTL_IAM_ENDPOINT": server.url + "/v3", "VIZCTL_ENDPOINT": "http://127.0.0.1:9",
                          "VIZCTL_PROJECT_ID": "p", "HOME": str(tmp_path), **login})
        assert server.requests, result.all  # IAM was asked, with the password of that source
    assert result.code == 1 and 'bad body {"user": {"name": "u", "password": "***"}}' in result.err, result.all
    assert_nowhere(result.all, password)


# -- proxy URLs --------------------------------------------------------------------------


def test_a_scheme_less_proxy_urls_password_is_masked_in_config_show():
    password = unique("pr0xy/pw@x")
    result = run("config", "show", env={"HTTPS_PROXY": f"proxyuser:{quote(password, safe='')}@proxy.corp:3128",
                                        "VIZCTL_TOKEN": TOKEN})
    assert result.code == 0, result.all
    assert "http://proxyuser:****@proxy.corp:3128" in result.out
    assert_nowhere(result.all, password)


def test_a_proxys_407_page_echoing_the_password_in_every_form_shows_none(tmp_path):
    password = unique('pr0xy"pw\\é')
    seen = []

    def proxy(handler):
        basic = handler.headers.get("Proxy-Authorization", "")
        seen.append(basic)
        page = f"<h1>407</h1> {basic} {password} {quote(password)} {json.dumps(password)} {html.escape(password)}"
        return 407, {"Content-Type": "text/html", "Proxy-Authenticate": "Basic"}, page.encode()

    with Recorder(proxy) as server:
        address = server.url.removeprefix("http://")
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")), "--debug", "-vv",
                     env={"HTTP_PROXY": f"proxyuser:{quote(password, safe='')}@{address}", "VIZCTL_TOKEN": TOKEN,
                          "VIZCTL_ENDPOINT": "http://modelarts.example", "VIZCTL_PROJECT_ID": "p"})
    assert seen and seen[0].startswith("Basic ")  # the proxy was asked, with the credentials
    assert result.code == 1 and "407" in result.err and "Basic ***" in result.err, result.all
    assert seen[0].split()[1] not in result.all
    assert_nowhere(result.all, password)


# -- the length rule, at its boundary ----------------------------------------------------


def echoing_gateway(handler):
    return 400, {"Content-Type": "text/plain"}, f"refused token {handler.headers.get('X-Auth-Token')}".encode()


def test_a_credential_of_three_characters_is_refused_and_nothing_is_sent(tmp_path):
    m = str(manifest_of(tmp_path / "m.yaml", "a"))
    with Recorder(echoing_gateway) as api:
        result = run("plan", "-f", m, env={"VIZCTL_ENDPOINT": api.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "Qz7"})
        assert result.code == 1 and "env VIZCTL_TOKEN (token) is shorter than 4 characters" in result.err
        assert "Qz7" not in result.all and api.requests == []
        proxied = run("plan", "-f", m, env={"VIZCTL_ENDPOINT": api.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": TOKEN,
                                            "HTTPS_PROXY": "user:Qz7@127.0.0.1:9"})
        assert proxied.code == 1 and "the password in HTTPS_PROXY is shorter than 4 characters" in proxied.err
        assert "Qz7" not in proxied.all and api.requests == []
    simulated = run("plan", "--sim", "-f", m, env={"VIZCTL_TOKEN": "Qz7"}, cwd=tmp_path)
    assert simulated.code == 1 and "env VIZCTL_TOKEN (token) is shorter than 4 characters" in simulated.err


def test_a_credential_of_four_characters_is_used_and_masked(tmp_path):
    with Recorder(echoing_gateway) as api:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")),
                     env={"VIZCTL_ENDPOINT": api.url, "VIZCTL_PROJECT_ID": "p", "VIZCTL_TOKEN": "Qz#9"})
    assert result.code == 1 and "refused token ***" in result.err and "Qz#9" not in result.all
    assert api.requests[0][1]["X-Auth-Token"] == "Qz#9"


def test_a_metadata_answer_with_a_too_short_secret_is_refused(tmp_path):
    def metadata(handler):
        if handler.command == "PUT":
            return 404, {}, b""
        return 200, {"Content-Type": "application/json"}, b'{"credential": {"access": "AGENCYAK01", "secret": "sk1"}}'

    with Recorder(metadata) as service, Recorder(echoing_gateway) as api:
        result = run("plan", "-f", str(manifest_of(tmp_path / "m.yaml", "a")),
                     env={"VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": service.url, "VIZCTL_ENDPOINT": api.url,
                          "VIZCTL_PROJECT_ID": "p"})
        assert api.requests == []
    assert result.code == 1 and "credential.secret is shorter than 4 characters" in result.err


# -- manifests and plans never carry a credential ----------------------------------------


def requests_seen(sim: SimServer) -> list[str]:
    return [key for key in sim.stats_snapshot() if key.split()[0] in ("GET", "POST", "PUT", "DELETE")]


@pytest.mark.parametrize("argv", [("validate",), ("plan", "-o", "json"), ("plan", "-o", "markdown"),
                                  ("plan", "--out", "PLAN"), ("apply", "--auto-approve", "-o", "json")],
                         ids=["validate", "plan-json", "plan-markdown", "plan-out", "apply"])
def test_a_manifest_reading_a_credential_variable_is_refused_before_anything_is_sent(tmp_path, argv):
    m = manifest_of(tmp_path / "m.yaml", "a", job_desc='"t=${VIZCTL_TOKEN}"')
    with SimServer(SimConfig(**FAST)) as sim:
        result = run(*(str(tmp_path / "p.json") if a == "PLAN" else a for a in argv), "-f", str(m), sim=sim, cwd=tmp_path)
        assert requests_seen(sim) == []
    assert result.code == 1, result.all
    assert f"{m}:4: jobs[0] (a).job_desc: ${{VIZCTL_TOKEN}} would put a credential into the job" in result.err
    assert "nothing was sent to the API" in result.err
    assert TOKEN not in result.all and not (tmp_path / "p.json").exists()


def test_a_variable_holding_a_credential_and_a_proxy_password_are_refused_too(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a", job_desc='"${ALIAS} via ${HTTPS_PROXY}"')
    result = run("validate", "-f", str(m), env={"VIZCTL_TOKEN": TOKEN, "ALIAS": f"x{TOKEN}x",
                                               "HTTPS_PROXY": "http://u:proxy-pw-1234@proxy:3128"})
    assert result.code == 1
    assert "${ALIAS} would put a credential into the job (ALIAS holds the credential in VIZCTL_TOKEN)" in result.err
    assert "${HTTPS_PROXY} would put a credential into the job (HTTPS_PROXY is a credential)" in result.err
    assert TOKEN not in result.all and "proxy-pw-1234" not in result.all
    plain = run("validate", "-f", str(m), env={"VIZCTL_TOKEN": TOKEN, "ALIAS": "harmless", "HTTPS_PROXY": "http://proxy:3128"})
    assert plain.code == 0, plain.all


def test_a_credential_pasted_into_a_manifest_is_refused_before_any_request(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a", "b", job_desc=f'"t={TOKEN}"')
    with SimServer(SimConfig(**FAST)) as sim:
        for argv in (("plan", "--out", str(tmp_path / "p.json")), ("apply", "--auto-approve")):
            result = run(*argv, "-f", str(m), sim=sim, cwd=tmp_path)
            assert result.code == 1, result.all
            assert f"{m}:2: job 'a': job_desc holds a credential vizctl knows (the value is not shown)" in result.err
            assert f"{m}:5: job 'b'" in result.err and TOKEN not in result.all
        assert requests_seen(sim) == [] and not (tmp_path / "p.json").exists()
        # a credential of a layer vizctl does not use (the token wins) is a credential all the same
        unused = unique("unused-password")
        m = manifest_of(tmp_path / "m.yaml", "a", job_desc=f'"pw {unused}"')
        result = run("plan", "-f", str(m), sim=sim, env={"OS_USERNAME": "u", "OS_PASSWORD": unused})
        assert result.code == 1 and "job_desc holds a credential vizctl knows" in result.err and unused not in result.all
        assert requests_seen(sim) == []


def test_a_live_value_holding_a_credential_is_masked_on_screen_and_never_saved(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a", job_desc="clean")
    with SimServer(SimConfig(**FAST)) as sim:
        sim.state.seed_jobs("proj-1", [{"job_name": "a", "train_url": "/bucket/a/logs/", "job_desc": f"t={TOKEN}",
                                        "running": True}])
        as_json = run("plan", "-f", str(m), "-o", "json", sim=sim)
        assert as_json.code == 0 and TOKEN not in as_json.all
        assert json.loads(as_json.out)["changes"][0]["before"]["job_desc"] == "t=***"
        assert as_json.err.count("Note: the output held a credential vizctl knows; it is shown as ***") == 1
        markdown = run("plan", "-f", str(m), "-o", "markdown", sim=sim)
        assert markdown.code == 0 and "t=***" in markdown.out and TOKEN not in markdown.all
        saved = run("plan", "-f", str(m), "--out", str(tmp_path / "p.json"), sim=sim, cwd=tmp_path)
        assert saved.code == 1 and f"the plan was not saved to {tmp_path / 'p.json'}: it holds a credential vizctl knows" in saved.err
        assert TOKEN not in saved.all and not (tmp_path / "p.json").exists()
        applied = run("apply", "-f", str(m), "--auto-approve", "-o", "json", "--replace", "a", sim=sim)
        assert TOKEN not in applied.all and '"t=***"' in applied.out, applied.all


def test_a_saved_plan_edited_to_carry_a_credential_is_refused_and_nothing_is_created(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "a", job_desc="clean")
    with SimServer(SimConfig(**FAST)) as sim:
        assert run("plan", "-f", str(m), "--out", str(tmp_path / "p.json"), sim=sim, cwd=tmp_path).code == 0
        plan = json.loads((tmp_path / "p.json").read_text())
        plan["changes"][0]["after"]["job_desc"] = f"t={TOKEN}"
        (tmp_path / "p.json").write_text(json.dumps(plan))
        sim.reset_stats()
        result = run("apply", str(tmp_path / "p.json"), sim=sim, cwd=tmp_path)
        assert result.code == 1 and "the saved plan is refused: a's job_desc holds a credential" in result.err, result.all
        assert TOKEN not in result.all and not any(key.startswith("POST") for key in requests_seen(sim))
