"""The pure assembler: budget invariants (hypothesis), degradation order, decisions,
BudgetError, templates."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from automuse_rag.assemble import Candidate, assemble, load_template, parse_template
from automuse_rag.assemble.assembler import bullet
from automuse_rag.assemble.budget import ELLIPSIS, _first_true, cut_end, cut_start
from automuse_rag.errors import BudgetError, InputError
from automuse_rag.models.fake import count_words_and_marks

TEMPLATE = load_template()
DEFICIT = re.compile(r"the fixed parts need (\d+) tokens more than the budget of (\d+)")

ALPHABET = st.sampled_from(list("abcdefghij ABCXYZ  .,;!?\n") + list("éßøñçüÅΩжщ中文字😀—“”’…"))
TEXT = st.text(alphabet=ALPHABET, max_size=300)
WORDS = st.lists(
    st.sampled_from(["the", "café", "Zoë", "naïve", "старый", "灯台", "keeper", "storm", "—", "."]), max_size=80
).map(" ".join)
ANY_TEXT = st.one_of(TEXT, WORDS)


@st.composite
def candidate_sets(draw) -> list[Candidate]:
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        text = draw(ANY_TEXT)
        cut = draw(st.integers(0, len(text)))
        out.append(
            Candidate(
                id=f"c{i}",
                section=draw(st.sampled_from(["lore", "memories"])),
                text=text,
                short_text=text[:cut],
                chunk=draw(st.integers(0, 40)),
                score=draw(st.floats(0, 1)),
                drop_reason=draw(st.sampled_from([None, None, None, "near-duplicate"])),
            )
        )
    return out


def last_chunk_content(result, template=TEMPLATE) -> str:
    section = result.sections["last_chunk"]
    header, footer = template.section("last_chunk").frame()
    assert section.startswith(header) and section.endswith(footer)
    return section[len(header) : len(section) - len(footer)]


def check_invariants(template, outline, part, cands, last, budget, count) -> None:
    try:
        result = assemble(template, outline, part, cands, last, budget, count)
    except BudgetError as exc:
        match = DEFICIT.search(str(exc))
        assert match, str(exc)
        deficit = int(match.group(1))
        assert deficit > 0 and int(match.group(2)) == budget
        # exactly the deficit more makes it fit; one token less still fails by 1
        fitted = assemble(template, outline, part, cands, last, budget + deficit, count)
        assert count(fitted.text) <= budget + deficit
        if deficit > 1:
            with pytest.raises(BudgetError, match="need 1 tokens more"):
                assemble(template, outline, part, cands, last, budget + deficit - 1, count)
        return
    assert count(result.text) == result.tokens <= budget
    assert {d.candidate_id for d in result.decisions} >= {c.id for c in cands}
    for cand in cands:
        if cand.drop_reason:
            assert next(d for d in result.decisions if d.candidate_id == cand.id).fate == "dropped"
    if last.strip():
        kept = last_chunk_content(result, template)
        assert kept, "the last chunk vanished"
        tail = kept if kept == last.strip() else kept.removeprefix(ELLIPSIS)
        assert tail and last.strip().endswith(tail), "the last chunk's end must be kept verbatim"


@given(outline=ANY_TEXT, part=ANY_TEXT, cands=candidate_sets(), last=ANY_TEXT, budget=st.integers(0, 900))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_never_over_budget_and_keeps_the_end(outline, part, cands, last, budget) -> None:
    check_invariants(TEMPLATE, outline, part, cands, last, budget, count_words_and_marks)


def _non_additive(text: str) -> int:
    """A counter that is not additive across joins (like BPE merges): every 3 chars
    of a run of letters is a token, any other char is one."""
    return sum(len(m) // 3 + 1 if m[0].isalpha() else len(m) for m in re.findall(r"[^\W\d_]+|\s+|.", text, re.S))


@given(outline=ANY_TEXT, part=ANY_TEXT, cands=candidate_sets(), last=ANY_TEXT, budget=st.integers(0, 900))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_never_over_budget_with_a_non_additive_counter(outline, part, cands, last, budget) -> None:
    check_invariants(load_template("chat"), outline, part, cands, last, budget, _non_additive)


@lru_cache(maxsize=1)
def _local_counter():
    """The local model's token counter; a missing or broken llama.cpp install fails the test."""
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    model = LocalChatModel(get_settings(n_ctx=512))
    model.count_tokens("warm up")
    return model.count_tokens


@pytest.mark.slow
@given(outline=ANY_TEXT, part=ANY_TEXT, cands=candidate_sets(), last=ANY_TEXT, budget=st.integers(0, 600))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_never_over_budget_with_the_local_tokenizer(outline, part, cands, last, budget) -> None:
    count = _local_counter()
    check_invariants(TEMPLATE, outline, part, cands, last, budget, count)


# -- cutting -----------------------------------------------------------------------


@given(text=ANY_TEXT, n=st.integers(0, 60))
@settings(max_examples=200, deadline=None)
def test_cut_start_keeps_a_suffix_and_cut_end_a_prefix(text, n) -> None:
    count = count_words_and_marks
    tail = cut_start(text, n, count)
    head = cut_end(text, n, count)
    assert count(tail) <= n or tail == ""
    assert count(head) <= n or head == ""
    if tail and tail != text:
        assert tail.startswith(ELLIPSIS) and text.endswith(tail[1:])
    if head and head != text:
        assert head.endswith(ELLIPSIS) and text.startswith(head[:-1])


@given(text=ANY_TEXT, n=st.integers(0, 60))
@settings(max_examples=200, deadline=None)
def test_a_cut_keeps_whole_words_and_every_word_that_fits(text, n) -> None:
    """A tail starts at the earliest word whose tail fits, a head ends at the latest word
    whose head fits; inside a word only when no word fits."""
    count = count_words_and_marks
    starts = [m.start() for m in re.finditer(r"(?<=\s)\S", text)]
    ends = [m.end() for m in re.finditer(r"\S(?=\s)", text)]
    tail = cut_start(text, n, count)
    if tail and tail != text:
        at = len(text) - len(tail) + 1
        if at in starts:
            assert all(count(ELLIPSIS + text[s:]) > n for s in starts if s < at)
        else:
            assert all(count(ELLIPSIS + text[s:]) > n for s in starts)
    head = cut_end(text, n, count)
    if head and head != text:
        end = len(head) - 1
        if end in ends:
            assert all(count(text[:e] + ELLIPSIS) > n for e in ends if e > end)
        else:
            assert all(count(text[:e] + ELLIPSIS) > n for e in ends)


@given(
    lo=st.integers(0, 50),
    width=st.integers(0, 400),
    answer=st.integers(-10, 500),
    guess=st.integers(-20, 500),
    step=st.integers(0, 80),
)
@settings(max_examples=300, deadline=None)
def test_galloping_search_finds_what_bisection_finds(lo, width, answer, guess, step) -> None:
    hi = lo + width
    asked: list[int] = []

    def pred(x: int) -> bool:
        asked.append(x)
        return x >= answer

    found = _first_true(lo, hi, pred, guess, step)
    assert found == min(max(answer, lo), hi)
    assert all(lo <= x < hi for x in asked), "asked outside the range, or at hi (taken as True)"


def test_cutting_a_long_text_counts_a_few_short_texts() -> None:
    text = " ".join(f"word{i}" for i in range(3000))
    counted: list[int] = []

    def count(t: str) -> int:
        counted.append(len(t))
        return count_words_and_marks(t)

    tail = cut_start(text, 64, count)
    assert count_words_and_marks(tail) == 64 and text.endswith(tail[1:])  # "…" and the last 63 words: the longest
    assert len(counted) <= 8 and sum(counted[1:]) < len(text)  # a bisection of the whole text reads about 6 times it


# -- degradation order ---------------------------------------------------------------


def _cards(n: int, section: str = "lore") -> list[Candidate]:
    return [
        Candidate(
            id=f"{section}{i}",
            section=section,
            text=f"Person{i} (character; also: P{i}): " + " ".join(f"detail{i}x{j}" for j in range(30)),
            short_text=f"Person{i} (character): brief{i}",
            chunk=i,
            score=1.0 - i / 10,
        )
        for i in range(n)
    ]


LAST = " ".join(f"word{i}" for i in range(400)) + " THE-END."
OUTLINE_PARTS = [f"Part {n}: " + " ".join([word] * 60) for n, word in [("one", "alpha"), ("two", "beta"), ("three", "gamma")]]
OUTLINE = "\n".join(OUTLINE_PARTS)


def _fates(result, section: str) -> dict[str, str]:
    return {d.candidate_id: d.fate for d in result.decisions if d.section == section}


def test_items_are_shortened_before_any_is_dropped() -> None:
    cands = _cards(6, "lore") + _cards(20, "memories")
    count = count_words_and_marks
    seen_all_short = {"lore": False, "memories": False}
    seen_drop = {"lore": False, "memories": False}
    for budget in range(260, 1600, 20):
        result = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], cands, LAST, budget, count)
        assert result.tokens <= budget
        for section in ("lore", "memories"):
            fates = _fates(result, section)
            if "dropped" in fates.values():
                seen_drop[section] = True
                assert "included" not in fates.values(), f"budget {budget}: {section} dropped an item while another was whole"
            if set(fates.values()) == {"shortened"}:
                seen_all_short[section] = True
            # lowest scores go first: an included item never scores below a dropped one
            kept = [c.score for c in cands if fates.get(c.id) != "dropped" and c.section == section]
            gone = [c.score for c in cands if fates.get(c.id) == "dropped" and c.section == section]
            if kept and gone:
                assert min(kept) >= max(gone)
    assert all(seen_all_short.values()) and all(seen_drop.values())


def test_short_forms_are_counted_only_when_an_item_may_be_shortened() -> None:
    """Counting a form is a tokenizer pass (about a third of a prompt's assembly went to
    short forms never used): with room for everything, no short form is counted; with
    little room, the ones shortened or dropped are."""
    cands = _cards(4, "lore") + _cards(6, "memories")
    shorts = {bullet(c.short_text) for c in cands}
    counted: list[str] = []

    def count(t: str) -> int:
        counted.append(t)
        return count_words_and_marks(t)

    roomy = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], cands, LAST, 4000, count)
    assert {d.fate for d in roomy.decisions if d.section in ("lore", "memories")} == {"included"}
    assert not shorts & set(counted)
    counted.clear()
    tight = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], cands, LAST, 700, count)
    squeezed = {d.candidate_id for d in tight.decisions if d.fate in ("shortened", "dropped") and d.section != "outline"}
    assert squeezed and {bullet(c.short_text) for c in cands if c.id in squeezed} <= set(counted)


def test_outline_degrades_to_the_current_part_then_is_cut() -> None:
    count = count_words_and_marks
    roomy = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], [], "short last chunk.", 2000, count)
    assert OUTLINE in roomy.text
    tight = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], [], LAST, 600, count)
    assert OUTLINE not in tight.text and OUTLINE_PARTS[1] in tight.text
    assert "Part one" not in tight.text
    decision = next(d for d in tight.decisions if d.candidate_id == "outline")
    assert decision.fate == "shortened" and "part" in decision.reason
    tighter = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[1], [], LAST, 260, count)
    assert "Part two: beta" in tighter.text and OUTLINE_PARTS[1] not in tighter.text


def test_last_chunk_is_cut_from_its_start() -> None:
    result = assemble(TEMPLATE, "", "", [], LAST, 300, count_words_and_marks)
    kept = last_chunk_content(result)
    assert kept.startswith(ELLIPSIS) and kept.endswith("THE-END.") and "word0 " not in kept
    decision = next(d for d in result.decisions if d.candidate_id == "last_chunk")
    assert decision.fate == "shortened" and "start" in decision.reason


def test_every_candidate_gets_a_decision_with_its_source_and_reason() -> None:
    cands = _cards(4) + [
        Candidate("dup", "memories", "a memory", "a memory", 3, 0.9, drop_reason="near-duplicate of summary:2"),
        Candidate("nowhere", "timeline", "an item for a section the template lacks", "x", 1, 0.5),
    ]
    result = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[0], cands, LAST, 400, count_words_and_marks, last_chunk_index=7)
    by_id = {d.candidate_id: d for d in result.decisions}
    assert set(by_id) == {c.id for c in cands} | {"outline", "last_chunk"}
    assert by_id["last_chunk"].chunk == 7
    assert by_id["dup"].fate == "dropped" and by_id["dup"].reason == "near-duplicate of summary:2"
    assert by_id["nowhere"].fate == "dropped" and "no timeline section" in by_id["nowhere"].reason
    for cand in cands[:4]:
        d = by_id[cand.id]
        assert d.chunk == cand.chunk and d.score == cand.score and d.reason
        assert d.tokens == count_words_and_marks("- " + (cand.text if d.fate == "included" else cand.short_text))
        shown = {"included": cand.text, "shortened": cand.short_text}.get(d.fate)
        if shown:
            assert shown in result.text
    assert result.counts()["dropped"] >= 2


def test_budget_error_states_the_deficit() -> None:
    count = count_words_and_marks
    with pytest.raises(BudgetError) as info:
        assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[0], _cards(3), LAST, 40, count)
    deficit = int(DEFICIT.search(str(info.value)).group(1))
    fixed = assemble(TEMPLATE, OUTLINE, OUTLINE_PARTS[0], _cards(3), LAST, 40 + deficit, count)
    assert fixed.tokens == 40 + deficit  # exactly the fixed parts
    assert all(d.fate == "dropped" for d in fixed.decisions if d.section in ("lore", "memories"))


def test_memories_appear_in_story_order() -> None:
    mems = [Candidate(f"m{c}", "memories", f"memory from chunk {c}.", f"m{c}", c, s) for c, s in [(9, 0.2), (2, 0.9), (5, 0.5)]]
    text = assemble(TEMPLATE, "", "", mems, "last words.", 500, count_words_and_marks).text
    assert text.index("chunk 2") < text.index("chunk 5") < text.index("chunk 9")


def test_chat_messages_split_by_role() -> None:
    result = assemble(load_template("chat"), OUTLINE, "", _cards(2), "the last words.", 2000, count_words_and_marks)
    system, user = result.messages()
    assert "Story outline:" in system and "Characters and places:" in system
    assert "the last words." in user and "Write the next chunk" in user
    assert system + "\n\n" + user == result.text


def test_user_template_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("my notes\n[[section last_chunk]]\n>> $content\n[[section cue]]\nGo on:\n", encoding="utf-8")
    result = assemble(load_template(path), "ignored outline", "", _cards(2), "the end.", 300, count_words_and_marks)
    assert result.text == ">> the end.\n\nGo on:"
    assert all(d.fate == "dropped" for d in result.decisions if d.section == "lore")


@pytest.mark.parametrize(
    "text, message",
    [
        ("no headers at all", "no \\[\\[section"),
        ("[[section outline]]\nno placeholder\n[[section last_chunk]]\n$content", "must contain"),
        ("[[section last_chunk role=user]]\n$content\n[[section note role=system]]\nx", "before user"),
        ("[[section last_chunk colour=red]]\n$content", "unknown key"),
        ("[[section outline]]\n$content", "needs a last_chunk"),
        ("[[section last_chunk]]\n$content costs $5", "dollar sign"),
        ("[[section last_chunk]]\n$content\n[[section cue]]\n$cue", "dollar sign"),
    ],
)
def test_malformed_templates_are_input_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_template(text, "t")


def test_missing_template_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_template(tmp_path / "nope.txt")


def test_sections_after_a_user_section_default_to_user() -> None:
    t = parse_template("[[section note]]\nhi\n[[section last_chunk]]\n$content\n[[section footer]]\nbye", "t")
    assert [s.role for s in t.sections] == ["system", "user", "user"]
