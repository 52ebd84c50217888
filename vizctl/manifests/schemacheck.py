"""The manifest schema compiled once into one fast yes/no check of a whole document.

jsonschema explains every error but walks the schema anew for every value
(about 1.5 s for 10,000 jobs). Most manifests are valid, so the loader first
asks this compiled predicate, and only for a document it rejects runs
jsonschema to say why. The predicate knows the keywords the manifest schema
uses; a schema with any other keyword is refused at compile time
(:class:`UnsupportedSchema`), and the loader then uses jsonschema alone, so a
new keyword can never be skipped silently. ``tests/test_manifest_properties.py``
checks that both always agree.
"""

from __future__ import annotations

import re
from typing import Any, Callable

Check = Callable[[Any], bool]

# Keywords that say nothing about validity (JSON Schema's, and those editors read for completion).
ANNOTATIONS = frozenset({
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
    "markdownDescription", "enumDescriptions", "markdownEnumDescriptions", "deprecationMessage", "defaultSnippets",
})


class UnsupportedSchema(Exception):
    """The schema uses a keyword this module does not compile."""


def ecma_pattern(pattern: str) -> str:
    """A JSON Schema (ECMA-262) pattern as a Python one: a final ``$`` is the very
    end of the text, where Python's would also match before a final newline."""
    return pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema's ``const`` and ``enum`` mean it: ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return a == b


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or v.is_integer()),
}


def _valid_regex(v: Any) -> bool:
    if not isinstance(v, str):
        return True
    try:
        re.compile(v)
    except re.error:
        return False
    return True


def compile_schema(root: dict) -> Check:
    """A predicate telling whether a document is valid against ``root``."""
    compiled: dict[int, Check] = {}

    def resolve(ref: str) -> dict:
        if not ref.startswith("#"):
            raise UnsupportedSchema(f"$ref {ref!r}")
        node: Any = root
        for part in filter(None, ref[1:].split("/")):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def build(schema: Any) -> Check:
        if isinstance(schema, bool):
            return (lambda v: True) if schema else (lambda v: False)
        key = id(schema)
        if key not in compiled:
            compiled[key] = lambda v: compiled[key](v)  # until built: lets a schema refer to itself
            compiled[key] = _all(keywords(schema))
        return compiled[key]

    def keywords(schema: dict) -> list[Check]:
        out: list[Check] = []
        for kw, arg in schema.items():
            if kw in ANNOTATIONS or kw == "$defs":
                continue
            if kw == "$ref":
                out.append(build(resolve(arg)))
            elif kw == "type":
                tests = [_TYPES[t] for t in ([arg] if isinstance(arg, str) else arg)]
                out.append(tests[0] if len(tests) == 1 else lambda v, tests=tests: any(t(v) for t in tests))
            elif kw == "properties":
                props = {name: build(sub) for name, sub in arg.items()}
                out.append(lambda v, props=props: not isinstance(v, dict) or all(props[k](x) for k, x in v.items() if k in props))
            elif kw == "additionalProperties":
                known = frozenset(schema.get("properties", {}))
                extra = build(arg)
                out.append(lambda v, known=known, extra=extra: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known))
            elif kw == "required":
                names = tuple(arg)
                out.append(lambda v, names=names: not isinstance(v, dict) or all(n in v for n in names))
            elif kw == "items":
                item = build(arg)
                out.append(lambda v, item=item: not isinstance(v, list) or all(item(x) for x in v))
            elif kw == "const":
                out.append(lambda v, c=arg: json_equal(v, c))
            elif kw == "enum":
                out.append(lambda v, choices=tuple(arg): any(json_equal(v, c) for c in choices))
            elif kw == "pattern":
                search = re.compile(ecma_pattern(arg)).search
                out.append(lambda v, search=search: not isinstance(v, str) or search(v) is not None)
            elif kw == "minLength":
                out.append(lambda v, n=arg: not isinstance(v, str) or len(v) >= n)
            elif kw == "maxLength":
                out.append(lambda v, n=arg: not isinstance(v, str) or len(v) <= n)
            elif kw == "minimum":
                out.append(lambda v, n=arg: not _is_number(v) or v >= n)
            elif kw == "maximum":
                out.append(lambda v, n=arg: not _is_number(v) or v <= n)
            elif kw == "oneOf":
                subs = [build(s) for s in arg]
                out.append(lambda v, subs=subs: sum(1 for s in subs if s(v)) == 1)
            elif kw == "format" and arg == "regex":
                out.append(_valid_regex)
            else:
                raise UnsupportedSchema(f"keyword {kw!r}")
        return out

    return build(root)


def _all(tests: list[Check]) -> Check:
    """One check passing where every one of ``tests`` does: chained ``and``s (a generator per value costs more)."""
    if not tests:
        return lambda v: True
    check = tests[0]
    for test in tests[1:]:
        check = lambda v, first=check, then=test: first(v) and then(v)  # noqa: E731
    return check
