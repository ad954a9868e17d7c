"""JSON-schema -> GBNF for the local model's structured calls.

Why not llama-cpp-python's own converter: its strings admit raw control characters
(a raw newline inside a summary), which no JSON parser accepts, and it writes
``maxLength: N`` as N nested optional rules, so sampling each token of a long string
walks a grammar stack N deep (about a second a token for a 700-character summary on
the reference machine). Here strings exclude control characters and a bounded string
is built from groups of ``g = ceil(sqrt(N))`` characters, so the stack stays about
``2 * sqrt(N)`` deep. Every property is written, in schema order. Schemas using
anything else (``anyOf``, patterns...) fall back to llama.cpp's converter with strict
strings.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, cast

CHAR = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'
_SCALARS = {
    "integer": '("-"? ([0-9] | [1-9] [0-9]*)) space',
    "number": '("-"? ([0-9] | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?) space',
    "boolean": '("true" | "false") space',
    "null": '"null" space',
}


_CONSTRAINTS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "uniqueItems", "const"}


class Unsupported(Exception):
    pass


def _optional_chain(item: str, n: int) -> str:
    """Up to ``n`` repetitions of ``item``, as nested optionals (``x (x (x)?)?``)."""
    out = ""
    for _ in range(n):
        out = f"({item}{(' ' + out) if out else ''})?"
    return out


class _Builder:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.rules: dict[str, str] = {}

    def rule(self, name: str, body: str) -> str:
        name = re.sub(r"[^A-Za-z0-9-]", "-", name)
        self.rules.setdefault(name, body)
        return name

    def string(self, limit: int | None) -> str:
        if limit is None:
            return self.rule("string", '"\\"" char* "\\"" space')
        group = max(1, math.ceil(math.sqrt(limit)))
        groups = max(0, (limit - (group - 1)) // group)
        name = self.rule(f"g{group}", " ".join(["char"] * group)) if groups else ""
        parts = [
            p for p in (_optional_chain(name, groups) if groups else "", _optional_chain("char", min(group - 1, limit))) if p
        ]
        return self.rule(f"str{limit}", '"\\"" ' + " ".join(parts) + ' "\\"" space')

    def visit(self, schema: dict[str, Any], hint: str) -> str:
        if "$ref" in schema:
            ref = schema["$ref"].rsplit("/", 1)[-1]
            name = re.sub(r"[^A-Za-z0-9-]", "-", ref)
            if name not in self.rules:
                self.rules[name] = ""  # placeholder against recursion
                self.rules[name] = self.body(self.root["$defs"][ref], name)
            return name
        return self.rule(hint, self.body(schema, hint))

    def body(self, schema: dict[str, Any], hint: str) -> str:
        if set(schema) & _CONSTRAINTS or schema.get("minItems", 0):
            raise Unsupported(str(schema)[:80])
        if "enum" in schema:
            return "(" + " | ".join(json.dumps(json.dumps(v)) for v in schema["enum"]) + ") space"
        kind = schema.get("type")
        if kind == "string" and not (set(schema) & {"pattern", "format", "minLength"}):
            return self.string(schema.get("maxLength"))
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array" and "items" in schema:
            item = self.visit(schema["items"], f"{hint}-item")
            limit = schema.get("maxItems")
            if limit is None:
                return f'"[" space ({item} ("," space {item})*)? "]" space'
            rest = _optional_chain(f'"," space {item}', int(limit) - 1) if int(limit) > 1 else ""
            inner = f"({item}{(' ' + rest) if rest else ''})?" if int(limit) > 0 else ""
            return f'"[" space {inner} "]" space'
        if kind == "object" and "properties" in schema and not schema.get("additionalProperties"):
            parts = []
            for i, (key, prop) in enumerate(schema["properties"].items()):
                value = self.visit(prop, f"{hint}-{key}")
                parts.append(("" if i == 0 else '"," space ') + json.dumps(json.dumps(key)) + f' space ":" space {value}')
            return '"{" space ' + " ".join(parts) + ' "}" space'
        raise Unsupported(str(schema)[:80])


def schema_gbnf(json_schema: dict[str, Any]) -> str:
    """A GBNF grammar whose every complete sentence is valid JSON for ``json_schema``."""
    try:
        builder = _Builder(json_schema)
        root = builder.visit(json_schema, "root")
        rules = [f"root ::= {root}"] if root != "root" else []
        rules += [f"{name} ::= {body}" for name, body in builder.rules.items()]
        return "\n".join(rules + ['space ::= " "?', CHAR]) + "\n"
    except Unsupported:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        gbnf = cast(str, json_schema_to_gbnf(json.dumps(json_schema)))  # llama_cpp leaves it unannotated (Any)
        return gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)
