"""What vizctl reads from and writes to files (issues 16 and 21): export writes what reads back,
damaged plan and cache files, plan --out never overwrites what is not a plan, failed writes fail,
non-regular files are never opened. The real CLI against the simulator or a small local server."""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliutil import TOKEN, manifest_of, run, write
from httputil import Recorder
from vizctl.api.auth import TokenAuth
from vizctl.api.client import ModelArtsClient
from vizctl.commands.export import declarable, manifest_text
from vizctl.errors import ProtocolError
from vizctl.manifests import loader as manifest
from vizctl.manifests.loader import load_manifests
from vizctl.model import LiveJob
from vizctl.api.retry import RetryPolicy
from vizctl.sim.config import SimConfig
from vizctl.sim.server import SimServer

REPO = Path(__file__).resolve().parent.parent
FAST = dict(startup_seconds=0.3, delete_seconds=0.1, stop_seconds=0.1)
ENVIRON = {"USD": "5", "B": "x", "EMPTY": ""}  # set while the export is read back: none may leak into a value

# Any live text: control characters, NEL and the Unicode line separators, `${`, `$`, quotes, spaces at the ends.
ODD = st.sampled_from(["${", "$", "$${", "${USD}", "${B:-y}", "$$", "}", "'", '"', "\\", " ", "\t", "\n", "\r", "\r\n",
                       "\x85", "\u2028", "\u2029", "\ufeff", "\x00", "\x1b[31m", "\x7f", "#", ": ", "- ", "~", "yes", "0x1F"])
NUMBERS = itertools.count()
LIVE_TEXT = st.lists(st.one_of(ODD, st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)), max_size=12).map("".join)


@pytest.fixture
def sim():
    with SimServer(SimConfig(**FAST)) as server:
        yield server


def seed(sim, name, **fields):
    return sim.state.seed_jobs("proj-1", [{"job_name": name, "train_url": f"/bucket/{name}/logs/", "running": True, **fields}])[0]


def read_back(text: str) -> list[dict]:
    """The job bodies vizctl's own loader reads from ``text``, with variables set."""
    return [spec.body for spec in load_manifests(["-"], ENVIRON, io.StringIO(text)).jobs]


# -- 1. export writes what reads back as the live values --------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desc=LIVE_TEXT.filter(lambda s: len(s) <= 256), url=LIVE_TEXT.filter(lambda s: re.search(r"\S", s)), code=LIVE_TEXT.filter(bool))
def test_every_live_string_reads_back_exactly(desc, url, code):
    job = LiveJob("1", "j-1", 8, job_desc=desc, train_url=url)
    detail = LiveJob("1", "j-1", 8, job_desc=desc, train_url=url, extra={"job_type": "tensorboard", "flavor": {"code": code}})
    entries, refused = declarable([job], [detail])
    assert refused == []
    [body] = read_back(manifest_text(entries))
    assert (body["train_url"], body.get("job_desc", ""), body["flavor"]["code"]) == (url, desc, code)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(desc=LIVE_TEXT.filter(lambda s: len(s) <= 256), url=LIVE_TEXT.filter(lambda s: re.search(r"\S", s)))
def test_export_then_plan_is_no_changes_for_any_live_string(tmp_path, sim, desc, url):
    name = f"x-{next(NUMBERS)}"  # one simulator for every example: each its own job
    seed(sim, name, job_desc=desc, train_url=url)
    exported = run("export", "--match", name, sim=sim)
    assert exported.code == 0 and "Exported 1 job." in exported.err, exported.all
    m = tmp_path / f"{name}.yaml"
    m.write_text(exported.out, encoding="utf-8")
    planned = run("plan", str(m), "--detailed-exitcode", sim=sim, env=ENVIRON)
    assert planned.code == 0 and "No changes." in planned.out, (exported.out, planned.all)


def test_a_dollar_brace_in_a_live_description_is_escaped_not_substituted(tmp_path, sim):
    seed(sim, "price", job_desc="price in ${USD} per hour")
    seed(sim, "broken", job_desc="a ${ b")
    exported = run("export", sim=sim)
    assert exported.code == 0, exported.all
    assert "job_desc: price in $${USD} per hour" in exported.out and "job_desc: a $${ b" in exported.out
    m = write(tmp_path / "m.yaml", exported.out)
    assert run("validate", str(m)).code == 0
    planned = run("plan", str(m), "--detailed-exitcode", sim=sim, env={"USD": "5"})
    assert planned.code == 0 and "No changes. 2 of 2 declared jobs running as declared." in planned.out, planned.all


def test_a_next_line_character_is_written_escaped_in_double_quotes(sim):
    seed(sim, "nel", job_desc="one\x85two\u2028three")
    exported = run("export", sim=sim)
    assert 'job_desc: "one\\Ntwo\\Lthree"' in exported.out, exported.out
    assert read_back(exported.out)[0]["job_desc"] == "one\x85two\u2028three"


# -- 2. live jobs a manifest cannot declare ------------------------------------------------


ODD_JOBS = [
    {"job_id": 1, "job_name": "good", "status": 8, "job_desc": "", "train_url": "/b/good/", "create_time": 1},
    {"job_id": 2, "job_name": "no-url", "status": 8, "job_desc": "", "train_url": "", "create_time": 1},
    {"job_id": 3, "job_name": "bad name!", "status": 8, "job_desc": "", "train_url": "/b/bad/", "create_time": 1},
    {"job_id": 4, "job_name": "long-desc", "status": 8, "job_desc": "d" * 300, "train_url": "/b/long/", "create_time": 1},
]


def api_of(jobs):
    """A ModelArts list and details API answering ``jobs`` (not the simulator: it refuses such jobs)."""

    def answer(handler):
        path = handler.path.split("?")[0]
        if path.endswith("/visualization-jobs"):
            body = {"is_success": True, "job_total_count": len(jobs) if isinstance(jobs, list) else 0, "jobs": jobs}
        else:
            body = {"is_success": True, **next(j for j in jobs if str(j["job_id"]) == path.rsplit("/", 1)[1]), "job_type": "tensorboard"}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    return Recorder(answer)


def against(server, *argv):
    return run(*argv, env={"VIZCTL_ENDPOINT": server.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN})


def test_a_live_job_with_an_empty_train_url_is_read_shown_and_not_exported(tmp_path):
    m = manifest_of(tmp_path / "m.yaml", "good", train_url="/b/good/")
    with api_of(ODD_JOBS) as server:
        planned = against(server, "plan", str(m), "-v")
        assert planned.code == 0 and "No changes." in planned.out, planned.all
        assert "no-url" in planned.out  # an undeclared live job, listed
        status = against(server, "status")
        assert status.code == 0 and re.search(r"^no-url +RUNNING", status.out, re.M), status.all
        exported = against(server, "export")
    assert exported.code == 0, exported.all
    assert "Skipped no-url: the API shows no train_url" in exported.err
    assert "Skipped 'bad name!': a manifest cannot declare it as it is live (job_name: 'bad name!' is not a valid job name" in exported.err
    assert "Skipped long-desc: a manifest cannot declare it as it is live (job_desc: at most 256 characters (got 300))" in exported.err
    assert "Exported 1 job." in exported.err
    assert [body["job_name"] for body in read_back(exported.out)] == ["good"]


@pytest.mark.parametrize("jobs", ["nope", [{"job_id": 5, "job_name": "n", "status": 8, "train_url": None}],
                                  [{"job_id": 5, "job_name": "", "status": 8, "train_url": "/b/"}]])
def test_a_malformed_list_answer_is_still_an_error_not_an_empty_project(jobs):
    with api_of(jobs) as server:
        client = ModelArtsClient(server.url, "proj-1", TokenAuth("t0ken-value"), retry=RetryPolicy(attempts=2, backoff=0.01))
        with pytest.raises(ProtocolError):
            client.list_all()


# -- 3. and 8. files in a manifest directory ---------------------------------------------------


def test_a_fifo_or_socket_among_a_directorys_manifests_is_refused_never_opened(tmp_path):
    manifest_of(tmp_path / "d" / "a.yaml", "fi-a")
    fifo = tmp_path / "d" / "pipe.yaml"
    os.mkfifo(fifo)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "d" / "sock.yml"))
    os.symlink("pipe.yaml", tmp_path / "d" / "link.yaml")
    opened = threading.Event()

    def writer():  # its open returns once anything opens the FIFO to read
        os.close(os.open(fifo, os.O_WRONLY))
        opened.set()

    threading.Thread(target=writer, daemon=True).start()
    result = run("validate", str(tmp_path / "d"))
    listener.close()
    assert not opened.wait(0.2), "validate opened the FIFO"
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # lets the writer go
    assert result.code == 1, result.all
    for name in ("pipe.yaml", "sock.yml", "link.yaml"):
        assert f"{tmp_path / 'd' / name}: not a regular file or a directory\n" in result.err
    assert "Traceback" not in result.err


def test_a_fifo_put_where_a_file_was_found_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(manifest._Unreadable, match="not a regular file"):
        manifest._read(str(fifo), None)  # what reads a file found a moment before


def test_the_skipped_file_notice_stays_when_another_manifest_is_invalid(tmp_path):
    write(tmp_path / "d" / "mkdocs.yml", "site_name: docs\n")
    write(tmp_path / "d" / "bad.yaml", "jobs:\n  - job_name: b\n")  # no train_url
    result = run("validate", str(tmp_path / "d"))
    assert result.code == 1
    assert f"vizctl: skipped {tmp_path / 'd' / 'mkdocs.yml'}: not a vizctl manifest (no manifest key in it)" in result.err
    assert "missing required key 'train_url'" in result.err


# -- 4. damaged plan and cache files -------------------------------------------------------


def saved_plan(tmp_path, sim) -> tuple[Path, dict]:
    m = manifest_of(tmp_path / "m.yaml", "dp-a")
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    return plan_file, json.loads(plan_file.read_text())


def damage(data, how):
    data = json.loads(json.dumps(data))
    if how == "wrong type":
        data["changes"][0]["job_name"] = 5
    elif how == "null change":
        data["changes"][0] = None
    elif how == "null manifests":
        data["manifests"] = None
    elif how == "null options":
        data["options"] = None
    elif how == "quota list":
        data["quota"] = []
    elif how == "diff of strings":
        data["changes"][0]["diff"] = ["x"]
    elif how == "bad location":
        data["changes"][0]["location"] = "m.yaml:one"
    return json.dumps(data)


DAMAGES = {
    "wrong type": "changes[0].job_name must be a string (got the number 5)",
    "null change": "changes[0] must be an object (got null)",
    "null manifests": "manifests is null",
    "null options": "options is null",
    "quota list": "quota must be an object (got a list)",
    "diff of strings": "changes[0].diff[0] must be an object (got a string)",
    "bad location": "changes[0].location 'm.yaml:one' is not PATH:LINE",
}


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_plan_file_is_one_error_naming_the_file_and_the_field(tmp_path, sim, how):
    plan_file, data = saved_plan(tmp_path, sim)
    plan_file.write_text(damage(data, how))
    for argv in (("show", str(plan_file)), ("apply", str(plan_file))):
        result = run(*argv, sim=sim)
        assert result.code == 1 and result.out == "", result.all
        assert result.err == f"Error: {plan_file}: the plan file is damaged: {DAMAGES[how]}\n"
    assert sim.stats.get("POST create", 0) == 0


def test_a_plan_file_of_100000_nested_brackets_is_refused_without_a_traceback(tmp_path, sim):
    deep = write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000)
    for argv in (("show", str(deep)), ("apply", str(deep))):
        result = run(*argv, sim=sim)
        assert (result.code, result.err) == (1, f"Error: {deep} is not a vizctl plan file (JSON nested too deeply to read)\n")


def test_a_details_cache_of_100000_nested_brackets_is_ignored_with_a_notice(tmp_path, sim):
    seed(sim, "dc-deep", job_type="tensorboard")
    m = write(tmp_path / "m.yaml", "jobs:\n  - {job_name: dc-deep, train_url: /bucket/dc-deep/logs/, job_type: tensorboard}\n")
    cache = write(tmp_path / "cache" / "details-v1.json", "[" * 100_000)
    result = run("plan", str(m), sim=sim, env={"VIZCTL_CACHE_DIR": str(cache.parent)})
    assert result.code == 0 and "No changes." in result.out, result.all
    assert f"vizctl: ignored the details cache {cache}: damaged (not JSON vizctl can read); it is written anew\n" in result.err
    assert json.loads(cache.read_text())["version"] == 1  # the plan's reads replaced it


# -- 5. plan --out never overwrites what is not a plan -------------------------------------


def test_plan_out_refuses_a_manifest_and_any_file_that_is_not_a_plan(tmp_path, sim):
    m = manifest_of(tmp_path / "team.yaml", "po-a")
    data = manifest_of(tmp_path / "d" / "b.yml", "po-b")
    notes = write(tmp_path / "notes.txt", "my notes\n")
    link = tmp_path / "link.json"
    os.symlink(data, link)
    cases = {
        str(m): "apply reads a *.yaml or *.yml file as a manifest",
        str(tmp_path / "new.YML"): "apply reads a *.yaml or *.yml file as a manifest",
        str(link): "is a manifest this plan was made from",
        str(notes): "exists and is not a vizctl plan file",
        str(tmp_path / "d"): "exists and is not a regular file",
    }
    for out, why in cases.items():
        before = {p: p.read_bytes() for p in (m, data, notes)}
        result = run("plan", str(m), str(tmp_path / "d"), "--out", out, sim=sim)
        assert result.code == 64 and f"Error: --out {out}" in result.err and why in result.err, (out, result.all)
        assert {p: p.read_bytes() for p in before} == before and not (tmp_path / "new.YML").exists()
    assert sim.stats.get("GET list", 0) == 0  # refused before anything was asked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "link.json", "notes.txt", "team.yaml"]


def test_plan_out_overwrites_an_earlier_plan_file(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "po-a")
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    manifest_of(m, "po-a", "po-b")
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    assert [c["job_name"] for c in json.loads(plan_file.read_text())["changes"]] == ["po-a", "po-b"]


# -- 6. a failed write is an error ---------------------------------------------------------


@pytest.mark.parametrize("argv", [("export",), ("plan", "{m}", "-o", "json"), ("status", "-o", "json"), ("show", "{plan}")])
def test_output_to_a_full_device_is_an_error_not_a_success(tmp_path, sim, argv):
    for i in range(60):  # more than a pipe's or a buffer's worth of output
        seed(sim, f"full-{i}", job_desc="d" * 200)
    m = manifest_of(tmp_path / "m.yaml", *(f"full-{i}" for i in range(60)), job_desc="d" * 200)
    plan_file = tmp_path / "plan.json"
    assert run("plan", str(m), "--out", str(plan_file), sim=sim).code == 0
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = run(*(a.format(m=m, plan=plan_file) for a in argv), sim=sim, stdout=full)
    assert result.code == 1, result.all
    assert result.err.splitlines()[-1] == "Error: the output could not be written in full (standard output: No space left on device)"
    assert "Exported" not in result.err


def spawn_limited(sim, cwd, *argv, file_bytes):
    """``vizctl *argv`` as a process that may write no file beyond ``file_bytes`` (RLIMIT_FSIZE: EFBIG, a full disk's like)."""
    import resource

    env = {**os.environ, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN,
           "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "vizctl", *argv, "--no-cache"], capture_output=True, text=True, env=env, cwd=cwd, timeout=60,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, resource.RLIM_INFINITY)),
    )


class _TakesNothing(io.RawIOBase):
    """A stream whose every write takes 0 bytes (a file at its size limit): nothing is ever written."""

    def writable(self):
        return True

    def write(self, data):
        return 0


class _FailsOnce(io.StringIO):
    """A stream whose first write fails (a pipe closed, then reopened by nobody): it records later writes."""

    failed = False

    def write(self, text):
        if not self.failed:
            self.failed = True
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_a_stream_that_takes_none_of_the_output_is_an_error_not_lost_output():
    from vizctl.environment import Environment
    from vizctl.errors import OutputError

    env = Environment(stdout=io.TextIOWrapper(_TakesNothing()), stderr=io.StringIO(), environ={})
    env.out("Apply complete")  # returns: the loop ends on a write of 0 bytes
    with pytest.raises(OutputError, match="could not be written in full"):
        env.check_output()


def test_after_a_failed_write_nothing_more_is_written_to_that_stream():
    from vizctl.environment import Environment

    out = _FailsOnce()
    env = Environment(stdout=out, stderr=io.StringIO(), environ={})
    env.out("first")
    env.out("second")  # never half a result after a lost first part
    assert out.getvalue() == ""


def test_a_plan_out_that_cannot_be_written_leaves_no_file_and_fails(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", *(f"pl-{i}" for i in range(20)))
    result = spawn_limited(sim, tmp_path, "plan", str(m), "--out", "plan.json", file_bytes=2000)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == "Error: cannot write the plan to plan.json: File too large"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]  # neither the plan nor its temporary file


def test_export_to_a_file_that_fills_up_does_not_say_exported(tmp_path, sim):
    for i in range(50):
        seed(sim, f"ex-{i}", job_desc="d" * 200)
    with open(tmp_path / "out.yaml", "w") as out:
        result = subprocess.run(
            [sys.executable, "-c", "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY));"
             "from vizctl.cli import main; sys.exit(main(sys.argv[1:]))", "export"],
            stdout=out, stderr=subprocess.PIPE, text=True, timeout=60, cwd=tmp_path,
            env={**os.environ, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN, "PYTHONPATH": str(REPO)},
        )
    assert result.returncode == 1, result.stderr
    assert "Exported" not in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == "Error: the output could not be written in full (standard output: File too large)"


# -- 7. a saved plan names the variable that changed ---------------------------------------


def test_a_saved_plan_names_the_variable_that_changed_never_its_value(tmp_path, sim):
    m = write(tmp_path / "m.yaml", "jobs:\n  - job_name: var-a\n    train_url: /b/${BUCKET}/\n    job_desc: ${DESC:-none}\n")
    plan_file = tmp_path / "plan.json"
    made = run("plan", str(m), "--out", str(plan_file), sim=sim, env={"BUCKET": "bucket-one", "DESC": "sekrit-value-1"})
    assert made.code == 0, made.all
    fingerprints = json.loads(plan_file.read_text())["variables"]
    assert set(fingerprints) == {"BUCKET", "DESC"} and all(re.fullmatch("[0-9a-f]{6}", v) for v in fingerprints.values())
    stale = run("apply", str(plan_file), sim=sim, env={"BUCKET": "bucket-one", "DESC": "sekrit-value-2"})
    assert stale.code == 1 and "sekrit-value" not in stale.err
    assert stale.err == "Error: plan is stale: the value of ${DESC} changed since it was made (values are not shown); run `vizctl plan` again\n"
    both = run("apply", str(plan_file), sim=sim, env={"BUCKET": "bucket-two"})  # DESC unset: its default
    assert "Error: plan is stale: the values of ${BUCKET}, ${DESC} changed since it was made" in both.err
    manifest_of(m, "var-a")  # the file itself changed, no variable read any more
    edited = run("apply", str(plan_file), sim=sim, env={"BUCKET": "bucket-one", "DESC": "sekrit-value-1"})
    assert edited.err == "Error: plan is stale: the manifests changed since it was made; run `vizctl plan` again\n"
    assert sim.stats.get("POST create", 0) == 0


def test_apply_to_a_full_device_is_an_error_though_the_job_runs(tmp_path, sim):
    m = manifest_of(tmp_path / "m.yaml", "full-a")
    with open("/dev/full", "w", encoding="utf-8") as full:
        result = run("apply", str(m), "-y", "--timeout", "30", sim=sim, stdout=full)
    assert result.code == 1, result.all  # the report was lost: no success, though the job runs
    assert result.err.splitlines()[-1] == "Error: the output could not be written in full (standard output: No space left on device)"
    assert [j["status"] for j in sim.state.list_jobs("proj-1", {})["jobs"]] == [8]


def test_apply_failing_and_to_a_full_device_keeps_its_failing_code(tmp_path):
    with SimServer(SimConfig(startup_seconds=0, fail_pattern="full-f")) as failing:
        m = manifest_of(tmp_path / "m.yaml", "full-f")
        with open("/dev/full", "w", encoding="utf-8") as full:
            result = run("apply", str(m), "-y", "--timeout", "30", sim=failing, stdout=full)
    assert result.code == 3, result.all  # the jobs' outcome is the worse news
    assert result.err.splitlines()[-1] == "vizctl: the output could not be written in full (standard output: No space left on device)"


def test_a_fifo_as_the_details_cache_is_ignored_with_a_notice_not_waited_on(tmp_path, sim):
    seed(sim, "dc-fifo")
    m = manifest_of(tmp_path / "m.yaml", "dc-fifo")
    (tmp_path / "cache").mkdir()
    os.mkfifo(tmp_path / "cache" / "details-v1.json")
    result = run("plan", str(m), sim=sim, env={"VIZCTL_CACHE_DIR": str(tmp_path / "cache")})
    assert result.code == 0 and "No changes." in result.out, result.all
    assert "vizctl: ignored the details cache" in result.err and "cannot read it (not a regular file)" in result.err
