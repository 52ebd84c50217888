"""``vizctl completion bash|zsh|fish``: shell completion scripts, made from the parser itself.

The commands, flags and flag values come from :func:`vizctl.cli_parser.build_parser`,
so the scripts cannot fall behind the command line. zsh reuses the bash script
through ``bashcompinit``.
"""

from __future__ import annotations

import argparse
import shlex

from vizctl.cli_parser import build_parser, subcommands
from vizctl.environment import Environment
from vizctl.errors import ExitStatus

FILE_FLAGS = ("-f", "--file", "--out", "--state")

BASH = """\
# vizctl completion for bash (zsh: through bashcompinit)
_vizctl() {
    local cur prev cmd i
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) cmd="${COMP_WORDS[i]}"; break ;;
        esac
    done
    case "$prev" in
%(values)s
    esac
    local flags words=""
    case "$cmd" in
%(flags)s
        *) COMPREPLY=($(compgen -W %(commands)s -- "$cur")); return ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ -n "$words" ]]; then
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -o filenames -o bashdefault -F _vizctl vizctl
"""

ZSH_PREFIX = """\
#compdef vizctl
autoload -U +X bashcompinit && bashcompinit
"""


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    env.out(script(args.shell), end="")
    return ExitStatus.OK


def script(shell: str) -> str:
    """The completion script for ``shell``."""
    commands = _commands(build_parser())
    if shell == "fish":
        return _fish(commands)
    text = _bash(commands)
    return ZSH_PREFIX + text if shell == "zsh" else text


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each command's parser, ``sim serve`` as ``sim``'s."""
    out = {}
    for name, sub in subcommands(parser).items():
        nested = subcommands(sub)
        out[name] = next(iter(nested.values())) if nested else sub
    return out


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]


def _bash(commands: dict[str, argparse.ArgumentParser]) -> str:
    values: dict[str, str] = {}
    for parser in commands.values():
        for action in _flags(parser):
            for flag in action.option_strings:
                if action.choices:
                    values[flag] = f'COMPREPLY=($(compgen -W {shlex.quote(" ".join(action.choices))} -- "$cur")); return ;;'
                elif flag in FILE_FLAGS:
                    values[flag] = 'COMPREPLY=($(compgen -f -- "$cur")); return ;;'
                elif action.nargs != 0:
                    values[flag] = "return ;;"
    flags = {name: " ".join(f for a in _flags(p) for f in a.option_strings) for name, p in commands.items()}
    words = {name: " ".join(_words(p)) for name, p in subcommands(build_parser()).items()}
    return BASH % {
        "values": "\n".join(f"        {flag}) {action}" for flag, action in sorted(values.items())),
        "flags": "\n".join(
            f"        {name}) flags={shlex.quote(flags[name])}" + (f"; words={shlex.quote(words[name])}" if words[name] else "") + " ;;"
            for name in commands
        ),
        "commands": shlex.quote(" ".join([*commands, "--help", "--version"])),
    }


def _words(parser: argparse.ArgumentParser) -> list[str]:
    """The fixed words a command takes as arguments: a subcommand, or a positional's choices."""
    nested = subcommands(parser)
    if nested:
        return list(nested)
    return [str(c) for a in parser._actions if not a.option_strings and a.choices for c in a.choices]


def _fish(commands: dict[str, argparse.ArgumentParser]) -> str:
    top = build_parser()
    lines = ["# vizctl completion for fish", "complete -c vizctl -f"]
    for name, sub in subcommands(top).items():
        lines.append(f"complete -c vizctl -n __fish_use_subcommand -a {name} -d {shlex.quote(_help_of(top, name))}")
        for word in _words(sub):
            lines.append(f"complete -c vizctl -n '__fish_seen_subcommand_from {name}' -a {word}")
    for name, parser in commands.items():
        for action in _flags(parser):
            parts = [f"complete -c vizctl -n '__fish_seen_subcommand_from {name}'"]
            for flag in action.option_strings:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if action.choices:
                parts.append(f"-x -a {shlex.quote(' '.join(action.choices))}")
            elif set(action.option_strings) & set(FILE_FLAGS):
                parts.append("-r -F")
            elif action.nargs != 0:
                parts.append("-x")
            if action.help:
                parts.append(f"-d {shlex.quote(action.help.split(' (')[0].split(':')[0])}")
            lines.append(" ".join(parts))
        if any(a.dest in ("paths", "plan_file") for a in parser._actions):
            lines.append(f"complete -c vizctl -n '__fish_seen_subcommand_from {name}' -F")
    return "\n".join(lines) + "\n"


def _help_of(parser: argparse.ArgumentParser, command: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == command:
                    return choice.help or command
    return command
