"""Exports of a store, for people and other tools: ``lore.json`` (entities and
relations), ``graph.json`` (node-link), ``outline.txt`` / ``outline.json`` and
``story.json`` (the manifest). Each is stamped with the state version it came from
(``state_version``) and rewritten from ``state.sqlite``; nothing reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from automuse_rag.fsutil import write_json_atomic, write_text_atomic
from automuse_rag.memory.graph import graph_to_json
from automuse_rag.memory.views import LATEST, StateReader

LORE, GRAPH, OUTLINE_TXT, OUTLINE_JSON = "lore.json", "graph.json", "outline.txt", "outline.json"


class ExportedStore(Protocol):
    """What the exports read of a store (:class:`automuse_rag.memory.story.StoryMemory`,
    which imports this module)."""

    dir: Path
    store_id: str

    @property
    def reader(self) -> StateReader: ...

    def manifest_export(self) -> dict[str, Any]: ...


def lore_export(mem: ExportedStore) -> dict[str, Any]:
    return {
        "state_version": mem.reader.version(),
        "store_id": mem.store_id,
        "entities": [e.to_dict() for e in mem.reader.entities(LATEST)],
        "relations": [r.__dict__ for r in mem.reader.relations(LATEST)],
    }


def graph_export(mem: ExportedStore) -> dict[str, Any]:
    g = mem.reader.graph(LATEST)
    g.graph["state_version"] = mem.reader.version()
    g.graph["store_id"] = mem.store_id
    return graph_to_json(g)


def outline_exports(mem: ExportedStore) -> dict[str, Any] | None:
    got = mem.reader.outline()
    if got is None:
        return None
    text, parts, origin = got
    return {
        OUTLINE_TXT: text,
        OUTLINE_JSON: {"state_version": mem.reader.version(), "origin": origin, "parts": [p.__dict__ for p in parts]},
    }


def expected(mem: ExportedStore) -> dict[str, Any]:
    """File name -> the content each export should have now (JSON data or text)."""
    out: dict[str, Any] = {LORE: lore_export(mem), GRAPH: graph_export(mem), "story.json": mem.manifest_export()}
    out.update(outline_exports(mem) or {})
    return out


def write_outline(mem: ExportedStore) -> None:
    for name, content in (outline_exports(mem) or {}).items():
        _write(mem, name, content)


def write_exports(mem: ExportedStore) -> None:
    for name, content in expected(mem).items():
        _write(mem, name, content)


def _write(mem: ExportedStore, name: str, content: Any) -> None:
    path = mem.dir / name
    if isinstance(content, str):
        write_text_atomic(path, content)
    else:
        write_json_atomic(path, content, indent=None if name == GRAPH else 1)


def stale_or_broken(mem: ExportedStore) -> list[str]:
    """One line per export that is missing, unreadable or not what the state says."""
    problems = []
    want = expected(mem)
    for name, content in want.items():
        path = mem.dir / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        if isinstance(content, str):
            if raw != content:
                problems.append(f"{name} differs from the outline in state.sqlite")
            continue
        try:
            have = json.loads(raw)
        except ValueError:
            problems.append(f"{name} is not valid JSON (damaged)")
            continue
        if name == "story.json":
            have = {k: v for k, v in have.items() if k != "updated"}
            content = {k: v for k, v in content.items() if k != "updated"}
        if have != json.loads(json.dumps(content, ensure_ascii=False)):
            stamp = have.get("state_version") if isinstance(have, dict) else None
            if isinstance(have, dict) and "graph" in have:
                stamp = (have.get("graph") or {}).get("state_version")
            problems.append(f"{name} is stale (written at state version {stamp}, the state is at {mem.reader.version()})")
    return problems
