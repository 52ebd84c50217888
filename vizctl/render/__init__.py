"""Plan renderers: one small strategy class per output format.

Each renderer has ``render(plan, verbose=False, colors=False) -> str``;
:data:`RENDERERS` maps the ``--output`` names to them.
"""

from vizctl.render.json import JsonRenderer
from vizctl.render.markdown import MarkdownRenderer
from vizctl.render.text import TextRenderer

RENDERERS = {"text": TextRenderer, "json": JsonRenderer, "markdown": MarkdownRenderer}
OUTPUTS = tuple(RENDERERS)
