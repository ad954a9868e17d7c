"""Reading a lorebook file's JSON back as :class:`~automuse_rag.lore.lorebook.LoreEntry`
(``automuse lorebook import``), its format told by its shape:

* SillyTavern World Info: ``{"entries": {uid: {"key": [...], "content": ...}}}``
  (``comment`` names the entry; ``disable`` leaves it out);
* NovelAI: ``{"lorebookVersion": N, "entries": [{"keys": [...], "text": ...}]}``
  (``displayName``; ``enabled`` false leaves it out; ``forceActivation`` is constant);
* a character card (``"spec": "chara_card_v2"`` or ``"chara_card_v3"``, its book in
  ``data.character_book``) or a bare ``character_book`` (``{"entries": [{"keys":
  [...], "content": ...}]}``; ``name`` or ``comment``; ``enabled`` false leaves it out).

Anything else is an :class:`~automuse_rag.errors.InputError` (one line), as is an
entry without its keys or content of the right type. An entry's kind is read off
content written by automuse (``Name (character; also: ...)``), else ``lore``.
"""

from __future__ import annotations

import re
from typing import Any

from automuse_rag.errors import InputError
from automuse_rag.lore.lorebook import LoreEntry

_HEAD = re.compile(r"^.+? \((character|place|thing)[;)]")
SHAPES = "a SillyTavern World Info, a NovelAI .lorebook or a character card (v2/v3) or its character_book"


def detect(data: Any) -> str:
    """The format of a lorebook file's JSON: "sillytavern", "novelai" or "card"."""
    if not isinstance(data, dict):
        raise InputError(f"not a lorebook: expected a JSON object, {SHAPES}")
    if str(data.get("spec", "")).startswith("chara_card_v"):
        return "card"
    entries = data.get("entries")
    if "lorebookVersion" in data and isinstance(entries, list):
        return "novelai"
    if isinstance(entries, dict):
        return "sillytavern"
    if isinstance(entries, list):
        return "card"
    raise InputError(f"not a lorebook: expected {SHAPES}")


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError(f"not a lorebook: {what} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"not a lorebook: {what} must be a string")
    return value.strip()


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _entry(raw: Any, where: str, keys_at: str, text_at: str, names_at: tuple[str, ...]) -> tuple[LoreEntry, bool] | None:
    """(entry, enabled) read from ``raw``; None when it has no content."""
    if not isinstance(raw, dict):
        raise InputError(f"not a lorebook: {where} is not an object")
    keys = _strings(raw.get(keys_at), f"{where}'s {keys_at!r}")
    content = _text(raw.get(text_at), f"{where}'s {text_at!r}")
    if not content:
        return None
    name = next((n.strip() for n in (raw.get(a) for a in names_at) if isinstance(n, str) and n.strip()), "")
    name = name or (keys[0] if keys else content.split("\n", 1)[0][:60])
    head = _HEAD.match(content)
    entry = LoreEntry(
        name=name,
        kind=head.group(1) if head else "lore",
        keys=tuple(dict.fromkeys(keys)),
        content=content,
        constant=bool(raw.get("constant") or raw.get("forceActivation")),
        importance=_int(raw.get("order", raw.get("priority", raw.get("insertion_order", 0)))),
    )
    return entry, not raw.get("disable", False) and raw.get("enabled", True) is not False


def read_lorebook(data: Any) -> tuple[str, list[LoreEntry]]:
    """(format, the enabled entries with content) of a lorebook file's JSON."""
    fmt = detect(data)
    found: list[tuple[LoreEntry, bool] | None] = []
    if fmt == "sillytavern":
        for uid, raw in data["entries"].items():
            found.append(_entry(raw, f"entry {uid}", "key", "content", ("comment",)))
    elif fmt == "novelai":
        for i, raw in enumerate(data["entries"]):
            got = _entry(raw, f"entry {i}", "keys", "text", ("displayName",))
            if got is not None and isinstance(raw, dict):
                prio = raw.get("contextConfig", {}).get("budgetPriority") if isinstance(raw.get("contextConfig"), dict) else None
                if isinstance(prio, int) and not isinstance(prio, bool):
                    got = (LoreEntry(**{**got[0].__dict__, "importance": prio - 400}), got[1])
            found.append(got)
    else:
        book = data["data"].get("character_book") if isinstance(data.get("data"), dict) else data
        if book is None:
            return fmt, []
        if not isinstance(book, dict) or not isinstance(book.get("entries"), list):
            raise InputError("not a lorebook: the card's character_book has no list of entries")
        for i, raw in enumerate(book["entries"]):
            found.append(_entry(raw, f"entry {i}", "keys", "content", ("name", "comment")))
    return fmt, [e for e, enabled in (f for f in found if f is not None) if enabled]
