"""``vizctl reconcile``: the controller that keeps a project as declared.

One module per concern: :mod:`~vizctl.reconcile.state` (pure: what a check
found, and which changes of it are worth an alert), :mod:`~vizctl.reconcile.alerts`
(webhook payloads and their delivery), :mod:`~vizctl.reconcile.metrics`
(Prometheus metrics, ``/healthz`` and ``/readyz``) and :mod:`~vizctl.reconcile.loop`
(the checks, every interval, and the healing). The command line is
:mod:`vizctl.commands.reconcile`.
"""
