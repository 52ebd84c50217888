"""The commands, one module each with ``run(args, env)``.

:data:`vizctl.cli_parser.COMMANDS` names each command's module; ``vizctl.cli`` imports it only when that
command runs. No command imports ``vizctl.cli``: what several share is below them, in :mod:`vizctl.session`
(manifests, planning flags, the API target) and :mod:`vizctl.applying.run` (confirm, carry a plan out).
"""
