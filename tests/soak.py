"""How hard the hardening tests (marker ``hardening``) push: CI's few cases, or a soak run's many.

    VIZCTL_SOAK=1 .venv/bin/python -m pytest -q -m hardening

A soak run races more applies over more jobs, serves each broken answer at higher rates with more
seeds, kills apply at more moments and feeds the manifest loader far more generated inputs.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

SOAK = os.environ.get("VIZCTL_SOAK", "").strip() not in ("", "0")


def scale(ci: T, soak: T) -> T:
    """``ci`` in a normal run, ``soak`` in a soak run (``VIZCTL_SOAK=1``)."""
    return soak if SOAK else ci
