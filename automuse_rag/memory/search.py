"""Entity search: mention vectors as of a chunk, grouped by the entity each name
belongs to then, each entity scored by its best mention and shown by its card."""

from __future__ import annotations

from automuse_rag.memory.store import ChromaStore
from automuse_rag.memory.types import Hit
from automuse_rag.memory.views import StateReader


def entity_hits(reader: StateReader, store: ChromaStore, qv: list[float], k: int, at: int, last: int) -> list[Hit]:
    """Entity hits for query vector ``qv`` as of chunk ``at`` (``last``: the story's last chunk)."""
    names = reader.name_map(at)
    raw = store.query(
        "mention",
        qv,
        k,
        at,
        last,
        keep=lambda m: int(m["chunk"]) <= at and m.get("name") in names,
        group=lambda m: names[m["name"]],
    )
    best: dict[str, float] = {}
    for _, _, meta, score in raw:
        eid = names[meta["name"]]
        if score > best.get(eid, -1.0):
            best[eid] = score
    views = {e.id: e for e in reader.entities(at, sorted(best))}
    chapters = reader.chapters(max((c for c, _ in v.descriptions), default=v.last_chunk) for v in views.values())
    hits = []
    for eid, score in best.items():
        view = views.get(eid)
        if view is None:
            continue
        last_desc = max((c for c, _ in view.descriptions), default=view.last_chunk)
        hits.append(
            Hit(
                f"entity:{eid}",
                "entity",
                view.card(),
                last_desc,
                chapters.get(last_desc, 0),
                score,
                {"entity_id": eid, "entity_kind": view.kind},
            )
        )
    return hits
