"""Prompt templates: package data files (``automuse_rag/templates/prompt_*.txt``) or a
user's file.

Syntax (documented in ``prompt_default.txt`` itself):

* everything before the first header is a comment;
* a header line ``[[section NAME key=value ...]]`` starts a section, whose body is
  the lines up to the next header (surrounding blank lines are stripped);
* the content sections ``outline``, ``lore``, ``memories`` and ``last_chunk`` put
  their content where the body says ``$content`` and are left out when empty;
  any other section is fixed text and always included; bodies use
  :class:`string.Template` syntax (``$$`` for a literal dollar sign), the one
  syntax of every template (:mod:`automuse_rag.templates`); a file written for the
  former ``{content}`` placeholder is still read (:func:`parse_template`);
* keys: ``quota`` (share of the budget, 0..1, a section may fill in the first
  pass), ``priority`` (1 = served first), ``role`` (``system`` or ``user``: where
  the section goes in the chat format; system sections must come first; the
  default is ``user`` for ``last_chunk``, ``cue`` and anything after a user
  section, else ``system``).

Sections are joined with one blank line (:data:`SEPARATOR`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template as StrTemplate

from automuse_rag import templates
from automuse_rag.errors import InputError

CONTENT_SECTIONS = ("outline", "lore", "memories", "last_chunk")
PLACEHOLDER = "$content"
_LEGACY_PLACEHOLDER = "{content}"
SEPARATOR = "\n\n"
_HEADER = re.compile(r"^\[\[section\s+(\w+)((?:\s+\w+=\S+)*)\s*\]\]\s*$")
_DEFAULT_QUOTA = {"outline": 0.15, "lore": 0.2, "memories": 0.3, "last_chunk": 0.35}
_DEFAULT_PRIORITY = {"last_chunk": 1, "outline": 2, "memories": 3, "lore": 4}


@dataclass(frozen=True)
class SectionSpec:
    """One section of a template."""

    name: str
    body: str
    quota: float = 0.0
    priority: int = 9
    role: str = "system"

    @property
    def is_content(self) -> bool:
        return self.name in CONTENT_SECTIONS

    def render(self, content: str) -> str:
        """The section's text with ``content`` in place ('' for an empty content section)."""
        if not self.is_content:
            return StrTemplate(self.body).substitute()
        if not content:
            return ""
        return StrTemplate(self.body).substitute(content=content)

    def frame(self) -> tuple[str, str]:
        """The text a content section puts before and after its content."""
        head, _, foot = StrTemplate(self.body).substitute(content="\0").partition("\0")
        return head, foot


@dataclass(frozen=True)
class Template:
    """A parsed prompt template: its sections in prompt order."""

    name: str
    sections: tuple[SectionSpec, ...]

    def section(self, name: str) -> SectionSpec | None:
        return next((s for s in self.sections if s.name == name), None)

    def content_sections(self) -> list[SectionSpec]:
        """Content sections, highest priority (lowest number) first."""
        return sorted((s for s in self.sections if s.is_content), key=lambda s: (s.priority, s.name))

    def render(self, contents: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The prompt text and each non-empty section's rendered text."""
        rendered = {s.name: s.render(contents.get(s.name, "")) for s in self.sections}
        rendered = {k: v for k, v in rendered.items() if v}
        return SEPARATOR.join(rendered.values()), rendered


def parse_template(text: str, name: str = "template", values: dict[str, str] | None = None) -> Template:
    """Parse template text; raises :class:`InputError` on a malformed template.

    ``values`` fill ``$name`` placeholders of the fixed sections (``write_prompt.txt``
    has ``$style``, ``$cast``, ...). Text written for the former ``{content}``
    placeholder (no ``$content`` anywhere) is read with every ``$`` literal."""
    if _LEGACY_PLACEHOLDER in text and PLACEHOLDER not in text:
        text = text.replace("$", "$$").replace(_LEGACY_PLACEHOLDER, PLACEHOLDER)
    sections: list[SectionSpec] = []
    current: tuple[str, dict[str, str]] | None = None
    body: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        match = _HEADER.match(line.strip())
        if match is None:
            body.append(line)
            continue
        if current is not None:
            sections.append(_make_section(name, current, body, sections))
        current = (match.group(1), _parse_keys(name, lineno, match.group(2)))
        body = []
    if current is not None:
        sections.append(_make_section(name, current, body, sections))
    if values:
        sections = [s if s.is_content else _fill(name, s, values) for s in sections]
    _validate(name, sections)
    return Template(name=name, sections=tuple(sections))


def _parse_keys(name: str, lineno: int, raw: str) -> dict[str, str]:
    keys = dict(pair.split("=", 1) for pair in raw.split())
    unknown = set(keys) - {"quota", "priority", "role"}
    if unknown:
        raise InputError(
            f"template {name}, line {lineno}: unknown key(s) {', '.join(sorted(unknown))} (use quota, priority, role)"
        )
    return keys


def _make_section(tname: str, header: tuple[str, dict[str, str]], body: list[str], before: list[SectionSpec]) -> SectionSpec:
    sname, keys = header
    try:
        quota = float(keys.get("quota", _DEFAULT_QUOTA.get(sname, 0.0)))
        priority = int(keys.get("priority", _DEFAULT_PRIORITY.get(sname, 9)))
    except ValueError:
        raise InputError(f"template {tname}: section {sname} has a non-numeric quota or priority") from None
    after_user = any(s.role == "user" for s in before)
    role = keys.get("role", "user" if sname in ("last_chunk", "cue") or after_user else "system")
    if role not in ("system", "user"):
        raise InputError(f"template {tname}: section {sname} has role {role!r} (use system or user)")
    if not 0.0 <= quota <= 1.0:
        raise InputError(f"template {tname}: section {sname} has quota {quota} outside 0..1")
    return SectionSpec(name=sname, body="\n".join(body).strip("\n"), quota=quota, priority=priority, role=role)


def _fill(tname: str, spec: SectionSpec, values: dict[str, str]) -> SectionSpec:
    try:
        body = StrTemplate(spec.body).substitute(values)
    except (KeyError, ValueError) as exc:
        raise InputError(f"template {tname}: section {spec.name} has a bad placeholder ({exc})") from None
    return SectionSpec(spec.name, body.replace("$", "$$"), spec.quota, spec.priority, spec.role)


def _validate(name: str, sections: list[SectionSpec]) -> None:
    if not sections:
        raise InputError(f"template {name} has no [[section NAME]] headers")
    names = [s.name for s in sections]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"template {name} repeats section(s): {', '.join(dupes)}")
    for spec in sections:
        body = StrTemplate(spec.body)
        if spec.is_content and "content" not in body.get_identifiers():
            raise InputError(f"template {name}: section {spec.name} must contain {PLACEHOLDER}")
        if not body.is_valid() or set(body.get_identifiers()) - ({"content"} if spec.is_content else set()):
            raise InputError(
                f"template {name}: section {spec.name} has a $ that is not {PLACEHOLDER} (write $$ for a dollar sign)"
            )
    if "last_chunk" not in names:
        raise InputError(f"template {name} needs a last_chunk section")
    roles = [s.role for s in sections]
    if "user" in roles and "system" in roles[roles.index("user") :]:
        raise InputError(f"template {name}: system sections must all come before user sections")


def load_template(source: str | Path | None = None) -> Template:
    """A template by package name (``default``, ``chat``), or from a file path.

    ``None`` gives the default template."""
    if source is None:
        source = "default"
    if isinstance(source, str) and "/" not in source and not source.endswith(".txt"):
        return _package_template(source)
    path = Path(source)
    if not path.is_file():
        raise InputError(f"template file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"template file is not UTF-8 text: {path}") from None
    return parse_template(text, name=str(path))


def _package_template(name: str) -> Template:
    if not templates.exists(f"prompt_{name}.txt"):
        raise InputError(f"no built-in template {name!r} (built-in: default, chat)")
    return parse_template(templates.text(f"prompt_{name}.txt"), name=name)
