"""The rules of alias resolution (see lore/resolve.py for how they are driven): how
character names cluster (which names to keep and what kind each is: lore/keep.py).

Every rule looks only at names sharing a word (titles aside) or a nickname key with
the name being resolved, or linked to it by a model alias: the resolver runs them
per component of such names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from automuse_rag.lore.draft import GROWN, PLAIN, Draft, initial, is_abbreviation, is_extension, title_ok, unstyled
from automuse_rag.lore.names import (
    CIVIL,
    FIRSTNAME_TITLES,
    RANKS,
    TITLES,
    Parsed,
    core_words,
    parse_name,
)
from automuse_rag.lore.nicknames import Distinct
from automuse_rag.lore.stats import ModelAlias, NameStat, name_gender

# How near (in chunks) a candidate must be named to count as in a name's scenes, when
# several clusters could take the name: the same chunk or the next (a telegram signed
# "Henry C. Gatz", then "Mr. Gatz" arrives). Wider windows tie more often: P&P's bare
# names are near every Bennet within a chunk or two.
SCENE = 1


#: Styles a man also goes by "Mr." with (not ranks: "Captain Tilney" is not "General Tilney").
MAN_STYLES = {"dr", "professor", "rev"}


def _mister_or_styled(cls_: str, cl: Draft) -> bool:
    """A name of title class ``cls_`` and ``cl`` are a man's "Mr." and his style: one
    side "Mr.", the other only one of :data:`MAN_STYLES`, and ``cl`` no woman."""
    if cl.gender == "f" or len(cl.titles) != 1:
        return False
    pair = {cls_, *cl.titles}
    return len(pair) == 2 and "mr" in pair and pair - {"mr"} <= MAN_STYLES


class Resolver:
    """Clusters character names; see the module docstring for the rules."""

    def __init__(self, stats: Mapping[str, NameStat], genders: dict[str, str | None], distinct: Distinct | None = None) -> None:
        self.stats = stats
        self.genders = genders
        self.distinct = distinct or Distinct()
        self.clusters: list[Draft] = []
        self.of: dict[str, Draft] = {}
        self._titled: set[tuple[str, str]] | None = None
        self._misses: set[str] | None = None
        self._by_word: defaultdict[str, list[str]] | None = None

    def apart(self, name: str, cl: Draft) -> bool:
        """``name`` cannot join ``cl``: a different person from one of its names in some
        sentence, or from the bare given name of one of its full names ("Diana" and "Mrs.
        Barry" in one sentence: Mrs. Barry is not Diana Barry), or (a gender-neutral
        title) its own pronouns say the other gender."""
        bare = [f for f in cl.firsts if f != name and f in self.stats and self._only_given(f, cl)]
        if self.distinct.any([name], [*cl.members, *bare]):
            return True
        title = parse_name(name).title
        if title is None or TITLES[title][1] is not None:
            return False
        own = name_gender(self.stats[name])
        return bool(own and cl.gender and own != cl.gender)

    def _only_given(self, word: str, cl: Draft) -> bool:
        """``word`` is only ever a given name in the names seen (never a surname, never
        a title's one word: "Colonel Fitzwilliam" makes "Fitzwilliam" no evidence about
        Mr. Fitzwilliam Darcy), so its bare use means ``cl``'s given name."""
        return all(parse_name(n).words.index(word) == 0 and parse_name(n).is_full for n in self._names_with(word))

    def _names_with(self, word: str) -> list[str]:
        if self._by_word is None:
            self._by_word = defaultdict(list)
            for n in self.stats:
                for w in set(parse_name(n).words):
                    self._by_word[w].append(n)
        return [n for n in self._by_word.get(word, []) if n != word]

    def add(self, cl: Draft, name: str, p: Parsed) -> None:
        cl.members.append(name)
        cl.weight += self.stats[name].count
        if p.title:
            cl.titles.add(TITLES[p.title][0])
            cl.gender = cl.gender or TITLES[p.title][1] or ("m" if TITLES[p.title][0] in RANKS else None)
        if p.is_full:
            cl.has_full = True
            # "Mrs. Godfrey Cass": a wife named by her husband's name; his given name is not hers
            husband = p.title is not None and TITLES[p.title][1] == "f" and self.genders.get(p.first) == "m"
            if not husband:
                cl.firsts.add(p.first)
            cl.surnames.add(p.last)
            cl.gender = cl.gender or self.genders.get(p.first)
        self.of[name] = cl

    def absorb(self, src: Draft, dst: Draft) -> None:
        """Move every name of ``src`` into ``dst``."""
        for m in list(src.members):
            self.add(dst, m, parse_name(m))
        src.members.clear()
        self.clusters.remove(src)

    def new(self, name: str, p: Parsed, firsts: Iterable[str] = (), surnames: Iterable[str] = ()) -> Draft:
        cl = Draft(members=[], kind="character", firsts=set(firsts), surnames=set(surnames))
        self.clusters.append(cl)
        self.add(cl, name, p)
        return cl

    def full(self, name: str) -> None:
        p = parse_name(name)
        for cl in self.clusters:
            if any(core_words(parse_name(m).words) == core_words(p.words) for m in cl.members) and title_ok(p.title, cl):
                self.add(cl, name, p)
                return

        # "R. Walton" and "Robert Walton": an initial joins the one full name it can
        # abbreviate, never a choice ("Richard Walton" too: it joins neither).
        # "John Silver" and "Long John Silver", "Alan Breck" and "Alan Breck Stewart": one
        # full name holds the other's words in order, sharing its first or last word; the
        # one such cluster, compatible and never read as another person, is the same person.
        def abbreviates(cl: Draft) -> bool:
            return any(self._expands(m, name) for m in cl.members) and all(
                is_abbreviation(parse_name(m).words, p.words) for m in cl.members if parse_name(m).is_full
            )

        def extends(cl: Draft) -> bool:
            return any(
                is_extension(core_words(parse_name(m).words), core_words(p.words)) for m in cl.members if parse_name(m).is_full
            )

        for fits in (abbreviates, extends):
            cands = [
                cl for cl in self.clusters if cl.has_full and title_ok(p.title, cl) and fits(cl) and not self.apart(name, cl)
            ]
            if len(cands) == 1:
                self.add(cands[0], name, p)
                return
            if fits is extends and len(cands) > 1 and self._bridges(name, cands):
                for other in cands[1:]:
                    self.absorb(other, cands[0])
                self.add(cands[0], name, p)
                return
        wife = self.maiden_or_married(name, p)
        if wife is not None:
            self.add(wife, name, p)
            return
        self.new(name, p)

    def _bridges(self, name: str, cands: Sequence[Draft]) -> bool:
        """``name`` holds the full names of several clusters, each sharing its first or
        its last word ("Long John Silver" holds "Long John" and "John Silver"), and
        nothing parts them: no two are told apart in a sentence, no two genders or
        civil titles clash. They are one person, the whole name's."""
        words = core_words(parse_name(name).words)
        if any(
            not any(parse_name(m).is_full and is_extension(core_words(parse_name(m).words), words) for m in c.members)
            for c in cands
        ):
            return False
        genders = {c.gender for c in cands} - {None}
        civil = {GROWN.get(t, t) for c in cands for t in c.titles if t in CIVIL}
        if len(genders) > 1 or len(civil) > 1:
            return False
        return not any(self.distinct.any(a.members, b.members) for i, a in enumerate(cands) for b in cands[i + 1 :])

    def maiden_or_married(self, name: str, p: Parsed) -> Draft | None:
        """The one woman of whom ``name`` is the maiden or the married full name:
        "Miss Lydia Bennet" and "Lydia Wickham". Both forms share the first name, and
        that woman is the only one known by a full name with it. Exactly one form is
        titled "Miss" (unmarried). The other form's surname is a married one: the story
        has a "Mr." and a "Mrs." of it (Mr. and Mrs. Wickham). The Miss form's surname
        is a family of the story: someone else bears it (Mr. Bennet).

        Without the Miss form nothing tells a marriage from two namesakes. "Jane Austen"
        in a preface and "Jane Bennet" would pass every other test, since Mr. and Mrs.
        Bennet exist. Even with "Miss Jane Bennet", the Austen surname has no Mr. and
        Mrs. Austen, so she stays apart."""
        if p.title is not None and TITLES[p.title][1] != "f":
            return None
        woman = p.title is not None  # a woman's title; else her cluster must say so
        cands = [
            cl
            for cl in self.clusters
            if cl.has_full
            and p.first in cl.firsts
            and p.last not in cl.surnames
            and (cl.gender == "f" or (woman and cl.gender is None))
            and not self.apart(name, cl)
        ]
        if len(cands) != 1:
            return None
        for member in cands[0].members:
            q = parse_name(member)
            if not q.is_full or q.first != p.first or (q.title == "miss") == (p.title == "miss"):
                continue
            maiden, married = (p, q) if p.title == "miss" else (q, p)
            if self._married(married.last) and self._family(maiden.last, p.first):
                cands[0].married.add(married.last)
                return cands[0]
        return None

    def eldest(self, sisters: Sequence[Draft]) -> list[Draft]:
        """Which of several women of one family a bare "Miss Bennet" names: by
        convention the eldest unmarried daughter, her younger sisters being "Miss
        Elizabeth" and "Miss Lydia". So the sisters someone calls "Miss <first name>"
        are set aside, and so is one the story knows by a married name (she is no
        Miss). At least one must be set aside by the first rule (the story follows the
        convention) and exactly one woman left; otherwise nobody ("Miss Lucas": neither
        Charlotte nor Maria is ever "Miss Charlotte")."""
        younger = [c for c in sisters if c.firsts & self._miss_firsts()]
        left = [c for c in sisters if c not in younger and not c.married]
        return left if younger and len(left) == 1 and left[0].gender == "f" else []

    def _miss_firsts(self) -> set[str]:
        """Every word X of a name "Miss X" seen (in any chunk so far, kept or not)."""
        if self._misses is None:
            self._misses = {
                q.first for q in map(parse_name, self.stats) if q.title == "miss" and not q.is_full and len(q.words) == 1
            }
        return self._misses

    def _a_miss(self, cl: Draft, surname: str) -> bool:
        """``cl`` is a woman unmarried under ``surname``: a full name of hers with it has a
        given name the story titles "Miss" alone ("Miss Margaret" for Margaret Hale), no
        full name's surname (one seen once, "Gradually Maggie", is no evidence). So "Mrs.
        Hale" or "Lady Bertram" is another woman of her family (her mother), not her."""
        firsts = {q.first for q in map(parse_name, cl.members) if q.is_full and q.last == surname}
        ends = {q.last for f in firsts for n in self._names_with(f) if self.stats[n].count >= 2 and (q := parse_name(n)).is_full}
        return surname not in cl.married and any(f in self._miss_firsts() and f not in ends for f in firsts)

    def _given_here(self, word: str) -> bool:
        """``word`` is the given name of a full name of the story and no full name's surname."""
        fulls = [q for q in map(parse_name, self._names_with(word)) if q.is_full]
        return any(q.first == word for q in fulls) and not any(q.last == word for q in fulls)

    def _titled_surnames(self) -> set[tuple[str, str]]:
        """(title class, surname) of every name that is a title and a surname alone."""
        if self._titled is None:
            self._titled = {
                (TITLES[q.title][0], " ".join(q.words)) for q in map(parse_name, self.stats) if q.title and not q.is_full
            }
        return self._titled

    def _married(self, surname: str) -> bool:
        return {("mr", surname), ("mrs", surname)} <= self._titled_surnames()

    def _family(self, surname: str, first: str) -> bool:
        """Someone without the first name ``first`` bears ``surname`` (a family of the story)."""
        return any(surname in q.words and q.first != first for q in map(parse_name, self.stats))

    def in_scenes(self, name: str, cands: Sequence[Draft]) -> list[Draft]:
        """The candidates named in ``name``'s scenes: a chunk of theirs within
        :data:`SCENE` chunks of one of ``name``'s."""
        near = {c + d for c in self.stats[name].chunks for d in range(-SCENE, SCENE + 1)}
        return [cl for cl in cands if any(not near.isdisjoint(self.stats[m].chunks) for m in cl.members)]

    def _dominant(self, cands: Sequence[Draft]) -> list[Draft]:
        """The one of ``cands`` with twice the others' weight together (else none)."""
        if not cands:
            return []
        best = max(cands, key=lambda c: c.weight)
        return [best] if best.weight >= 2 * sum(c.weight for c in cands if c is not best) else []

    def _expands(self, a: str, b: str) -> bool:
        """One of two full names has an initial where the other has a word, and it has
        no other expansion among the names seen ("R. Walton" -> "Robert Walton")."""
        wa, wb = parse_name(a).words, parse_name(b).words
        if not is_abbreviation(wa, wb):
            return False
        short, other = (wa, wb) if any(map(initial, core_words(wa))) else (wb, wa)
        return all(
            core_words(parse_name(n).words) == core_words(other)
            for n in self.stats
            if parse_name(n).is_full
            and is_abbreviation(short, parse_name(n).words)
            and not any(map(initial, core_words(parse_name(n).words)))
        )

    def titled(self, name: str) -> None:
        p = parse_name(name)
        assert p.title is not None, name  # called for titled names only
        word, gender = p.first, TITLES[p.title][1]
        fulls = [c for c in self.clusters if c.has_full and word in c.surnames and not self.apart(name, c)]
        cands = [c for c in fulls if title_ok(p.title, c, word)]
        if TITLES[p.title][0] in ("mrs", "lady"):  # a wife's title on a surname: no Miss of that family
            cands = [c for c in cands if not self._a_miss(c, word)]
        if len(fulls) > 1 and gender is not None:
            strict = [c for c in cands if c.gender == gender]
            unknown = [c for c in cands if c.gender is None]
            others_known = all(c.gender is not None for c in fulls if c not in unknown)
            # "Mr. Gatz" arrives with his telegram "Henry C. Gatz" (gender unknown), far
            # from James Gatz ("he"): when the gender rule would pick one name over a
            # namesake of unknown gender, the scenes decide. Never among several of the
            # right gender ("Miss Bennet": five sisters; the first one met is no evidence).
            near = self.in_scenes(name, strict + unknown) if len(strict) == 1 and unknown else []
            # "Mrs. Wilson": George Wilson is a man, so the one of unknown gender (Myrtle Wilson)
            cands = near if len(near) == 1 else strict or (unknown if len(unknown) == 1 and others_known else [])
            if len(cands) > 1 and p.title == "miss":
                cands = self.eldest(cands)
            if len(cands) > 1 and TITLES[p.title][0] in PLAIN:
                cands = unstyled(cands)
        if len(cands) > 1:
            # "Captain Tilney": the one of the family the story styles a captain
            # ("Captain Frederick Tilney"), not his brother; "Mrs. Lynde": the one it
            # calls "Mrs. Rachel Lynde", not a husband whose pronouns are unclear
            same = [c for c in cands if TITLES[p.title][0] in c.titles]
            cands = same if len(same) == 1 else cands
        if not cands and (p.title in FIRSTNAME_TITLES or p.title in ("miss", "master")):
            # "Lady Catherine", "Miss Elizabeth": title + first name
            cands = [
                c for c in self.clusters if c.has_full and word in c.firsts and title_ok(p.title, c) and not self.apart(name, c)
            ]
            # "Sir William": Sir William Lucas rather than William Goulding
            same = [c for c in cands if TITLES[p.title][0] in c.titles]
            cands = same if len(same) == 1 else cands
            if len(cands) > 1:  # "Miss Mary": Mary Lennox, not a rhyme's "Mistress Mary Quite Contrary"
                cands = self._dominant(self.in_scenes(name, cands))
        elif not cands and not fulls:
            # "Mrs. Rachel", "Mr. Godfrey": a surname title before a first name, which
            # no full name has as its surname; the one full name with that first name
            # joins only if it is named in the title form's scenes (not "Mrs. Thomas",
            # met once in a backstory, and Thomas Lynde).
            firsts = [
                c for c in self.clusters if c.has_full and word in c.firsts and title_ok(p.title, c) and not self.apart(name, c)
            ]
            cands = self.in_scenes(name, firsts) if len(firsts) == 1 else self._dominant(self.in_scenes(name, firsts))
        if len(cands) == 1:
            self.add(cands[0], name, p)
            return
        cls_ = TITLES[p.title][0]
        for c in self.clusters:
            if not c.has_full and cls_ in c.titles and (word in c.surnames or word in c.firsts) and not self.apart(name, c):
                self.add(c, name, p)
                return
        # "Doctor Kimble" and "Mr. Kimble": a doctor, clergyman or professor is "Mr." too
        styled = [c for c in self.clusters if not c.has_full and word in c.surnames and _mister_or_styled(cls_, c)]
        if not fulls and len(styled) == 1 and not self.apart(name, styled[0]):
            self.add(styled[0], name, p)
            return
        as_first = p.title in FIRSTNAME_TITLES
        self.new(name, p, firsts=[word] if as_first else [], surnames=[] if as_first else [word])

    def single(self, name: str) -> None:
        p = parse_name(name)
        firsts = [c for c in self.clusters if name in c.firsts and not self.distinct.any([name], c.members)]
        surnames = [
            c for c in self.clusters if name in c.surnames and c not in firsts and not self.distinct.any([name], c.members)
        ]
        # a given name of this story ("Charles": "Charles Wilcox") keeps its sex: it does
        # not join a woman named by it as her husband's ("Mrs. Charles")
        sex = self.genders.get(name) if self._given_here(name) else None
        if sex:
            firsts = [c for c in firsts if c.gender in (None, sex)]
            surnames = [c for c in surnames if c.gender in (None, sex)]
        men = [c for c in surnames if c.gender == "m"]
        # a word several full names take as their given name is a given name: the one
        # cluster holding it as a title's word ("Mistress Mary", beside "Mary Lennox" and
        # a rhyme's "Mistress Mary Quite Contrary") is no more likely than they are
        for group in [firsts] if len(firsts) > 1 else [firsts, surnames, men]:
            if len(group) == 1:  # a bare surname alone names a man ("Bingley", "Darcy")
                self.add(group[0], name, p)
                return
        # a bare surname among a family's men and women is a man's, never by weight the
        # woman the story names most ("Tulliver": not Maggie Tulliver)
        cands = firsts + (men if not firsts and men else surnames)
        near = self.in_scenes(name, cands) if len(cands) > 1 else []
        if len(near) == 1:  # "Jane": Miss Jane Bennet is in her scenes, Jane Austen (the preface) is not
            self.add(near[0], name, p)
            return
        dominant = self._dominant(cands)
        if dominant:
            self.add(dominant[0], name, p)
            return
        self.new(name, p, firsts=[name], surnames=[name])


def apply_model_aliases(res: Resolver, model_aliases: Sequence[ModelAlias]) -> None:
    for _, name, aliases in sorted(model_aliases, key=lambda t: (t[0], t[1])):
        target = res.of.get(name)
        if target is None:
            continue
        for alias in aliases:
            src = res.of.get(alias)
            if src is None or src is target or len(src.members) > 1 or src.kind != target.kind:
                continue
            src.members.remove(alias)
            target.members.append(alias)
            target.weight += src.weight
            res.of[alias] = target
            res.clusters.remove(src)
