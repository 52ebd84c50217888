"""Run the real vizctl CLI in-process, with its own streams and environment variables."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vizctl.cli import main
from vizctl.environment import Environment

TOKEN = "tok-SECRET-1234567890"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def all(self) -> str:
        return self.out + self.err


def run(*argv: str, sim=None, env: dict | None = None, stdin: str = "", tty: bool = False, cwd: str | Path = ".", stdout=None) -> Result:
    """``vizctl *argv`` against ``sim`` (a SimServer) unless ``env`` says otherwise; ``stdout`` (a real file) instead of a buffer."""
    variables = {}
    if sim is not None:
        variables = {"VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN}
    variables.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        stdin=io.StringIO(stdin), stdout=stdout or out, stderr=err, environ=variables,
        stdin_isatty=tty, stdout_isatty=tty, cwd=str(cwd),
    )
    code = main(list(argv), env=environment)
    return Result(code, out.getvalue(), err.getvalue())


REPO = Path(__file__).resolve().parent.parent


def spawn(sim, *argv: str) -> subprocess.Popen:
    """``vizctl *argv`` as a real process against ``sim`` (for signals and real streams), text pipes."""
    env = {**os.environ, "VIZCTL_ENDPOINT": sim.url, "VIZCTL_PROJECT_ID": "proj-1", "VIZCTL_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "vizctl", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 20) -> list[str]:
    """Read ``process``'s standard output until a line holds ``needle``; the lines read."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen in {seen}")


def summary_after_ctrl_c(process: subprocess.Popen, needle: str) -> dict:
    """Once ``process`` (run with ``-o json``) prints ``needle``, press Ctrl-C: the summary it ends with (exit 130)."""
    wait_for_line(process, needle)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 130, err
    return json.loads(out.strip().splitlines()[-1])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def manifest_of(path: Path, *names: str, train_url: str = "/bucket/{name}/logs/", **fields) -> Path:
    """A manifest declaring ``names`` (each with train_url and any extra fields)."""
    lines = ["jobs:"]
    for name in names:
        lines.append(f"  - job_name: {name}")
        lines.append(f"    train_url: {train_url.format(name=name)}")
        for key, value in fields.items():
            lines.append(f"    {key}: {value}")
    return write(path, "\n".join(lines) + "\n")


def run_in_thread(*argv, sim):
    """``run`` in a thread, so a test can act on the simulator meanwhile; the Result lands in the box."""
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", run(*argv, sim=sim)))
    thread.start()
    return thread, box


def wait_until(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.02)
