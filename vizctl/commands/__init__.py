"""The commands beyond validate / plan / apply, one module each with ``run(args, env)``.

``vizctl.cli`` imports a command's module only when that command runs.
"""
