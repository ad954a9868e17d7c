"""What kind of name a main character's stray form is, for the cast benchmark's totals.

A main character is not one entity when one of the forms the text uses for it sits
in another entity than the one holding most of its forms (its main entity). Counting
those stray forms by how they relate to the forms the main entity holds ("Mr.
Sholto" beside "Thaddeus Sholto": a title with the surname) says which kind of
resolution fails, as totals, without naming a case: the test half can be read this
way and no rule fitted to one of its cases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

CLASSES = (
    "title + surname",
    "title + given name",
    "title + another word",
    "given name alone",
    "full name, apart from the given name alone",
    "surname alone",
    "nickname or pet form",
    "another single word",
    "another surname (maiden or married)",
    "another given or middle name",
    "words of the full name, reordered or cut",
    "capitals",
    "other (an epithet, another name)",
)


def form_class(form: str, held: Iterable[str]) -> str:
    """The class (one of :data:`CLASSES`) of ``form`` against the forms ``held`` by the
    character's main entity."""
    from automuse_rag.lore.names import parse_name
    from automuse_rag.lore.nicknames import are_nicknames

    if form.isupper() and len(form) > 2:
        return "capitals"
    mains = [parse_name(f) for f in held]
    firsts = {q.words[0] for q in mains if q.is_full}
    lasts = {q.words[-1] for q in mains if q.words and (q.is_full or q.title)}
    words_held = {w for q in mains for w in q.words}
    bare = {q.words[0] for q in mains if not q.title and len(q.words) == 1}  # "Mary", "Anne"
    p = parse_name(form)
    words = list(p.words)
    if not words:
        return "other (an epithet, another name)"

    def pet(w: str) -> bool:
        low = w.lower()
        return any(are_nicknames(w, f) or (len(low) >= 3 and f.lower().startswith(low[:3]) and f != w) for f in firsts)

    if len(words) == 1:
        w = words[0]
        if p.title:
            return "title + surname" if w in lasts else "title + given name" if w in firsts else "title + another word"
        if w in firsts:
            return "given name alone"
        if w in lasts:
            return "surname alone"
        return "nickname or pet form" if pet(w) else "another single word"
    if not p.title and words[0] in bare and words[0] not in firsts:
        return "full name, apart from the given name alone"
    if words[0] in firsts and words[-1] not in lasts:
        return "another surname (maiden or married)"
    if words[-1] in lasts and words[0] not in firsts:
        return "nickname or pet form" if pet(words[0]) else "another given or middle name"
    if set(words) <= words_held:
        return "words of the full name, reordered or cut"
    return "other (an epithet, another name)"


def stray_forms(entities, cast, text: str) -> Counter[str]:
    """Each main character's forms held by an entity other than its main one, by class."""
    from automuse_rag.memory.evaluate import occurs

    out: Counter[str] = Counter()
    for m in cast.members:
        if m.kind != "character" or m.minor:
            continue
        present = [n for n in m.names if occurs(n, text)]
        held = sorted(((sum(n in e.aliases for n in present), e.id, e) for e in entities), key=lambda t: (-t[0], t[1]))
        if not held or held[0][0] == 0:
            continue
        main = held[0][2]
        mine = [n for n in present if n in main.aliases]
        for n in present:
            if n not in main.aliases and any(n in e.aliases for _, _, e in held[1:]):
                out[form_class(n, mine)] += 1
    return out
