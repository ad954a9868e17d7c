"""Prompt templates: package data files (``automuse_rag/templates/prompt_*.txt``) or a
user's file.

Syntax (documented in ``prompt_default.txt`` itself):

* everything before the first header is a comment;
* a header line ``[[section NAME key=value ...]]`` starts a section, whose body is
  the lines up to the next header (surrounding blank lines are stripped);
* the content sections ``outline``, ``lore``, ``memories`` and ``last_chunk`` put
  their content where the body says ``{content}`` and are left out when empty;
  any other section is fixed text and always included;
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
from importlib import resources
from pathlib import Path

from automuse_rag.errors import InputError

CONTENT_SECTIONS = ("outline", "lore", "memories", "last_chunk")
PLACEHOLDER = "{content}"
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
            return self.body
        if not content:
            return ""
        return self.body.replace(PLACEHOLDER, content)


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

    def messages(self, sections: dict[str, str]) -> tuple[str, str]:
        """(system, user) texts for the chat format from rendered sections.

        ``system + SEPARATOR + user`` equals the whole prompt text when both are
        non-empty, because system sections come first."""
        parts: dict[str, list[str]] = {"system": [], "user": []}
        for spec in self.sections:
            if spec.name in sections:
                parts[spec.role].append(sections[spec.name])
        return SEPARATOR.join(parts["system"]), SEPARATOR.join(parts["user"])


def parse_template(text: str, name: str = "template") -> Template:
    """Parse template text; raises :class:`InputError` on a malformed template."""
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
    _validate(name, sections)
    return Template(name=name, sections=tuple(sections))


def _parse_keys(name: str, lineno: int, raw: str) -> dict[str, str]:
    keys = dict(pair.split("=", 1) for pair in raw.split())
    unknown = set(keys) - {"quota", "priority", "role"}
    if unknown:
        raise InputError(f"template {name}, line {lineno}: unknown key(s) {', '.join(sorted(unknown))} (use quota, priority, role)")
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


def _validate(name: str, sections: list[SectionSpec]) -> None:
    if not sections:
        raise InputError(f"template {name} has no [[section NAME]] headers")
    names = [s.name for s in sections]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"template {name} repeats section(s): {', '.join(dupes)}")
    for spec in sections:
        if spec.is_content and PLACEHOLDER not in spec.body:
            raise InputError(f"template {name}: section {spec.name} must contain {PLACEHOLDER}")
    if "last_chunk" not in names:
        raise InputError(f"template {name} needs a last_chunk section")
    roles = [s.role for s in sections]
    if "user" in roles and "system" in roles[roles.index("user"):]:
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
    ref = resources.files("automuse_rag").joinpath("templates", f"prompt_{name}.txt")
    if not ref.is_file():
        raise InputError(f"no built-in template {name!r} (built-in: default, chat)")
    return parse_template(ref.read_text(encoding="utf-8"), name=name)
