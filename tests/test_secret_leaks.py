"""No secret in any output: vizctl as a real subprocess, at the highest verbosity, through success and failure.

Every run's real stdout and stderr, and every file it writes (plan files, state),
are searched for distinctive secret values.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cliutil import manifest_of
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

SECRETS = {
    "token": "LEAKCANARY-token-7f3a9b",
    "password": "LEAKCANARY-password-Q9!x",
    "passcode": "LEAKCANARY-passcode-481516",
    "secret_key": "LEAKCANARY-secretkey-d41d8cd98f00b204",
    "security_token": "LEAKCANARY-securitytoken-e3b0c442",
    "proxy": "LEAKCANARY-proxypw-77",
    "right_secret": "LEAKCANARY-sim-secret-0000",
}
AK = "LEAKTESTAK0000000001"


def vizctl(*argv: str, env: dict, cwd: Path) -> str:
    """Run ``python -m vizctl`` for real; returns everything it wrote to stdout and stderr."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run([sys.executable, "-m", "vizctl", *argv], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    return f"[exit {done.returncode}]\n{done.stdout}\n{done.stderr}"


def scenarios(sim: SimServer, tmp: Path):
    m = str(manifest_of(tmp / "m.yaml", "leak-a", "leak-b"))
    leaky = str(manifest_of(tmp / "leaky.yaml", "leak-c", job_desc='"t=${VIZCTL_TOKEN}"'))
    common = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_IAM_ENDPOINT": sim.url + "/v3", "VIZCTL_REGION": "eu-de",
              "HTTPS_PROXY": f"http://user:{SECRETS['proxy']}@127.0.0.1:9", "NO_PROXY": "127.0.0.1"}
    token = {**common, "VIZCTL_TOKEN": SECRETS["token"], "VIZCTL_PROJECT_ID": "p"}
    password = {**common, "OS_USERNAME": "u", "OS_USER_ID": "uid", "OS_USER_DOMAIN_NAME": "d",
                "OS_PASSWORD": SECRETS["password"], "OS_PASSCODE": SECRETS["passcode"]}
    aksk = {**common, "VIZCTL_PROJECT_ID": "p", "VIZCTL_ACCESS_KEY": "OTHERAK0000000000001",
            "VIZCTL_SECRET_KEY": SECRETS["secret_key"], "VIZCTL_SECURITY_TOKEN": SECRETS["security_token"]}
    wrong_sk = {**aksk, "VIZCTL_ACCESS_KEY": AK}
    agency = {**common, "VIZCTL_AUTH": "agency", "VIZCTL_METADATA_URL": sim.url, "VIZCTL_PROJECT_ID": "p"}
    yield "token plan", ("plan", "-f", m, "-vv", "--debug", "--out", "plan.json"), token
    yield "token apply", ("apply", "plan.json", "-vv", "--debug", "--output", "json"), token
    yield "token with a newline", ("plan", "-f", m, "--debug"), {**token, "VIZCTL_TOKEN": SECRETS["token"] + "\n"}
    yield "token refused", ("plan", "-f", m, "--debug", "-vv"), {**token, "VIZCTL_TOKEN": SECRETS["token"] + "-x"}
    yield "password apply", ("apply", "-f", m, "--auto-approve", "--debug", "-vv"), password
    yield "password refused", ("plan", "-f", m, "--debug"), {**password, "OS_PASSWORD": SECRETS["password"] + "-x"}
    yield "aksk plan json", ("plan", "-f", m, "--debug", "-vv", "--output", "json", "--out", "aksk-plan.json"), aksk
    yield "aksk signature rejected", ("plan", "-f", m, "--debug", "-vv"), wrong_sk
    yield "agency plan", ("plan", "-f", m, "--debug", "-vv", "--output", "markdown"), agency
    yield "config show", ("config", "show", "--debug"), {**password, **aksk, "VIZCTL_TOKEN": SECRETS["token"]}
    yield "config show of a password", ("config", "show"), password
    yield "bad flag", ("plan", "-f", m, "--debug", "--max-rps", "x"), token
    yield "token in a manifest", ("plan", "-f", leaky, "-vv", "--debug", "-o", "json", "--out", "leaky-plan.json"), token
    yield "scheme-less proxy", ("config", "show", "--debug"), {**token, "HTTPS_PROXY": f"user:{SECRETS['proxy']}@127.0.0.1:9"}


def test_no_secret_appears_in_any_output_or_file(tmp_path):
    config = SimConfig(startup_seconds=0.2, delete_seconds=0.1, stop_seconds=0.1, iam_password=SECRETS["password"],
                       iam_passcode=SECRETS["passcode"], access_key=AK, secret_key=SECRETS["right_secret"])
    with SimServer(config) as sim:
        outputs = {name: vizctl(*argv, env=env, cwd=tmp_path) for name, argv, env in scenarios(sim, tmp_path)}
    # the scenarios went where they should: success and failure paths both ran
    assert outputs["token plan"].startswith("[exit 0]") and outputs["password apply"].startswith("[exit 0]")
    assert outputs["aksk plan json"].startswith("[exit 0]") and outputs["agency plan"].startswith("[exit 0]")
    assert "env VIZCTL_TOKEN (token) starts or ends with whitespace" in outputs["token with a newline"]
    assert "APIGW.0301" in outputs["aksk signature rejected"] and "debug: > GET" in outputs["token plan"]
    assert "password is wrong" in outputs["password refused"]
    assert outputs["token in a manifest"].startswith("[exit 1]") and "${VIZCTL_TOKEN} would put a credential" in outputs["token in a manifest"]
    assert "http://user:****@127.0.0.1:9" in outputs["scheme-less proxy"]
    # a signature is replayable within the 15-minute skew: --debug shows the Authorization header without it
    assert "Signature=****" in outputs["aksk plan json"] and not re.search(r"Signature=[0-9a-f]{8}", outputs["aksk plan json"])
    files = {str(p): p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert any(name.endswith("plan.json") for name in files) and not any(name.endswith("leaky-plan.json") for name in files)
    for where, text in {**outputs, **files}.items():
        assert "Traceback" not in text, where
        for kind, secret in SECRETS.items():
            assert secret not in text, f"the {kind} leaked into {where}"
        for issued in ("sim-st-", "sim-iam-", "sim-metadata-"):
            assert issued not in text, f"an issued secret ({issued}...) leaked into {where}"
