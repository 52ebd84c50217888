"""Safe YAML loading that remembers the line of every value.

PyYAML's safe composer gives a node tree with positions; this module turns it
into plain Python data (dicts, lists, scalars) and records, for each JSON path
(a tuple of keys and indices), the 1-based line where it was written. It also
reports what PyYAML lets through silently (duplicate keys) or would crash on
(recursive aliases, alias bombs, unknown tags), so that no input ends in a
traceback: everything wrong becomes a :class:`YamlIssue`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

JsonPath = tuple[Union[str, int], ...]

MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"

MAX_VALUES = 100_000  # per document, after alias expansion: stops "billion laughs"
MAX_DEPTH = 64  # nesting per document; a manifest needs about 4


@dataclass(frozen=True)
class YamlIssue:
    """Something wrong in the YAML itself, at a path of the document (``()`` for the whole)."""

    path: JsonPath
    line: int | None
    message: str


@dataclass
class Document:
    """One YAML document: its data and where each value was written."""

    data: Any
    line: int  # first line of the document's content
    value_lines: dict[JsonPath, int] = field(default_factory=dict)
    key_lines: dict[JsonPath, int] = field(default_factory=dict)
    issues: list[YamlIssue] = field(default_factory=list)
    broken: set[JsonPath] = field(default_factory=set)  # paths whose value could not be read

    def line_of(self, path: JsonPath) -> int:
        """The line of ``path``: its key's line when it is a mapping entry, else its
        value's; for a path that does not exist, the line of the nearest enclosing one."""
        path = tuple(path)
        while path:
            if path in self.key_lines:
                return self.key_lines[path]
            if path in self.value_lines:
                return self.value_lines[path]
            path = path[:-1]
        return self.value_lines.get((), self.line)

    def is_broken(self, path: JsonPath) -> bool:
        """Whether the value at ``path`` (or around it) could not be read."""
        return any(path[: len(b)] == b for b in self.broken)


# libyaml's composer when PyYAML was built with it: the same nodes and marks, about ten times faster.
# Its error messages are terser, so a text it finds a problem in is read again by the pure-Python one.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_documents(text: str) -> tuple[list[Document], list[YamlIssue]]:
    """Every non-empty document of a YAML stream, plus issues that stopped reading.

    A syntax error ends the stream: the documents before it are returned, the
    error is an issue with its line.
    """
    docs, issues = _load_with(_FAST_LOADER, text)
    if (issues or any(doc.issues for doc in docs)) and _FAST_LOADER is not yaml.SafeLoader:
        return _load_with(yaml.SafeLoader, text)
    return docs, issues


def _load_with(loader_class, text: str) -> tuple[list[Document], list[YamlIssue]]:
    docs: list[Document] = []
    issues: list[YamlIssue] = []
    loader = None
    try:
        loader = loader_class(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == NULL_TAG):
                continue  # an empty document
            doc = _Builder().document(node)
            if isinstance(doc, YamlIssue):
                issues.append(doc)
            else:
                docs.append(doc)
    except yaml.MarkedYAMLError as e:
        line = _mark_line(e.problem_mark or e.context_mark)
        if line is not None:  # an error at the end of the text is on its last line, not past it
            line = max(1, min(line, len(text.splitlines())))
        issues.append(YamlIssue((), line, _syntax_message(e)))
    except yaml.reader.ReaderError as e:
        line = text[: e.position].count("\n") + 1 if isinstance(e.position, int) else None
        issues.append(
            YamlIssue((), line, f"invalid YAML: character #x{e.character:04x} is not allowed in YAML text")
            if isinstance(e.character, int)
            else YamlIssue((), line, f"invalid YAML: {e.reason}")
        )
    except yaml.YAMLError as e:
        issues.append(YamlIssue((), None, f"invalid YAML: {e}"))
    except RecursionError:
        issues.append(YamlIssue((), None, "invalid YAML: nested too deeply"))
    finally:
        if loader is not None:
            loader.dispose()
    return docs, issues


def _mark_line(mark) -> int | None:
    return mark.line + 1 if mark is not None else None


def _syntax_message(e: yaml.MarkedYAMLError) -> str:
    problem = e.problem or e.context or "unreadable"
    text = f"invalid YAML: {problem}"
    if e.context and e.problem:
        where = ""
        if e.context_mark is not None and e.problem_mark is not None and e.context_mark.line != e.problem_mark.line:
            where = f" at line {e.context_mark.line + 1}"
        text += f" ({e.context}{where})"
    if "'\\t'" in problem:
        text += "; indent with spaces, not tabs"
    return text


class _TooBig(Exception):
    pass


class _Builder:
    """Turns one document's node tree into data, recording lines and issues."""

    def __init__(self) -> None:
        self.value_lines: dict[JsonPath, int] = {}
        self.key_lines: dict[JsonPath, int] = {}
        self.issues: list[YamlIssue] = []
        self.broken: set[JsonPath] = set()
        self.count = 0
        self.active: set[int] = set()  # ids of the collection nodes being built (cycle check)
        self.reported: set[int] = set()  # ids of key nodes already reported (aliases repeat them)
        self.constructor = SafeConstructor()

    def document(self, node: Node) -> Document | YamlIssue:
        line = node.start_mark.line + 1
        try:
            data = self.build(node, (), 0)
        except _TooBig:
            return YamlIssue((), line, f"the document expands to more than {MAX_VALUES} values (too many aliases?)")
        return Document(data, line, self.value_lines, self.key_lines, self.issues, self.broken)

    def issue(self, path: JsonPath, node: Node, message: str, *, broken: bool = False) -> None:
        self.issues.append(YamlIssue(path, node.start_mark.line + 1, message))
        if broken:
            self.broken.add(path)

    def build(self, node: Node, path: JsonPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise _TooBig
        self.value_lines[path] = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            self.issues.append(YamlIssue((), node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep"))
            self.broken.add(path)
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            self.issue(path, node, "an alias refers to a value that contains it", broken=True)
            return None
        if node.tag not in (MAP_TAG, SEQ_TAG):
            self.issue(path, node, f"unsupported YAML tag {node.tag!r}", broken=True)
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
            out = {}
            for key, key_node, value_node in self.entries(node, path):
                self.key_lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self.build(value_node, (*path, key), depth + 1)
            return out
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: JsonPath) -> Any:
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as e:  # any odd scalar (bad !!int, !!timestamp, unknown tag) is a problem, not a crash
            self.constructor.recursive_objects.clear()
            text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            if node.tag.startswith("tag:yaml.org,2002:"):
                reason = f"{text!r} is not a valid !!{node.tag.rsplit(':', 1)[1]}"
            elif isinstance(e, yaml.constructor.ConstructorError):
                reason = f"unsupported YAML tag {node.tag!r}"
            else:
                reason = f"cannot read {text!r}"
            self.issue(path, node, reason, broken=True)
            return None

    def entries(self, node: MappingNode, path: JsonPath) -> list[tuple[str, Node, Node]]:
        """The mapping's (key, key node, value node) in order, merge keys resolved:
        the mapping's own keys win over merged ones, earlier merged mappings over later."""
        own: dict[str, tuple[Node, Node]] = {}
        first_line: dict[str, int] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == MERGE_TAG:
                for src in self.merge_sources(value_node, path):
                    for k, kn, vn in self.entries_of_source(src, path):
                        merged.setdefault(k, (kn, vn))
                continue
            if not isinstance(key_node, ScalarNode):
                if id(key_node) not in self.reported:
                    self.reported.add(id(key_node))
                    kind = "a list" if isinstance(key_node, SequenceNode) else "a mapping"
                    self.issue(path, key_node, f"a key must be plain text, not {kind}")
                continue
            key = key_node.value
            if key in own:
                if id(key_node) not in self.reported:
                    self.reported.add(id(key_node))
                    self.issue(path, key_node, f"duplicate key {key!r} (first at line {first_line[key]})")
            else:
                first_line[key] = key_node.start_mark.line + 1
            own[key] = (key_node, value_node)  # the last one, as PyYAML would keep
        result = [(k, kn, vn) for k, (kn, vn) in own.items()]
        result += [(k, kn, vn) for k, (kn, vn) in merged.items() if k not in own]
        return result

    def merge_sources(self, value_node: Node, path: JsonPath) -> Iterator[MappingNode]:
        if isinstance(value_node, MappingNode):
            yield value_node
            return
        if isinstance(value_node, SequenceNode) and all(isinstance(n, MappingNode) for n in value_node.value):
            yield from value_node.value
            return
        self.issue(path, value_node, "'<<' must merge a mapping or a list of mappings")

    def entries_of_source(self, src: MappingNode, path: JsonPath) -> list[tuple[str, Node, Node]]:
        self.count += len(src.value) + 1  # merges can nest exponentially too
        if self.count > MAX_VALUES:
            raise _TooBig
        if id(src) in self.active:
            self.issue(path, src, "'<<' merges a mapping into itself", broken=True)
            return []
        self.active.add(id(src))
        try:
            return self.entries(src, path)
        finally:
            self.active.discard(id(src))
