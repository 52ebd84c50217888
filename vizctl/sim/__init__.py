"""The ModelArts visualization-job API simulator (``vizctl sim``).

The names below are imported on first use, so that ``vizctl --help`` (which
reads the simulator's flags from :mod:`vizctl.sim.config`) stays fast.
"""

import importlib

_HOMES = {"SimConfig": "config", "add_arguments": "config", "SimServer": "server", "SimApiError": "state", "SimState": "state"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
