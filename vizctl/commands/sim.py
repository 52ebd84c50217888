"""``vizctl sim serve``: serve the simulated ModelArts API over HTTP until Ctrl-C."""

from __future__ import annotations

import argparse

from vizctl.environment import Environment
from vizctl.errors import ConfigError, ExitStatus, UsageError


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    from vizctl.sim.config import SimConfig, read_secrets
    from vizctl.sim.server import SimServer

    try:
        secrets = read_secrets(args, env.getenv)
    except ValueError as exc:  # a secret file that cannot be read, an empty or multi-line secret
        raise ConfigError(str(exc)) from None
    for secret in secrets.values():
        env.add_secret(secret)
    try:
        config = SimConfig.from_args(args, secrets)
    except ValueError as exc:  # a setting out of its range
        raise UsageError(str(exc)) from None
    try:
        server = SimServer(config, state_path=args.state, host=args.host, port=args.port)
    except OSError as exc:  # (a damaged --state file is a SimStateError, said as it is)
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    env.err(f"vizctl simulator listening on {server.url} (any project id; any non-empty token unless --token-file, VIZCTL_SIM_TOKEN or --strict-auth); Ctrl-C stops it")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        env.err("Simulator stopped.")
    finally:
        server.stop()
    return ExitStatus.OK
