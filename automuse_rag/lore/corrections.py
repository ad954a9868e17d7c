"""A writer's corrections of who is who, applied by the resolver after every rule
(lore/resolve.py ``resolve_component``), so they win over the rules:

- ``merge A B``: the clusters of A and B become one, going by the name B's did
  (even where a ``distinct`` pair or a title would keep them apart). Its two names
  share a component (the pair is a link, like a model alias), so the rule stays
  component-local.
- ``split NAME``: NAME leaves its cluster and is an entity of its own; the rest of
  the cluster stays together.

Corrections apply in their ``seq`` order: a later one wins ("split X" after "merge
X Y" separates X again). A correction naming a name the resolver did not keep (not
seen yet, or filtered out) does nothing until it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from automuse_rag.lore.draft import Draft
from automuse_rag.lore.merge_steps import merge
from automuse_rag.lore.rules import Resolver
from automuse_rag.lore.stats import Correction

MERGE, SPLIT = "merge", "split"


def merge_links(corrections: Iterable[Correction]) -> list[tuple[str, str]]:
    """The name pairs a writer's merges link into one component."""
    return [(c.a, c.b) for c in corrections if c.kind == MERGE]


def apply_corrections(res: Resolver, corrections: Iterable[Correction], canonical: Callable[[list[str]], str]) -> dict[int, str]:
    """Apply ``corrections`` to the resolver's clusters. Returns the name each merged
    cluster goes by (by ``id`` of the cluster): the one B's cluster went by, as
    ``canonical`` chose it before the merge ("merge A into B")."""
    named: dict[int, str] = {}
    for c in sorted(corrections, key=lambda c: (c.seq, c.chunk, c.kind, c.a, c.b)):
        if c.kind == MERGE:
            src, dst = res.of.get(c.a), res.of.get(c.b)
            if src is not None and dst is not None and src is not dst:
                name = named.pop(id(dst), None) or canonical(dst.members)
                named.pop(id(src), None)
                merge(res, src, dst)
                named[id(dst)] = name
        elif c.kind == SPLIT:
            cl = res.of.get(c.a)
            if cl is not None and len(cl.members) > 1:
                cl.members.remove(c.a)
                alone = Draft(members=[c.a], kind=cl.kind)
                res.clusters.append(alone)
                res.of[c.a] = alone
    return named
