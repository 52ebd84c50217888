"""``${VAR}`` and ``${VAR:-default}`` in manifest values, from the environment.

The rules (the README's "Variables" section says the same):

- ``${NAME}`` is the variable's value; unset, it is a problem (no silent empty text).
- ``${NAME:-default}`` is the value, or ``default`` when the variable is unset or empty.
- ``$${`` is a literal ``${``; any other ``$`` is just a dollar sign.
- ``${`` followed by anything else (``${1X}``, ``${X``, ``${X:?}``) is a problem.

NAME is letters, digits and ``_``, not starting with a digit. Only values are
substituted, never keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

_REFERENCE = re.compile(r"\$\$\{|\$\{(?:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\})?")
SYNTAX = "write ${NAME} or ${NAME:-default}, or $${ for a literal ${"


@dataclass
class Substitution:
    """A value with its variables substituted, the variables it read and what went wrong."""

    text: str
    used: dict[str, str | None] = field(default_factory=dict)  # name -> value (None: unset)
    problems: list[str] = field(default_factory=list)


def substitute(text: str, environ: Mapping[str, str]) -> Substitution:
    """``text`` with every reference replaced by its value from ``environ``."""
    result = Substitution(text)
    if "${" not in text:
        return result

    def replace(m: re.Match) -> str:
        whole, name, default = m.group(0), m.group(1), m.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            after = text[m.start():m.start() + 20]
            result.problems.append(f"bad variable reference {after!r}: {SYNTAX}")
            return whole
        value = environ.get(name)
        result.used[name] = value
        if default is not None and not value:
            return default
        if value is None:
            result.problems.append(f"environment variable {name} is not set (give a default with ${{{name}:-default}})")
            return whole
        return value

    result.text = _REFERENCE.sub(replace, text)
    return result


def escape(text: str) -> str:
    """``text`` written so that :func:`substitute` reads it back as itself, whatever the environment."""
    return text.replace("${", "$${")
