"""A writer's corrections of who is who (``automuse characters --merge A B`` /
``--split NAME`` / ``--undo N``): checked against the story, stored in
``state.sqlite`` (the ``corrections`` table) and applied by re-resolving the stored
lore from the chunk they are in force from (:meth:`StateWriter.correct`), under the
story's lock; the exports are rewritten. Ingest and repair fold them in again
whenever they re-resolve (they read them back with the lore), and ``automuse check``
reports those that no longer apply (:func:`correction_problems`).
"""

from __future__ import annotations

import difflib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from automuse_rag.errors import InputError
from automuse_rag.lore.corrections import MERGE, SPLIT
from automuse_rag.lore.lorestate import LoreState
from automuse_rag.lore.stats import Correction
from automuse_rag.memory.state import load_lore, read_corrections
from automuse_rag.memory.story import editing
from automuse_rag.settings import Settings


@dataclass(frozen=True)
class Asked:
    """One correction as the writer asks for it (``b`` is "" for a split)."""

    kind: str
    a: str
    b: str = ""


def describe(c: Correction) -> str:
    """One line: ``merged 'Mrs. Rachel' into 'Rachel Lynde' from chunk 0``."""
    if c.kind == MERGE:
        return f"merged {c.a!r} into {c.b!r} from chunk {c.chunk}"
    return f"split {c.a!r} into an entity of its own from chunk {c.chunk}"


def _label(c: Correction) -> str:
    what = f"merge {c.a!r} into {c.b!r}" if c.kind == MERGE else f"split {c.a!r}"
    return f"correction {c.seq} ({what} from chunk {c.chunk})"


def _known(story: str, lore: LoreState, name: str) -> str:
    """The entity id of ``name`` as of the story's last chunk, else InputError."""
    eid = lore.eid_of.get(name)
    if eid is None:
        close = difflib.get_close_matches(name, sorted(lore.eid_of), n=3)
        hint = f" (did you mean {', '.join(repr(n) for n in close)}?)" if close else ""
        raise InputError(f"story {story} has no name {name!r}{hint}")
    kind = lore.entities[eid].kind
    if kind != "character":
        raise InputError(f"{name!r} is a {kind} in story {story}, not a character")
    return eid


def check_asked(story: str, lore: LoreState, asked: Sequence[Asked], chunk: int, last: int) -> None:
    """InputError (one line) unless every correction can be given: names of characters
    as of the last chunk, two different names to merge, a split name that shares its
    entity, ``chunk`` within the story."""
    if last < 0:
        raise InputError(f"story {story} has no chunks yet")
    if not 0 <= chunk <= last:
        raise InputError(f"--from {chunk} is outside story {story} (chunks 0 to {last})")
    for q in asked:
        eid = _known(story, lore, q.a)
        if q.kind == MERGE:
            if q.a == q.b:
                raise InputError(f"--merge needs two different names, not {q.a!r} twice")
            _known(story, lore, q.b)
        elif q.kind == SPLIT and lore.entities[eid].members == (q.a,):
            raise InputError(f"{q.a!r} is already an entity of its own in story {story}")


def correct_story(
    settings: Settings, story: str, asked: Sequence[Asked], chunk: int = 0, undo: Sequence[int] = ()
) -> tuple[list[Correction], list[Correction]]:
    """Give the ``asked`` corrections (in force from ``chunk``) and forget those
    numbered ``undo``; re-resolve the story and rewrite its exports. Returns (given,
    forgotten). Nothing is stored when any of them is refused (InputError)."""
    undo = list(dict.fromkeys(undo))
    with editing(settings, story) as mem:
        lore = load_lore(mem.db)
        check_asked(story, lore, asked, chunk, mem.reader.last_index())
        stored = {c.seq: c for c in read_corrections(mem.db)}
        missing = [n for n in undo if n not in stored]
        if missing:
            have = ", ".join(str(n) for n in sorted(stored)) or "none"
            raise InputError(f"story {story} has no correction {missing[0]} (its corrections: {have})")
        assert mem.writer is not None
        given = mem.writer.correct([(q.kind, q.a, q.b, chunk) for q in asked], list(undo))
        mem.write_exports()
    return given, [stored[n] for n in undo]


def correction_problems(db: sqlite3.Connection, story: str) -> list[str]:
    """One line per correction that no longer applies to the story as it is now: a
    name no longer in it, a chunk past its end, a merge whose names are apart anyway
    (a later correction), a split whose name is in one entity with others again (a
    later merge) or is alone even without it ("no longer needed"). A merge of names
    that are one entity without it is fine."""
    fixes = read_corrections(db)
    if not fixes:
        return []
    lore = load_lore(db)
    problems = []
    for c in fixes:
        why = _stale(c, lore)
        if why:
            problems.append(f"{_label(c)} {why} (forget it with automuse characters --story {story} --undo {c.seq})")
    return problems


def _stale(c: Correction, lore: LoreState) -> str:
    gone = [n for n in c.names() if n not in lore.eid_of]
    if c.chunk > lore.last_chunk:
        return f"no longer applies: the story ends at chunk {lore.last_chunk}"
    if gone:
        return f"no longer applies: {gone[0]!r} is no longer a name in the story"
    if c.kind == MERGE and lore.eid_of[c.a] != lore.eid_of[c.b]:
        return f"no longer applies: a later correction keeps {c.a!r} and {c.b!r} apart"
    if c.kind == SPLIT:
        others = [m for m in lore.entities[lore.eid_of[c.a]].members if m != c.a]
        if others:
            return f"no longer applies: a later correction joins {c.a!r} to {others[0]!r}"
        alone = [cl.members == (c.a,) for cl in lore.resolve_names(lore.component(c.a), without=c) if c.a in cl.members]
        if all(alone):
            return f"is no longer needed: {c.a!r} is an entity of its own without it"
    return ""
