"""``vizctl config show``: every connection setting vizctl would use, with its source; secrets masked, nothing sent."""

from __future__ import annotations

import argparse

from vizctl.api import endpoints
from vizctl.api.connection import http_settings, read_settings
from vizctl.api.settings import NAMES, masked, proxy_url
from vizctl.environment import Environment
from vizctl.errors import ExitStatus


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Every resolved setting, its value (secrets masked) and where it came from; nothing is sent anywhere."""
    settings = read_settings(args, env)
    rows: list[tuple[str, str, str]] = []
    region = settings.get("region")
    for name in NAMES:
        if name in settings.values:
            value = settings.values[name]
            rows.append((name, masked(name, value.value), value.source))
        elif name == "endpoint" and region:
            rows.append((name, endpoints.modelarts_endpoint(region, settings.get("cloud")), f"from region {region}"))
        elif name == "iam_endpoint" and region:
            rows.append((name, endpoints.iam_endpoint(region, settings.get("cloud")), f"from region {region}"))
        elif name == "project_id" and region:
            rows.append((name, "(looked up at run time)", f"IAM project named {region}"))
        elif name == "auth" and settings.method is None:
            rows.append((name, "agency", "nothing else configured: the ECS metadata service will be asked"))
    http = http_settings(args, settings, env)
    tls = "off (--insecure)" if http.verify is False else f"CA bundle {http.verify}" if isinstance(http.verify, str) else "on (system CAs)"
    rows.append(("tls_verify", tls, "flag --insecure" if http.verify is False else "default"))
    for scheme, proxy in http.proxies.items():
        parts = proxy_url(proxy)
        user, _, host = parts.netloc.rpartition("@")
        shown = parts._replace(netloc=f"{user.partition(':')[0]}:****@{host}").geturl() if parts.password else proxy
        rows.append((f"{scheme}_proxy", shown, f"env {scheme.upper()}_PROXY" + (f" (except {','.join(http.no_proxy)})" if http.no_proxy else "")))
    width = max(len(r[0]) for r in rows)
    value_width = min(60, max(len(r[1]) for r in rows))
    for name, value, source in rows:
        env.out(f"{name:<{width}}  {value:<{value_width}}  {source}")
    return ExitStatus.OK
