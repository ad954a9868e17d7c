"""The prompt assembler: a pure function of the candidates and the budget.

:func:`assemble` fills a :class:`~automuse_rag.assemble.templates.Template` within a
token budget counted by the target model's tokenizer and records a
:class:`Decision` for every candidate (and for the outline and the last chunk).

Fixed parts (always present; if they alone exceed the budget,
:class:`~automuse_rag.errors.BudgetError` says by how many tokens): the template's
fixed sections and headers, the *minimal outline* (the first
``MIN_OUTLINE_TOKENS`` tokens of the current chapter's outline part) and the
*minimal last chunk* (its final ``MIN_LAST_CHUNK_TOKENS`` tokens).

Filling: content sections are served in priority order, first each up to its quota
(share of the budget), then from what is left. Degrade before dropping:

* the outline goes whole, else the current chapter's part, else that part cut
  from its end (never below the minimal outline);
* the last chunk is cut from its start, never its end;
* lore cards and memories go in full; when a section runs short its items are
  shortened (one-line card, first sentence of a summary), lowest score first;
  only when all are short are the lowest-scoring dropped.

The whole prompt is counted at the end (tokenizers are not additive across joins)
and trimmed until it fits: the result is never over budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from automuse_rag.assemble.budget import (
    MIN_LAST_CHUNK_TOKENS,
    MIN_OUTLINE_TOKENS,
    Item,
    TokenCache,
    cut_end,
    cut_start,
    fit_items,
)
from automuse_rag.assemble.templates import SEPARATOR, Template
from automuse_rag.errors import BudgetError

Fate = Literal["included", "shortened", "dropped"]
ITEM_SECTIONS = ("lore", "memories")


@dataclass(frozen=True)
class Candidate:
    """A memory or lore card that may go into a prompt.

    ``section`` is ``"lore"`` or ``"memories"``; ``short_text`` its shortest form
    (a card's one-line form, a summary's first sentence); ``chunk`` the source chunk
    (for a card: the last chunk its facts come from); ``score`` orders candidates
    within a section (higher is kept longer). ``sources`` names the activations
    that found it; ``drop_reason`` set by retrieval drops it before assembly (e.g. a
    near-duplicate), and it is still recorded as a decision."""

    id: str
    section: str
    text: str
    short_text: str
    chunk: int
    score: float
    chapter: int = 0
    kind: str = "summary"
    sources: tuple[str, ...] = ()
    entity_id: str | None = None
    drop_reason: str | None = None

    def form(self, state: str | None) -> str:
        return self.text if state == "full" else self.short_text if state == "short" else ""


@dataclass(frozen=True)
class Decision:
    """What happened to one candidate (or to the outline / last chunk) and why.

    ``tokens`` is the cost of the form used (for a dropped candidate: of its
    shortest form)."""

    candidate_id: str
    section: str
    chunk: int
    score: float
    tokens: int
    fate: Fate
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AssembledPrompt:
    """The assembled prompt: ``text`` is within ``budget`` (``tokens`` is its count)."""

    text: str
    sections: dict[str, str]
    decisions: list[Decision]
    tokens: int
    budget: int
    roles: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)  # set by build_prompt

    def messages(self) -> tuple[str, str]:
        """(system, user) for the chat format: sections split by their template role."""
        system = [t for name, t in self.sections.items() if self.roles.get(name, "system") == "system"]
        user = [t for name, t in self.sections.items() if self.roles.get(name) == "user"]
        return SEPARATOR.join(system), SEPARATOR.join(user)

    def counts(self) -> dict[str, int]:
        """Decisions per fate."""
        out = {"included": 0, "shortened": 0, "dropped": 0}
        for d in self.decisions:
            out[d.fate] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tokens": self.tokens,
            "budget": self.budget,
            "sections": dict(self.sections),
            "decisions": [d.to_dict() for d in self.decisions],
            "counts": self.counts(),
            **({"timings_ms": dict(self.timings_ms)} if self.timings_ms else {}),
        }


@dataclass
class _State:
    outline: str
    outline_form: str
    last: str
    items: dict[str, str | None]
    used: dict[str, int]
    trimmed: set[str] = field(default_factory=set)


def bullet(text: str) -> str:
    """How an item is shown in its section: one line, whitespace collapsed."""
    return "- " + " ".join(text.split())


class _Assembly:
    """One run of :func:`assemble` (holds the memoised counter and inputs)."""

    def __init__(
        self,
        template: Template,
        outline: str,
        outline_part: str,
        candidates: list[Candidate],
        last_chunk: str,
        budget: int,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.t = template
        self.count = TokenCache(count_tokens)
        self.budget = budget
        self.has = {s.name for s in template.sections}
        self.outline = outline.strip() if "outline" in self.has else ""
        self.part = (outline_part.strip() or self.outline) if "outline" in self.has else ""
        self.last = last_chunk.strip()
        self.min_outline = cut_end(self.part, MIN_OUTLINE_TOKENS, self.count)
        self.min_last = cut_start(self.last, MIN_LAST_CHUNK_TOKENS, self.count)
        self.cands = {c.id: c for c in candidates}
        self.live = [c for c in candidates if c.drop_reason is None and c.section in self.has]
        self.items = {name: self._items(name) for name in ITEM_SECTIONS}

    # -- costs ---------------------------------------------------------------
    def _items(self, section: str) -> list[Item]:
        out = []
        for c in self.live:
            if c.section == section:
                full = self.count(bullet(c.text)) + 1
                out.append(Item(c.id, c.score, full, self._short_cost(c, full)))
        return out

    def _short_cost(self, c: Candidate, full: int) -> Callable[[], int]:
        """The cost of ``c``'s short form in its section (with its line break), counted when asked."""
        return (lambda: self.count(bullet(c.short_text)) + 1) if c.short_text else (lambda: full)

    def header_cost(self, section: str) -> int:
        spec = self.t.section(section)
        return self.count("".join(spec.frame()).strip()) + 2 if spec else 0

    def render(self, st: _State) -> tuple[str, dict[str, str]]:
        contents = {"outline": st.outline, "last_chunk": st.last}
        for section in ITEM_SECTIONS:
            chosen = [self.cands[i] for i, s in st.items.items() if s and self.cands[i].section == section]
            if section == "memories":
                chosen.sort(key=lambda c: (c.chunk, c.id))  # story order
            else:
                chosen.sort(key=lambda c: (-c.score, c.id))
            contents[section] = "\n".join(bullet(c.form(st.items[c.id])) for c in chosen)
        return self.t.render(contents)

    # -- the fixed parts -----------------------------------------------------
    def fixed_state(self) -> _State:
        st = _State(self.min_outline, "minimal", self.min_last, {c.id: None for c in self.live}, {})
        st.used = {"outline": self.count(self.min_outline), "last_chunk": self.count(self.min_last), "lore": 0, "memories": 0}
        text, _ = self.render(st)
        need = self.count(text)
        if need > self.budget:
            raise BudgetError(
                f"the fixed parts need {need - self.budget} tokens more than the budget of {self.budget} "
                f"(template text, minimal outline and the last chunk's final tokens come to {need})"
            )
        st.used["fixed"] = need
        return st

    # -- filling -------------------------------------------------------------
    def fit(self, st: _State, section: str, allowance: int) -> None:
        if section == "last_chunk":
            st.last = self.last if self.count(self.last) <= allowance else cut_start(self.last, allowance, self.count)
            if self.count(st.last) < self.count(self.min_last):
                st.last = self.min_last
            st.used[section] = self.count(st.last)
        elif section == "outline":
            st.outline, st.outline_form = self._fit_outline(allowance)
            st.used[section] = self.count(st.outline)
        else:
            states, used = fit_items(self.items[section], self.header_cost(section), allowance)
            st.items.update(states)
            st.used[section] = used

    def _fit_outline(self, allowance: int) -> tuple[str, str]:
        if self.outline and self.count(self.outline) <= allowance:
            return self.outline, "full"
        if self.count(self.part) <= allowance:
            return self.part, "part"
        cut = cut_end(self.part, allowance, self.count)
        return (cut, "cut") if self.count(cut) > self.count(self.min_outline) else (self.min_outline, "minimal")

    def fill(self) -> _State:
        """Serve content sections in priority order: first up to their quotas, then
        from whatever budget is left."""
        st = self.fixed_state()
        remaining = self.budget - st.used["fixed"]
        for quota_pass in (True, False):
            for spec in self.t.content_sections():
                before = st.used[spec.name]
                allowance = before + remaining
                if quota_pass:
                    allowance = min(allowance, max(before, int(spec.quota * self.budget)))
                self.fit(st, spec.name, allowance)
                remaining -= st.used[spec.name] - before
        return st

    def trim(self, st: _State) -> tuple[str, dict[str, str], int]:
        """Count the whole prompt and trim until it fits the budget."""
        while True:
            text, sections = self.render(st)
            tokens = self.count(text)
            over = tokens - self.budget
            if over <= 0:
                return text, sections, tokens
            if not self._trim_step(st, over):
                raise BudgetError(f"the fixed parts need {over} tokens more than the budget of {self.budget}")

    def _trim_step(self, st: _State, over: int) -> bool:
        for spec in reversed(self.t.content_sections()):
            if spec.name in ITEM_SECTIONS:
                kept = [c for c in self.live if c.section == spec.name and st.items.get(c.id)]
                if kept:
                    worst = min(kept, key=lambda c: (c.score, c.id))
                    st.items[worst.id] = None
                    st.trimmed.add(worst.id)
                    return True
            elif spec.name == "last_chunk" and st.last != self.min_last:
                smaller = cut_start(self.last, max(0, self.count(st.last) - over - 1), self.count)
                st.last = smaller if self.count(smaller) > self.count(self.min_last) else self.min_last
                return True
            elif spec.name == "outline" and st.outline != self.min_outline:
                st.outline, st.outline_form = self.min_outline, "minimal"
                return True
        return False

    # -- decisions -----------------------------------------------------------
    def decisions(self, st: _State, last_index: int) -> list[Decision]:
        out = [self._outline_decision(st)] if self.part or self.outline else []
        if self.last:
            out.append(self._last_decision(st, last_index))
        for c in self.cands.values():
            out.append(self._candidate_decision(st, c))
        return out

    def _outline_decision(self, st: _State) -> Decision:
        tokens = self.count(st.outline)
        fate: Fate
        if st.outline == self.outline or not self.outline and st.outline == self.part:
            fate, reason = "included", "the whole outline fits"
        elif st.outline == self.part:
            fate, reason = (
                "shortened",
                f"the current chapter's part only: the whole outline needs {self.count(self.outline)} tokens",
            )
        else:
            fate = "shortened"
            reason = f"the current chapter's part cut from its end to {tokens} of {self.count(self.part)} tokens"
        return Decision("outline", "outline", -1, 1.0, tokens, fate, reason)

    def _last_decision(self, st: _State, last_index: int) -> Decision:
        tokens = self.count(st.last)
        if st.last == self.last:
            return Decision("last_chunk", "last_chunk", last_index, 1.0, tokens, "included", "the whole last chunk fits")
        reason = f"cut from its start to its final {tokens} of {self.count(self.last)} tokens (its end is kept)"
        return Decision("last_chunk", "last_chunk", last_index, 1.0, tokens, "shortened", reason)

    def _candidate_decision(self, st: _State, c: Candidate) -> Decision:
        state = st.items.get(c.id)
        if state == "full" and c.drop_reason is None and c.section in self.has:
            return Decision(c.id, c.section, c.chunk, c.score, self.count(bullet(c.text)), "included", "fits in full")
        full = self.count(bullet(c.text))
        short = self.count(bullet(c.short_text)) if c.short_text else full
        if c.drop_reason is not None:
            return Decision(c.id, c.section, c.chunk, c.score, short, "dropped", c.drop_reason)
        if c.section not in self.has:
            return Decision(c.id, c.section, c.chunk, c.score, short, "dropped", f"the template has no {c.section} section")
        room = st.used.get(c.section, 0)
        if state == "short":
            form = "one-line card" if c.section == "lore" else "first sentence"
            return Decision(
                c.id,
                c.section,
                c.chunk,
                c.score,
                short,
                "shortened",
                f"{form}: {c.section} had {room} tokens (lowest scores shortened first)",
            )
        if c.id in st.trimmed:
            return Decision(c.id, c.section, c.chunk, c.score, short, "dropped", "no room in the final count of the whole prompt")
        return Decision(
            c.id,
            c.section,
            c.chunk,
            c.score,
            short,
            "dropped",
            f"no room: {c.section} had {room} tokens, all items short (lowest scores dropped first)",
        )


def assemble(
    template: Template,
    outline: str,
    outline_part: str,
    candidates: list[Candidate],
    last_chunk: str,
    budget: int,
    count_tokens: Callable[[str], int],
    *,
    last_chunk_index: int = -1,
) -> AssembledPrompt:
    """Assemble a prompt within ``budget`` tokens (pure: no I/O, no model calls
    beyond ``count_tokens``).

    ``outline_part`` is the current chapter's part of ``outline`` ('' = the whole
    outline); ``last_chunk`` the text the next chunk continues ('' = none yet).
    Returns an :class:`AssembledPrompt` whose ``tokens == count_tokens(text) <=
    budget``, with a :class:`Decision` per candidate plus ``outline`` and
    ``last_chunk``. Raises :class:`~automuse_rag.errors.BudgetError` with the token
    deficit when the fixed parts cannot fit."""
    run = _Assembly(template, outline, outline_part, candidates, last_chunk, budget, count_tokens)
    state = run.fill()
    text, sections, tokens = run.trim(state)
    roles = {s.name: s.role for s in template.sections}
    return AssembledPrompt(text, sections, run.decisions(state, last_chunk_index), tokens, budget, roles)
