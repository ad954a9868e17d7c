"""Unnamed kin nouns resolved by the family the whole story knows (issue 27).

"Her brother" of a Catherine named by her given name alone is some Morland, but the
chunk that says it may never write "Catherine Morland": one chunk cannot tell whose
family she is (lore/coref.py ``kin_referent`` needs the surname in the chunk). So the
chunk keeps every character named near the kin noun with the word's sex as a
*family candidate* (a relation with ``via`` :data:`FAMILY_VIA`), and the story decides
when it is read, as of any chunk, from the entities the names belong to then
(:func:`family_relations`, used by the store and by the oracle alike):

- a candidate holds when its entity shares a surname with the owner's (the surnames
  of their full names, and of a title with one word that is not their given name),
  has the kin word's sex by its names (titles, given names), and is the only
  candidate of its kin noun that does (two names of the scene that are not one
  name's forms as written, such as "Henry Tilney" and "General Tilney", are two
  candidates even where the story has made them one entity), and every name
  around it is a name the story knows at that point;
- the naming customs of the books bound it: a married woman named by her husband's
  surname ("Mrs. Bennet", "Lady Lucas") is that family's wife, mother or grandmother,
  never its sister or daughter; her own kin of that surname are her husband and
  children; a "Miss" is no mother or wife and has no children or husband; "Mr. X"
  and "Mrs. X" are husband and wife and nothing else; a wife is a man's, and a
  husband a woman's;
- one pair given two bonds (brother and father of the same woman) keeps the one
  read more often, or neither.

A kin noun with no character named around it ("Diana's mother" in a scene of Diana
alone) keeps the candidate :data:`FAMILY_ANY`: when the story is read, it is the one
entity of the owner's family (a surname in common) that fits as above, among all the
story knows then. Found that way, a parent, grandparent or spouse must be one the story
titles as a grown man or woman ("Mrs. Barry"; not a "Miss", not a given name alone),
and a wife named by a man's given name and surname ("Mrs. Godfrey Cass") is his alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache

from automuse_rag.lore.given_names import given_gender
from automuse_rag.lore.names import RANKS, TITLES, parse_name

#: ``via`` of a family candidate's relation row.
FAMILY_VIA = "family"
#: The candidate of a kin noun named near no character: any of the owner's family the
#: story knows when it is read.
FAMILY_ANY = "*"

#: A kin word's sex.
SEX = {
    "father": "m",
    "mother": "f",
    "son": "m",
    "daughter": "f",
    "brother": "m",
    "sister": "f",
    "grandfather": "m",
    "grandmother": "f",
    "grandson": "m",
    "granddaughter": "f",
    "husband": "m",
    "wife": "f",
}
#: The bond a kin word gives, from the kin's side, and the same bond from the owner's.
BOND = {
    "father": ("parent", "child"),
    "mother": ("parent", "child"),
    "son": ("child", "parent"),
    "daughter": ("child", "parent"),
    "brother": ("sibling", "sibling"),
    "sister": ("sibling", "sibling"),
    "grandfather": ("grandparent", "grandchild"),
    "grandmother": ("grandparent", "grandchild"),
    "grandson": ("grandchild", "grandparent"),
    "granddaughter": ("grandchild", "grandparent"),
    "husband": ("spouse", "spouse"),
    "wife": ("spouse", "spouse"),
}
WIFE_IS = frozenset({"wife", "mother", "grandmother"})  # what a married woman is to her husband's family
WIFE_HAS = frozenset({"husband", "son", "daughter", "grandson", "granddaughter"})  # her kin of that name


def _role(label: str) -> str:
    return label.split()[0]


def _firsts(names: Sequence[str]) -> set[str]:
    return {p.first for p in map(parse_name, names) if p.is_full and p.title is None}


def surnames(names: Sequence[str]) -> set[str]:
    """The surnames an entity's names give: a full name's last word, or a title's one
    word when it is not one of the entity's given names ("Mr. Morland"; not "Miss
    Catherine")."""
    firsts = _firsts(names)
    out = set()
    for p in map(parse_name, names):
        if p.words and (p.is_full or (p.title is not None and p.words[-1] not in firsts)):
            out.add(p.last)
    return out


def sexes(names: Sequence[str]) -> set[str]:
    """The sexes an entity's names give: titles ("Mrs." f, "Mr." or a rank m) and the
    given names of untitled full names."""
    found = set()
    for p in map(parse_name, names):
        if p.title is not None:
            g = TITLES[p.title][1] or ("m" if p.title in RANKS else None)
            if g:
                found.add(g)
        elif p.is_full and (g := given_gender(p.first)):
            found.add(g)
    return found


def sex(names: Sequence[str]) -> str | None:
    """An entity's sex by its names (:func:`sexes`); None when unknown or when they disagree."""
    found = sexes(names)
    return found.pop() if len(found) == 1 else None


def husbands_surname(name: str, names: Collection[str]) -> bool:
    """Whether ``name`` is a surname alone, with no title, of an entity whose names are a
    woman's ("Cartlett" beside "Mrs. Cartlett", "Arabella Cartlett"): narration and speech
    call a man by his surname alone, so the name there is her husband's or her father's."""
    p = parse_name(name)
    if p.title is not None or len(p.words) != 1 or sex(list(names)) != "f":
        return False
    return any(q.words[-1:] == p.words and (q.title or q.is_full) for q in map(parse_name, names))


def _titled(names: Sequence[str], title: str, surname_only: bool = False) -> bool:
    firsts = _firsts(names)
    return any(
        p.title == title and (not surname_only or (len(p.words) == 1 and p.words[0] not in firsts))
        for p in map(parse_name, names)
    )


def _married(names: Sequence[str]) -> bool:
    """Named by a husband's surname: "Mrs. X" or "Lady X" with X no given name of hers."""
    return _titled(names, "mrs", True) or _titled(names, "lady", True)


def fits(kin: Sequence[str], owner: Sequence[str], role: str) -> bool:
    """Whether the entity named ``kin`` may be the ``role`` of the one named ``owner``
    by their names alone (see the module docstring). Memoised: a story asks it of the
    same entities at every position it is read as of."""
    return _fits(tuple(kin), tuple(owner), role)


@lru_cache(maxsize=65536)
def _fits(kin: tuple[str, ...], owner: tuple[str, ...], role: str) -> bool:
    shared = surnames(kin) & surnames(owner)
    if not shared or sex(kin) != SEX.get(role):
        return False
    if role in ("husband", "wife") and sex(owner) != {"m": "f", "f": "m"}[SEX[role]]:
        return False
    if role in ("husband", "wife") and not _her_husband(*((kin, owner) if role == "wife" else (owner, kin))):
        return False
    if _married(kin) and role not in WIFE_IS:
        return False
    if _married(owner) and role not in WIFE_HAS:
        return False
    if _titled(kin, "miss") and role in ("mother", "wife", "grandmother"):
        return False
    if _titled(owner, "miss") and role in ("son", "daughter", "husband", "grandson", "granddaughter"):
        return False
    return role in ("husband", "wife") or not any(couple(a, b) for a in kin for b in owner)


#: Titles of the young: a "Miss" or a "Master" is nobody's parent or spouse yet.
YOUNG = frozenset({"miss", "master"})
ELDER = frozenset({"parent", "grandparent", "spouse"})


def _elders_titled(kin: Sequence[str], owner: Sequence[str], role: str) -> bool:
    """A parent, grandparent or spouse found by the whole story, named near no one,
    is one the story titles as a grown man or woman ("Mrs. Barry", "Sir William", "Mr.
    Gardiner"), not only by a given name: the young generation of a family goes by its
    given names, its elders by their titles."""
    kin_side, owner_side = BOND[role]
    return all(
        any((t := parse_name(n).title) is not None and t not in YOUNG for n in names)
        for side, names in ((kin_side, kin), (owner_side, owner))
        if side in ELDER
    )


def _her_husband(wife: Sequence[str], husband: Sequence[str]) -> bool:
    """ "Mrs. Godfrey Cass" is the wife of Godfrey Cass and of no other Cass: a married
    woman named by a man's given name and surname is that man's wife."""
    his = {p.words for p in map(parse_name, wife) if p.title == "mrs" and len(p.words) == 2 and given_gender(p.words[0]) != "f"}
    return not his or any(p.title is None and p.words in his for p in map(parse_name, husband))


def couple(a: str, b: str) -> bool:
    """ "Mr. X" and "Mrs. X": husband and wife."""
    pa, pb = parse_name(a), parse_name(b)
    return {pa.title, pb.title} == {"mr", "mrs"} and pa.words == pb.words


def _one_name(names: Sequence[str]) -> bool:
    """The names the scene gave are one name's forms as written: each pair's words,
    titles included, held by one another ("James", "James Morland"). "Henry Tilney"
    and "General Tilney", or "Mr. Morland" and "James Morland", named around one kin
    noun may be two men, whatever the story makes of them."""
    words = [set(n.split()) for n in names]
    return all(a <= b or b <= a for a in words for b in words)


def _last_word(name: str) -> str:
    """A name's last word: how a family's members are found by a surname (the scope
    :func:`owners_read` reads and the candidates :func:`family_relations` weighs must
    agree)."""
    return name.rsplit(" ", 1)[-1]


def owners_read(names: Iterable[str], owner: Mapping[str, str], family_of: Iterable[str] = ()) -> dict[str, str]:
    """The part of ``owner`` (name -> entity as of a position) that resolving relation
    rows naming ``names`` reads: those names' owners and every name of their entities
    (:func:`family_relations` weighs a candidate by all of its entity's names). A kin
    noun named near no one (:data:`FAMILY_ANY`) of an owner in ``family_of`` also
    reads every entity with a name ending in one of that owner's surnames. Equal parts
    and equal rows give equal relations, whatever other names do."""
    ids = {e for n in names if (e := owner.get(n)) is not None}
    owners = {e for n in family_of if (e := owner.get(n)) is not None}
    if owners:
        last = {_last_word(n) for n in surnames([n for n, e in owner.items() if e in owners])}
        ids |= {e for n, e in owner.items() if _last_word(n) in last}
    return {n: e for n, e in owner.items() if e in ids}


def any_family(rows: Iterable[tuple[int, str, str, str]]) -> list[str]:
    """The owners of the kin nouns named near no one among family rows (chunk,
    candidate, owner, label)."""
    return sorted({owner for _, cand, owner, _ in rows if cand == FAMILY_ANY})


def family_relations(
    rows: Sequence[tuple[int, str, str, str]], eid_of: Mapping[str, str], names_of: Mapping[str, Sequence[str]]
) -> list[tuple[str, str, str, int]]:
    """The family candidates ``rows`` ((chunk, candidate name, owner name, label), as
    stored) that hold, given each name's entity (``eid_of``) and each entity's names
    (``names_of``) as of the position read: (kin entity, owner entity, label, chunk),
    in row order. Pure: the store and the oracle read the same."""
    groups: dict[tuple[int, str, str], list[str]] = defaultdict(list)
    for chunk, cand, owner, label in rows:
        groups[(chunk, owner, label)].append(cand)
    held: list[tuple[str, str, str, int]] = []
    by_last: defaultdict[str, set[str]] | None = None  # a name's last word -> the entities holding it
    for (chunk, owner, label), cands in groups.items():
        o = eid_of.get(owner)
        if o is None or o not in names_of:
            continue
        named = [c for c in cands if c != FAMILY_ANY]
        if not named:  # named near no one: the one of the owner's family the story knows
            if by_last is None:
                by_last = defaultdict(set)
                for n, e in eid_of.items():
                    by_last[_last_word(n)].add(e)
            family = {k for w in surnames(names_of[o]) for k in by_last.get(_last_word(w), ())}
            role = _role(label)
            kin = {e for e in family if e != o and e in names_of and fits(names_of[e], names_of[o], role)}
            kin = {e for e in kin if _elders_titled(names_of[e], names_of[o], role)}
            if len(kin) == 1:
                held.append((kin.pop(), o, label, chunk))
            continue
        cands = named
        if any(c not in eid_of for c in cands):
            continue  # a name the story does not know (yet) may be the one
        fit = [
            (c, k)
            for c in cands
            if (k := eid_of.get(c)) is not None and k != o and k in names_of and fits(names_of[k], names_of[o], _role(label))
        ]
        if len({k for _, k in fit}) == 1 and _one_name([c for c, _ in fit]):
            held.append((fit[0][1], o, label, chunk))
    bonds: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for k, o, label, _ in held:
        kin_side, owner_side = BOND[_role(label)]
        pair, bond = ((k, o), kin_side) if k < o else ((o, k), owner_side)
        bonds[pair][bond] += 1
    out = []
    for k, o, label, chunk in held:
        kin_side, owner_side = BOND[_role(label)]
        pair, bond = ((k, o), kin_side) if k < o else ((o, k), owner_side)
        ranked = bonds[pair].most_common()
        if ranked[0][0] == bond and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]):
            out.append((k, o, label, chunk))
    return out
