"""The deploy/ examples of `vizctl reconcile` stay true: each command line parses, the example manifest
validates, the container runs as non-root, the cron example keeps one issue by its marker."""

from __future__ import annotations

import json
import shlex

import yaml

from cliutil import REPO
from vizctl.cli_parser import build_parser, hoist_global_flags
from vizctl.manifests.loader import load_manifests

DEPLOY = REPO / "deploy"


def parse(argv):
    parser = build_parser()
    return parser.parse_args(hoist_global_flags(list(argv), parser))


def kubernetes():
    return {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "vizctl-reconcile.yaml").read_text())}


def test_the_deployment_runs_one_non_root_controller_with_probes_and_secrets_from_the_secret():
    docs = kubernetes()
    assert set(docs) == {"Secret", "ConfigMap", "Deployment", "Service", "ServiceMonitor"}
    deployment = docs["Deployment"]["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"]["type"] == "Recreate"
    pod = deployment["template"]["spec"]
    [container] = pod["containers"]
    args = parse(container["args"])
    assert args.command == "reconcile" and args.heal and args.metrics_addr == ":9090"
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" and container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["terminationGracePeriodSeconds"] > 10  # vizctl exits within 10 s of SIGTERM
    assert container["envFrom"] == [{"secretRef": {"name": docs["Secret"]["metadata"]["name"]}}]
    assert {"VIZCTL_ACCESS_KEY", "VIZCTL_SECRET_KEY", "VIZCTL_SLACK_WEBHOOK_URL"} <= set(docs["Secret"]["stringData"])
    assert not any(secret in json.dumps(container) for secret in docs["Secret"]["stringData"].values())
    monitor = docs["ServiceMonitor"]["spec"]
    assert monitor["endpoints"][0]["port"] == docs["Service"]["spec"]["ports"][0]["name"] == "metrics"


def test_the_configmaps_manifest_validates(tmp_path):
    for name, text in kubernetes()["ConfigMap"]["data"].items():
        (tmp_path / name).write_text(text)
    assert load_manifests([str(tmp_path)]).jobs


def test_the_container_and_the_systemd_unit_run_reconcile_as_a_user_not_root():
    dockerfile = (DEPLOY / "Dockerfile").read_text().splitlines()
    user = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    entrypoint = json.loads(next(line for line in dockerfile if line.startswith("ENTRYPOINT "))[len("ENTRYPOINT "):])
    command = json.loads(next(line for line in dockerfile if line.startswith("CMD "))[len("CMD "):])
    assert entrypoint == ["vizctl"] and parse(command).command == "reconcile"
    unit = (DEPLOY / "systemd" / "vizctl-reconcile.service").read_text().splitlines()
    exec_start = next(line for line in unit if line.startswith("ExecStart="))[len("ExecStart="):]
    argv = shlex.split(exec_start)
    assert argv[0].endswith("/vizctl") and parse(argv[1:]).command == "reconcile"
    assert "User=vizctl" in unit and any(line.startswith("TimeoutStopSec=") and int(line.split("=")[1]) > 10 for line in unit)


def test_the_cron_example_runs_once_and_keeps_one_issue_by_its_marker():
    workflow = yaml.safe_load((DEPLOY / "ci" / "drift-check.yml").read_text())
    assert workflow[True]["schedule"]  # YAML 1.1 reads the key `on` as True
    steps = workflow["jobs"]["drift"]["steps"]
    check = next(step for step in steps if step.get("id") == "check")["run"]
    line = next(line for line in check.splitlines() if "vizctl reconcile" in line)
    argv = shlex.split(line.split("vizctl", 1)[1].split(">")[0])
    assert parse(argv).once
    script = next(step for step in steps if "github-script" in step.get("uses", ""))["with"]["script"]
    assert 'const marker = "<!-- vizctl-drift -->"' in script and "includes(marker)" in script
    assert "issues.update" in script and script.count("issues.create(") == 1  # updated in place; created only when none is open
