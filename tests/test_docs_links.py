"""Every relative link and #anchor in the README, docs/ and CONTRIBUTING.md leads somewhere.

Anchors follow GitHub's rules for headings: lower case, punctuation but ``-`` and ``_`` dropped,
spaces to ``-``, and ``-1``, ``-2`` ... for a repeated heading. Links to the web are not fetched.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "SECURITY.md", REPO / "CHANGELOG.md", *(REPO / "docs").rglob("*.md")])
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)  # code spans keep their text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))


def test_slugs_follow_githubs_rules():
    assert slug("Answers that are not the API's") == "answers-that-are-not-the-apis"
    assert slug("Errors, TLS, proxies, debugging") == "errors-tls-proxies-debugging"
    assert slug("The `apply --output json` event stream") == "the-apply---output-json-event-stream"
    assert slug("Where settings come from (highest first)") == "where-settings-come-from-highest-first"


def test_a_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Part\n\n## Part\n\nSee [it](#part-1), [gone](#nowhere).\n```\n[not a link](#x)\n```\n")
    assert anchors(page) == {"title", "part", "part-1"}
    assert links(page) == ["#part-1", "#nowhere"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        where = (page.parent / unquote(path)).resolve() if path else page
        if not where.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (where.suffix != ".md" or unquote(anchor) not in anchors(where)):
            broken.append(f"{target}: no heading #{anchor} in {where.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)
