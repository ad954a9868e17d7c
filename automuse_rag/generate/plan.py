"""The plan of a novel: numbered chapters (title + a 2-4 sentence plan) and a cast.

The model writes it in one structured call; its output is validated and repaired,
and when it still cannot give a usable plan, a deterministic plan is built from the
premise's sentences, titled by their key noun phrases (``Plan.fallback`` says so, and
so do a note in outline.md and the manuscript). The plan lives in two files a user
may edit, and the next run reads the edited files:

- ``stores/NAME/outline.md``: ``## Chapter N: Title`` headings, each followed by its plan;
- ``stores/NAME/cast.toml``: ``[[characters]]`` and ``[[places]]`` tables with
  ``name`` and ``description``.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from automuse_rag import templates
from automuse_rag.errors import AutomuseError, InputError, ModelError
from automuse_rag.fsutil import write_text_atomic
from automuse_rag.generate.titles import first_words, key_phrases, pick_titles
from automuse_rag.models.base import ChatModel, Message, Sampling
from automuse_rag.text import clip

OUTLINE_FILE = "outline.md"
CAST_FILE = "cast.toml"
_HEADING = re.compile(r"^##\s*Chapter\s+(\d+)\s*[:.\-–—]?\s*(.*?)\s*$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
MIN_PLAN_WORDS = 10  # a chapter plan shorter than this is junk (e.g. a repeated title)
# Under the title of a fallback plan's outline.md; while it is there, the plan is one.
FALLBACK_NOTE = (
    "> The model gave no usable plan, so this one was built from the premise's sentences. "
    "Edit it freely; delete this line once the plan is yours."
)
MANUSCRIPT_FALLBACK_NOTE = (
    "> The model gave no usable plan: these chapters follow an outline built from the premise's sentences (outline.md)."
)


class PlanChapter(BaseModel):
    number: int = Field(ge=1)
    title: str
    plan: str


class CastMember(BaseModel):
    name: str
    kind: Literal["character", "place"] = "character"
    description: str = ""


class PlanSchema(BaseModel):
    """What the model is asked for (the structured call's schema)."""

    title: str = ""
    chapters: list[PlanChapter]
    cast: list[CastMember] = Field(default_factory=list)


class Plan(BaseModel):
    title: str = ""
    chapters: list[PlanChapter]
    cast: list[CastMember] = Field(default_factory=list)
    fallback: bool = False  # True when built from the premise, not by the model

    def chapter(self, number: int) -> PlanChapter:
        """The plan of chapter ``number`` (the last one past the end)."""
        for ch in self.chapters:
            if ch.number == number:
                return ch
        return self.chapters[-1]

    def outline_text(self) -> str:
        """The outline for prompts (without the fallback note)."""
        return render_outline(self, note=False)

    def cast_text(self) -> str:
        """The cast as one line per member, for prompts."""
        return "\n".join(f"- {m.name} ({m.kind}): {m.description}".rstrip(": ") for m in self.cast)


# -- asking the model ----------------------------------------------------------


def plan_messages(premise: str, style: str | None, chapters: int) -> list[Message]:
    style_line = f"Style: {style}\n" if style else ""
    user = templates.render("plan_user.txt", premise=premise.strip(), style_line=style_line, chapters=chapters)
    return [{"role": "system", "content": templates.text("plan_system.txt").strip()}, {"role": "user", "content": user}]


def make_plan(
    premise: str,
    llm: ChatModel,
    *,
    style: str | None = None,
    chapters: int = 4,
    sampling: Sampling | None = None,
) -> Plan:
    """One structured call (plus one repair attempt) for the plan; validated and cleaned.
    Falls back to :func:`fallback_plan` when the model gives nothing usable."""
    premise = premise.strip()
    if not premise:
        raise InputError("the premise is empty; give a premise text or a file holding one")
    sampling = (sampling or Sampling()).with_(max_tokens=max(768, (sampling or Sampling()).max_tokens))
    messages = plan_messages(premise, style, chapters)
    error = "no answer"
    for attempt in range(2):
        try:
            raw = llm.structured(messages, PlanSchema, sampling)
        except AutomuseError as exc:  # StructuredOutputError and other model failures of one call
            raw, error = None, str(exc)
        if raw is None:
            if attempt == 0 and error == "no answer":
                break  # the backend cannot do structured output at all
        else:
            plan = clean_plan(raw, premise)
            if plan is not None:
                return plan
            error = "no chapter had both a title and a plan"
        repair = templates.render("plan_repair.txt", error=error, chapters=chapters)
        messages = [*messages, {"role": "user", "content": repair}]
    return fallback_plan(premise, chapters)


def clean_plan(raw: PlanSchema, premise: str) -> Plan | None:
    """Drop empty chapters and cast members, renumber chapters 1..n, clip lengths,
    dedupe the cast by name. ``None`` if no chapter survives."""
    chapters: list[PlanChapter] = []
    seen_plans: set[str] = set()
    for ch in sorted(raw.chapters, key=lambda c: c.number):
        title, plan = clip(ch.title, 80), clip(ch.plan, 600)
        key = " ".join(re.findall(r"\w+", plan.lower()))
        if title and len(plan.split()) >= MIN_PLAN_WORDS and key not in seen_plans and key != title.lower():
            seen_plans.add(key)
            chapters.append(PlanChapter(number=len(chapters) + 1, title=title, plan=plan))
    if not chapters:
        return None
    cast, seen = [], set()
    for member in raw.cast:
        name = clip(member.name, 60)
        if name and name.lower() not in seen and len(name.split()) <= 6:
            seen.add(name.lower())
            cast.append(CastMember(name=name, kind=member.kind, description=clip(member.description, 200)))
    if not cast:
        cast = fallback_cast(premise)
    title = clip(raw.title, 80) or title_from_premise(premise, cast)
    return Plan(title=title, chapters=chapters, cast=cast)


# -- the deterministic fallback ---------------------------------------------------


def title_from_premise(premise: str, cast: list[CastMember] | None = None) -> str:
    """ "The Story of NAME" after the first character of the cast, else the first
    sentence's key noun phrase."""
    people = [m.name for m in (cast if cast is not None else fallback_cast(premise)) if m.kind == "character"]
    if people:
        return f"The Story of {people[0]}"
    first = _SENTENCE.split(premise.strip(), 1)[0]
    try:
        phrases = key_phrases(first)
    except ModelError:
        phrases = []
    return (phrases[0].title if phrases else first_words(first, 6)) or "Untitled"


_NOT_NAMES = {
    "The", "A", "An", "When", "Her", "His", "She", "He", "They", "It", "In", "At", "On", "As",
    "With", "However", "But", "And", "To", "Along", "Then", "There", "This", "That", "One", "If",
    "Each", "Every", "Some", "All", "No", "For", "After", "Before", "While", "Soon", "Now", "Later", "Once",
    "Meanwhile", "Eventually", "Finally", "Suddenly", "Despite", "Although", "Though", "Because", "So", "Yet",
    "Until", "During", "Deep", "Far", "Years", "What", "Who", "Why", "How", "Where", "Can", "Will", "Their", "Its",
}  # fmt: skip


def fallback_cast(premise: str) -> list[CastMember]:
    """Capitalised words that are not sentence-initial function words, as characters."""
    names: list[str] = []
    for match in re.finditer(r"\b((?:(?:Mr|Mrs|Ms|Dr)\.\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)", premise):
        name = match.group(1)
        if name.split()[0] in _NOT_NAMES:
            name = " ".join(name.split()[1:])
        if name and name not in _NOT_NAMES and not any(name in n.split() or name == n for n in names):
            names.append(name)
    return [CastMember(name=n, kind="character", description="named in the premise") for n in names[:8]]


def fallback_plan(premise: str, chapters: int = 4) -> Plan:
    """A plan built from the premise alone: its sentences shared out over the chapters,
    each titled by a key noun phrase of its sentences (titles.py)."""
    sentences = [s.strip() for s in _SENTENCE.split(premise.strip()) if s.strip()]
    n = max(1, min(chapters, len(sentences)))
    groups = [" ".join(sentences[i * len(sentences) // n : (i + 1) * len(sentences) // n]) for i in range(n)]
    try:
        titles = pick_titles(groups)
    except ModelError:  # no spaCy model: the first words, as a last resort
        titles = [""] * n
    parts = [
        PlanChapter(number=i, title=title or first_words(group), plan=group)
        for i, (group, title) in enumerate(zip(groups, titles, strict=True), start=1)
    ]
    cast = fallback_cast(premise)
    return Plan(title=title_from_premise(premise, cast), chapters=parts, cast=cast, fallback=True)


# -- the editable files -----------------------------------------------------------


def render_outline(plan: Plan, note: bool = True) -> str:
    """outline.md's text; ``note``: say so under the title when the plan fell back."""
    lines = [f"# {plan.title}", ""] if plan.title else []
    if note and plan.fallback:
        lines += [FALLBACK_NOTE, ""]
    for ch in plan.chapters:
        lines += [f"## Chapter {ch.number}: {ch.title}", "", ch.plan, ""]
    return "\n".join(lines).rstrip() + "\n"


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def render_cast(plan: Plan) -> str:
    out = ["# The cast of the novel: edit freely, then run `automuse generate` again.", ""]
    for kind, table in (("character", "characters"), ("place", "places")):
        for m in (m for m in plan.cast if m.kind == kind):
            out += [f"[[{table}]]", f"name = {_toml_str(m.name)}", f"description = {_toml_str(m.description)}", ""]
    return "\n".join(out)


def save_plan(plan: Plan, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    outline, cast = directory / OUTLINE_FILE, directory / CAST_FILE
    write_text_atomic(outline, render_outline(plan))
    write_text_atomic(cast, render_cast(plan))
    return outline, cast


def parse_outline(text: str, source: str = OUTLINE_FILE) -> tuple[str, list[PlanChapter]]:
    """(title, chapters) from an outline.md; InputError on a broken edit."""
    title, chapters = "", []
    current: tuple[int, str] | None = None
    body: list[str] = []

    def close() -> None:
        if current is not None:
            plan = " ".join(" ".join(body).split())
            if not plan:
                raise InputError(f"{source}: chapter {current[0]} has no plan text under its heading")
            chapters.append(PlanChapter(number=current[0], title=current[1] or f"Chapter {current[0]}", plan=plan))

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            close()
            current, body = (int(m.group(1)), m.group(2)), []
        elif line.startswith("# ") and current is None and not title:
            title = line[2:].strip()
        elif line.startswith("##"):
            raise InputError(f"{source}: heading {line.strip()!r} is not like '## Chapter N: Title'")
        elif current is not None:
            body.append(line)
    close()
    if not chapters:
        raise InputError(f"{source}: no chapters found; write them as '## Chapter N: Title' followed by the plan")
    numbers = [c.number for c in chapters]
    if numbers != list(range(1, len(numbers) + 1)):
        raise InputError(f"{source}: chapters must be numbered 1, 2, 3... in order (found {numbers})")
    return title, chapters


def parse_cast(text: str, source: str = CAST_FILE) -> list[CastMember]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    cast = []
    tables: tuple[tuple[str, Literal["character", "place"]], ...] = (("characters", "character"), ("places", "place"))
    for table, kind in tables:
        for i, item in enumerate(data.get(table, [])):
            try:
                member = CastMember(kind=kind, **{k: item[k] for k in ("name", "description") if k in item})
            except (ValidationError, TypeError):
                raise InputError(f"{source}: [[{table}]] entry {i + 1} needs a name and a description (strings)") from None
            if not member.name.strip():
                raise InputError(f"{source}: [[{table}]] entry {i + 1} has an empty name")
            cast.append(member)
    return cast


def load_plan(directory: Path) -> Plan | None:
    """The plan from the (possibly edited) files, or None if there is none yet."""
    outline, cast = directory / OUTLINE_FILE, directory / CAST_FILE
    if not outline.exists():
        return None
    text = outline.read_text(encoding="utf-8")
    title, chapters = parse_outline(text, str(outline))
    members = parse_cast(cast.read_text(encoding="utf-8"), str(cast)) if cast.exists() else []
    fallback = FALLBACK_NOTE in text.splitlines()
    return Plan(title=title, chapters=chapters, cast=members, fallback=fallback)
