"""``${VAR}`` and ``${VAR:-default}`` in manifest values, from the environment.

The rules (docs/manifests.md, "Variables", says the same):

- ``${NAME}`` is the variable's value; unset, it is a problem (no silent empty text).
- ``${NAME:-default}`` is the value, or ``default`` when the variable is unset or empty.
- ``$${`` is a literal ``${``; any other ``$`` is just a dollar sign.
- ``${`` followed by anything else (``${1X}``, ``${X``, ``${X:?}``) is a problem.
- A credential is a problem: a variable vizctl reads a secret from (``${VIZCTL_TOKEN}``,
  ``${OS_PASSWORD}``, a proxy URL with a password ...), or one whose value holds such a
  secret. The API keeps job values and shows them to everyone who can list jobs.

NAME is letters, digits and ``_``, not starting with a digit. Only values are
substituted, never keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from vizctl.redact import forms
from vizctl.api.settings import SECRET_VARIABLES, environment_secrets

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
        leak = credential_problem(name, value, environ)
        if leak:
            result.problems.append(leak)
            return whole
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


def credential_problem(name: str, value: str | None, environ: Mapping[str, str]) -> str | None:
    """Why ``${name}`` would send a credential (never saying the value), or None."""
    secrets = environment_secrets(environ)
    if name in SECRET_VARIABLES or name in secrets:
        why = f"{name} is a credential"
    else:
        holder = next((n for n, secret in secrets.items() if value and any(f in value for f in forms(secret))), None)
        if holder is None:
            return None
        why = f"{name} holds the credential in {holder}"
    return (f"${{{name}}} would put a credential into the job ({why}): the API keeps job values and shows them to "
            "everyone who can list jobs; remove it from the manifest")
