"""Plan renderers: one small strategy class per output format.

Each renderer has ``render(plan, verbose=False, colors=False) -> str``;
:data:`RENDERERS` maps the ``--output`` names to them.
"""

from vizctl.planning.render.json import JsonRenderer
from vizctl.planning.render.markdown import MarkdownRenderer
from vizctl.planning.render.text import TextRenderer

RENDERERS = {"text": TextRenderer, "json": JsonRenderer, "markdown": MarkdownRenderer}
OUTPUTS = tuple(RENDERERS)
