"""Lorebooks: a story's lore cards as the entries of the tools writers keep lore in
(SillyTavern World Info, NovelAI's Lorebook, a character card's ``character_book``),
and those tools' files read back as :class:`LoreEntry` (``automuse lorebook export``
/ ``import``). Pure functions over dicts; the files are read and written by the CLI,
stored by :mod:`automuse_rag.memory.lorebook`.

An entry is one entity: its keys are its names (name first, then its aliases), its
content its card (:meth:`~automuse_rag.lore.entity.Entity.card`, which starts
``Name (kind; also: ...)``: an import reads the kind back from there), its
importance the number of chunks naming it. The main cast (:func:`main_cast`) are
constant entries (always in the prompt); everyone and everything else is keyed (in
the prompt when a key is named).

The fields filled are those the tools' documentation lists, checked from memory of
it (no network here): SillyTavern's World Info entry (``key``, ``keysecondary``,
``comment``, ``content``, ``constant``, ``selective``, ``order``, ``position``,
``disable``, ...); NovelAI's ``.lorebook`` (``lorebookVersion`` 5, entries with
``text``, ``keys``, ``displayName``, ``contextConfig``, ``forceActivation``, ...); and
the Character Card V2 spec's ``character_book`` (``keys``, ``content``,
``extensions``, ``enabled``, ``insertion_order`` required; ``name``, ``priority``,
``id``, ``comment``, ``constant``, ``position`` ...), inside a ``chara_card_v2`` card.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from automuse_rag.lore.entity import Entity

FORMATS = ("sillytavern", "novelai", "card")
SUFFIXES = {"sillytavern": ".json", "novelai": ".lorebook", "card": ".json"}
KINDS = ("character", "place")  # exported; things are left out (NER's things are mostly noise)
#: The main cast: characters named in at least this share of the chunks known ...
CAST_SHARE = 0.25
CAST_MAX = 8  # ... at most this many (constant entries cost tokens in every prompt)


@dataclass(frozen=True)
class LoreEntry:
    """One lorebook entry: ``keys`` the names that bring it into a prompt (``name``
    first when it is one), ``content`` what the prompt gets, ``constant`` always in,
    ``importance`` orders entries (higher first; mentions for an export)."""

    name: str
    kind: str
    keys: tuple[str, ...]
    content: str
    constant: bool = False
    importance: int = 0


def main_cast(entities: Sequence[Entity], chunks: int) -> set[str]:
    """Ids of the main cast: the characters named in at least :data:`CAST_SHARE` of
    the ``chunks`` known, the :data:`CAST_MAX` most mentioned of them."""
    if chunks <= 0:
        return set()
    chars = [e for e in entities if e.kind == "character" and len(e.mentions) >= CAST_SHARE * chunks]
    chars.sort(key=lambda e: (-len(e.mentions), e.name, e.id))
    return {e.id for e in chars[:CAST_MAX]}


def entries_from_entities(entities: Sequence[Entity], chunks: int) -> list[LoreEntry]:
    """One entry per character and place of ``entities`` (as known after ``chunks``
    chunks), most mentioned first."""
    cast = main_cast(entities, chunks)
    kept = sorted((e for e in entities if e.kind in KINDS), key=lambda e: (-len(e.mentions), e.name, e.id))
    return [
        LoreEntry(
            name=e.name,
            kind=e.kind,
            keys=tuple(dict.fromkeys([e.name, *e.names()])),
            content=e.card(),
            constant=e.id in cast,
            importance=len(e.mentions),
        )
        for e in kept
    ]


# -- export ----------------------------------------------------------------------


def to_sillytavern(entries: Sequence[LoreEntry]) -> dict[str, Any]:
    """A SillyTavern World Info file: ``{"entries": {"0": {...}, ...}}``, keyed by uid.
    ``order``: higher is inserted nearer the end (more weight); ``position`` 0 is
    "before character definitions"; a constant entry needs no key match."""
    out: dict[str, Any] = {}
    for uid, e in enumerate(entries):
        out[str(uid)] = {
            "uid": uid,
            "key": list(e.keys),
            "keysecondary": [],
            "comment": e.name,
            "content": e.content,
            "constant": e.constant,
            "vectorized": False,
            "selective": True,
            "selectiveLogic": 0,
            "addMemo": True,
            "order": e.importance,
            "position": 0,
            "disable": False,
            "excludeRecursion": False,
            "preventRecursion": False,
            "probability": 100,
            "useProbability": True,
            "depth": 4,
            "group": "",
            "groupOverride": False,
            "groupWeight": 100,
            "scanDepth": None,
            "caseSensitive": None,
            "matchWholeWords": None,
            "automationId": "",
            "role": None,
            "displayIndex": uid,
        }
    return {"entries": out}


def to_novelai(entries: Sequence[LoreEntry], now_ms: int) -> dict[str, Any]:
    """A NovelAI ``.lorebook`` (version 5). ``budgetPriority``: higher is inserted
    first; ``forceActivation`` puts an entry in whatever the keys; ``searchRange``:
    characters of story text searched for the keys."""
    items = []
    for e in entries:
        items.append(
            {
                "text": e.content,
                "contextConfig": {
                    "prefix": "",
                    "suffix": "\n",
                    "tokenBudget": 1,  # a fraction (<= 1) of the context: the whole entry
                    "reservedTokens": 0,
                    "budgetPriority": 400 + e.importance,
                    "trimDirection": "trimBottom",
                    "insertionType": "newline",
                    "maximumTrimType": "sentence",
                    "insertionPosition": -1,
                },
                "lastUpdatedAt": now_ms,
                "displayName": e.name,
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"automuse:{e.kind}:{e.name}")),
                "keys": list(e.keys),
                "searchRange": 1000,
                "enabled": True,
                "forceActivation": e.constant,
                "keyRelative": False,
                "nonStoryActivatable": False,
                "category": "",
                "loreBiasGroups": [],
            }
        )
    return {
        "lorebookVersion": 5,
        "entries": items,
        "settings": {"orderByKeyLocations": False},
        "categories": [],
        "order": [i["id"] for i in items],
    }


def to_card(entries: Sequence[LoreEntry], story: str) -> dict[str, Any]:
    """A Character Card V2 (``chara_card_v2``) whose character is the story and whose
    ``character_book`` holds the entries. ``insertion_order``: lower is inserted
    higher (earlier); ``priority``: lower is discarded first when over budget."""
    book = [
        {
            "keys": list(e.keys),
            "content": e.content,
            "extensions": {},
            "enabled": True,
            "insertion_order": e.importance,
            "case_sensitive": False,
            "name": e.name,
            "priority": e.importance,
            "id": i,
            "comment": e.name,
            "selective": False,
            "secondary_keys": [],
            "constant": e.constant,
            "position": "before_char",
        }
        for i, e in enumerate(entries)
    ]
    return {
        "spec": "chara_card_v2",
        "spec_version": "2.0",
        "data": {
            "name": story,
            "description": f"The lore of the story {story}, from automuse-rag.",
            "personality": "",
            "scenario": "",
            "first_mes": "",
            "mes_example": "",
            "creator_notes": "Exported by automuse lorebook export.",
            "system_prompt": "",
            "post_history_instructions": "",
            "alternate_greetings": [],
            "character_book": {
                "name": story,
                "description": f"Characters and places of {story}.",
                "scan_depth": 4,
                "token_budget": 2048,
                "recursive_scanning": False,
                "extensions": {},
                "entries": book,
            },
            "tags": [],
            "creator": "automuse-rag",
            "character_version": "",
            "extensions": {},
        },
    }


def export_lorebook(entries: Sequence[LoreEntry], fmt: str, story: str, now_ms: int) -> dict[str, Any]:
    """``entries`` as a file of format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "sillytavern":
        return to_sillytavern(entries)
    if fmt == "novelai":
        return to_novelai(entries, now_ms)
    if fmt == "card":
        return to_card(entries, story)
    raise ValueError(fmt)
