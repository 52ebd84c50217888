"""``--output json``: the documented, versioned plan format (see docs/plan-json.md)."""

from __future__ import annotations

import json

from vizctl.planning.plan import Plan, plan_to_dict


class JsonRenderer:
    """The plan as one JSON object (``format_version`` 2.0)."""

    def render(self, plan: Plan, verbose: bool = False, colors: bool = False) -> str:
        return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False)
