"""Safe YAML loading that remembers the line of every value.

PyYAML's safe composer gives a node tree with positions; this module turns it
into plain Python data (dicts, lists, scalars) and records, for each JSON path
(a tuple of keys and indices), the 1-based line where it was written. It also
reports what PyYAML lets through silently (duplicate keys) or would crash on
(recursive aliases, alias bombs, unknown tags), so that no input ends in a
traceback: everything wrong becomes a :class:`YamlIssue`. ``${VAR}`` references in
values are substituted on the way (:mod:`vizctl.manifests.variables`).

Most manifests are plain: no anchors, aliases, tags or merge keys. Those are
built straight from the parser's events, several times faster than through
PyYAML's node tree; anything else, and anything wrong, takes the node path,
which is the reference: both give the same :class:`Document`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Union

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from vizctl.manifests.variables import substitute

JsonPath = tuple[Union[str, int], ...]

MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
NULL_TAG = "tag:yaml.org,2002:null"
STR_TAG = "tag:yaml.org,2002:str"
PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp"))

MAX_VALUES = 100_000  # per file, after alias expansion (about 15,000 jobs): stops "billion laughs"
MAX_DEPTH = 64  # nesting; a manifest needs about 4


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
    variables: dict[str, str | None] = field(default_factory=dict)  # ${NAME} read -> value (None: unset)

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


def load_documents(text: str, environ: Mapping[str, str]) -> tuple[list[Document], list[YamlIssue]]:
    """Every non-empty document of a YAML stream, plus issues that stopped reading;
    ``${VAR}`` references in values are read from ``environ``.

    A syntax error ends the stream: the documents before it are returned, the
    error is an issue with its line.
    """
    docs = _plain_documents(text, environ)
    if docs is not None:
        return docs, []
    beyond = _beyond_limits(text)
    if beyond is not None:  # before PyYAML holds a node object for each value, or recurses
        return [], [beyond]
    docs, issues = _load_with(_FAST_LOADER, text, environ)
    if (issues or any(doc.issues for doc in docs)) and _FAST_LOADER is not yaml.SafeLoader:
        return _load_with(yaml.SafeLoader, text, environ)
    return docs, issues


class _NotPlain(Exception):
    """The text needs the node path: an anchor, alias, tag, merge key, odd key or any problem."""


def _plain_documents(text: str, environ: Mapping[str, str]) -> list[Document] | None:
    """The documents of a plain text straight from the parser's events, or None."""
    loader = _FAST_LOADER(text)
    try:
        loader.get_event()  # the stream's start
        docs = []
        spent = 0  # values so far, against MAX_VALUES for the file
        while type(loader.peek_event()) is not StreamEndEvent:
            loader.get_event()  # a document's start
            doc = _plain_document(loader.get_event, environ, MAX_VALUES - spent)
            if doc is not None:
                docs.append(doc)
                spent += len(doc.value_lines)
        return docs
    except Exception:  # noqa: BLE001 - whatever it is, the node path reads it again and explains it
        return None
    finally:
        loader.dispose()


def _beyond_limits(text: str) -> YamlIssue | None:
    """An issue for a text written with more than MAX_VALUES values (aliases not yet
    expanded) or nested deeper than MAX_DEPTH, found from the parser's events in
    constant memory."""
    loader = _FAST_LOADER(text)
    count = depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, (ScalarEvent, MappingStartEvent, SequenceStartEvent, AliasEvent)):
                count += 1
                line = event.start_mark.line + 1
                if count > MAX_VALUES:
                    return YamlIssue((), line, f"more than {MAX_VALUES} values in this file: split it into several files")
                if not isinstance(event, (ScalarEvent, AliasEvent)):
                    depth += 1
                    if depth > MAX_DEPTH:
                        return YamlIssue((), line, f"nested more than {MAX_DEPTH} levels deep")
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's own limit (1,000), met scanning ahead
            return YamlIssue((), _mark_line(e.problem_mark), f"nested more than {MAX_DEPTH} levels deep")
        # anything else the node path reports, having met no more than the limits before it
    finally:
        loader.dispose()
    return None


_RESOLVER = Resolver()
_CONSTRUCTOR = SafeConstructor()


def _plain_scalar(value: str) -> Any:
    """An unquoted scalar's value, typed as YAML 1.1 types it (int, bool, null, date...)."""
    tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
    if tag == STR_TAG:
        return value
    if tag not in PLAIN_TAGS:
        raise _NotPlain(tag)
    return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, ScalarNode(tag, value))


def _plain_document(next_event, environ: Mapping[str, str], max_values: int) -> Document | None:
    """One document of plain YAML from its events (the start already read); None when empty."""
    value_lines: dict[JsonPath, int] = {}
    key_lines: dict[JsonPath, int] = {}
    variables: dict[str, str | None] = {}
    stack: list[list] = []  # [container, its path, the key read and not yet given a value]
    root = None
    count = 0
    while True:
        event = next_event()
        kind = type(event)
        if kind is DocumentEndEvent:
            break
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
            continue
        if event.anchor is not None or event.tag is not None or len(stack) > MAX_DEPTH:
            raise _NotPlain
        line = event.start_mark.line + 1
        if kind is ScalarEvent:
            value: Any = event.value
            if stack and type(stack[-1][0]) is dict and stack[-1][2] is None:  # a key
                top = stack[-1]
                if value in top[0] or (value == "<<" and event.implicit[0]):
                    raise _NotPlain  # a duplicate or a merge key
                top[2] = value
                key_lines[(*top[1], value)] = line
                continue
            if "${" in value:
                sub = substitute(value, environ)
                if sub.problems:
                    raise _NotPlain
                variables.update(sub.used)
                value = sub.text
            if event.implicit[0]:
                value = _plain_scalar(value)
        elif kind is MappingStartEvent:
            value = {}
        elif kind is SequenceStartEvent:
            value = []
        else:
            raise _NotPlain  # an alias
        count += 1
        if count > max_values:
            raise _NotPlain
        if not stack:
            root, path = value, ()
        else:
            top = stack[-1]
            if type(top[0]) is list:
                path = (*top[1], len(top[0]))
                top[0].append(value)
            elif top[2] is None:
                raise _NotPlain  # a mapping or list as a key
            else:
                path = (*top[1], top[2])
                top[0][top[2]] = value
                top[2] = None
        value_lines[path] = line
        if kind is not ScalarEvent:
            stack.append([value, path, None])
    if root is None:
        return None
    return Document(root, value_lines[()], value_lines, key_lines, variables=variables)


def _load_with(loader_class, text: str, environ: Mapping[str, str]) -> tuple[list[Document], list[YamlIssue]]:
    docs: list[Document] = []
    issues: list[YamlIssue] = []
    loader = None
    spent = 0  # values built so far, against MAX_VALUES for the file
    try:
        loader = loader_class(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, ScalarNode) and node.tag == NULL_TAG):
                continue  # an empty document
            builder = _Builder(environ, spent)
            doc = builder.document(node)
            spent = builder.count
            if isinstance(doc, YamlIssue):
                issues.append(doc)
            else:
                docs.append(doc)
    except yaml.MarkedYAMLError as e:
        line = _mark_line(e.problem_mark or e.context_mark)
        message = _syntax_message(e)
        if line is not None:  # an error at the end of the text is on its last line, not past it
            line = max(1, min(line, len(text.splitlines())))
            if "flow" in (e.context or "") and "${" in text.splitlines()[line - 1]:
                message += "; quote a value holding ${...} inside { } or [ ]"
        issues.append(YamlIssue((), line, message))
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


def _short(text: str) -> str:
    """Text for a message: at most 40 characters."""
    return text if len(text) <= 40 else text[:37] + "..."


class _TooBig(Exception):
    pass


class _Builder:
    """Turns one document's node tree into data, recording lines and issues."""

    def __init__(self, environ: Mapping[str, str], spent: int) -> None:
        self.environ = environ
        self.variables: dict[str, str | None] = {}
        self.value_lines: dict[JsonPath, int] = {}
        self.key_lines: dict[JsonPath, int] = {}
        self.issues: list[YamlIssue] = []
        self.broken: set[JsonPath] = set()
        self.count = spent  # values built in this file, this document's included
        self.active: set[int] = set()  # ids of the collection nodes being built (cycle check)
        self.reported: set[int] = set()  # ids of key nodes already reported (aliases repeat them)
        self.constructor = SafeConstructor()

    def document(self, node: Node) -> Document | YamlIssue:
        line = node.start_mark.line + 1
        try:
            data = self.build(node, (), 0)
        except _TooBig:
            return YamlIssue((), line, f"more than {MAX_VALUES} values in this file once aliases are expanded (too many aliases?)")
        return Document(data, line, self.value_lines, self.key_lines, self.issues, self.broken, self.variables)

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
        if "${" in node.value:
            sub = substitute(node.value, self.environ)
            self.variables.update(sub.used)
            for problem in sub.problems:
                self.issue(path, node, problem, broken=True)
            if sub.problems:
                return None
            tag = node.tag
            if not node.style and tag == STR_TAG:  # unquoted (libyaml says "", PyYAML None): typed as if the value were written there
                tag = _RESOLVER.resolve(ScalarNode, sub.text, (True, False))
            node = ScalarNode(tag, sub.text, node.start_mark, node.end_mark, node.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as e:  # any odd scalar (bad !!int, !!timestamp, unknown tag) is a problem, not a crash
            self.constructor.recursive_objects.clear()
            text = _short(node.value)
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
                    self.issue(path, key_node, f"duplicate key {_short(key)!r} (first at line {first_line[key]})")
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
