"""Unit tests of the compare strategies and metrics over in-memory stories."""

from __future__ import annotations

import pytest

from automuse_rag.compare.metrics import (
    entity_recall,
    even_sample,
    names_in,
    parse_positions,
    recall_targets,
)
from automuse_rag.compare.strategies import (
    RESUMMARY_FLOOR,
    LastChunk,
    MemoryCost,
    RecursiveSummary,
    RollingRecursive,
    RollingUnbounded,
    fit_prompt,
    keep_tail,
    recursive_states,
    render_rolling,
    rolling_unbounded_prompt,
)
from automuse_rag.errors import InputError
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.models.fake import HashEmbedder, count_words_and_marks

count = count_words_and_marks


def make_story(n: int = 30, summary_words: int = 40, chunk_words: int = 120) -> InMemoryStory:
    records = [
        ChunkRecord(
            index=i,
            id=f"c{i}",
            chapter=1 + i // 10,
            chapter_title=f"CHAPTER {1 + i // 10}",
            text=" ".join(f"text{i}w{k}" for k in range(chunk_words)),
            summary=" ".join([f"Event{i}"] + [f"s{i}w{k}" for k in range(summary_words - 1)]),
        )
        for i in range(n)
    ]
    return InMemoryStory(
        "synthetic", records, [], HashEmbedder(), outline="An outline of twelve words about a story and its many people."
    )


def zero_costs(n: int) -> list[MemoryCost]:
    return [MemoryCost()] * n


def halve(text: str, max_tokens: int) -> tuple[str, MemoryCost]:
    """A re-summarizer double: keeps the last max_tokens words."""
    return keep_tail(text, max_tokens), MemoryCost(calls=1, tokens=count(text))


def test_unbounded_grows_linearly_and_passes_the_budget() -> None:
    story = make_story()
    budget = 600
    strat = RollingUnbounded(story, budget, count, zero_costs(len(story)))
    tokens = [strat.context(i).tokens for i in range(len(story))]
    steps = {b - a for a, b in zip(tokens, tokens[1:])}
    assert len(steps) == 1 and steps.pop() > 0  # every chunk adds the same summary length
    over = [strat.context(i).over_budget for i in range(len(story))]
    first = over.index(True)
    assert first > 0 and all(over[first:]) and not any(over[:first])
    # It holds every summary so far, verbatim.
    ctx = strat.context(20).text
    assert all(f"Event{j}" in ctx for j in range(21)) and "Event21" not in ctx


def test_recursive_never_over_budget_and_keeps_recent_events() -> None:
    story = make_story()
    budget = 400
    strat = RollingRecursive(story, budget, count, zero_costs(len(story)), halve)
    for i in range(len(story)):
        ctx = strat.context(i)
        assert ctx.tokens <= budget
        assert f"Event{i}" in ctx.text  # the latest summary survives re-summarizing and cuts
        assert f"text{i}w{119}" in ctx.text  # the end of the last chunk is kept
    assert strat.roller.resummaries > 0
    assert strat.context(len(story) - 1).cost.calls == strat.roller.resummaries
    assert [strat.context(i).resummaries for i in range(len(story))] == strat.roller.counts
    assert strat.roller.counts[-1] == strat.roller.resummaries < len(story) // 2  # not one per chunk


def test_recursive_summary_re_summarizes_past_the_limit() -> None:
    summaries = [" ".join(f"w{i}x{k}" for k in range(30)) for i in range(10)]
    states = recursive_states(summaries, 100, count, halve)
    assert all(count(s) <= 100 for s in states)
    assert states[0] == summaries[0] and states[2] == "\n".join(summaries[:3])  # 90 tokens: no re-summary yet
    assert count(states[3]) <= 55 == int(100 * RESUMMARY_FLOOR)  # 120 > 100: re-summarized to the target
    roller = RecursiveSummary(100, count, halve)
    for s in summaries:
        roller.extend(s)
    assert roller.resummaries == sum(1 for a, b in zip(states, states[1:]) if count(b) < count(a) + 30 - 1)


def words(i: int, n: int) -> str:
    return " ".join(f"w{i}x{k}" for k in range(n))


def test_re_summaries_come_every_few_chunks_with_hysteresis() -> None:
    """Chunk summaries of 30 tokens into a 200-token limit: once full, every chunk
    passes the limit under a target just below it (the old 90% rule re-summarized at
    every chunk); with the default target the next summaries fill the gap first."""
    summaries = [words(i, 30) for i in range(60)]
    old = RecursiveSummary(200, count, halve, target=180)
    new = RecursiveSummary(200, count, halve)
    for s in summaries:
        old.extend(s)
        new.extend(s)
    first = 6  # 7 summaries (210 tokens) pass the limit
    assert old.counts[first:] == list(range(1, len(summaries) - first + 1))  # one per chunk
    # room for two mean summaries: 200 - 2 x 30 = 140, more than 55% of the limit (110)
    assert new.targets == [140] * new.resummaries and new.next_target() == 140
    made = [j for j in range(len(summaries)) if new.counts[j] > (new.counts[j - 1] if j else 0)]
    assert made[0] == first and len(made) == new.resummaries == new.counts[-1]
    assert all(b - a == 3 for a, b in zip(made, made[1:]))  # 140 -> 170, 200 fit; 230 passes
    assert new.resummaries == len(range(first, len(summaries), 3)) == 18
    assert new.per_chunk() == 18 / 60 and old.resummaries == 54
    assert all(count(s) <= 200 for s in new.states)  # the summary always fits the room
    assert all(count(new.states[j]) <= 140 for j in made)  # and each re-summary cuts it to the target
    assert "w59x29" in new.states[-1]  # the latest summary survives


def test_re_summary_target_keeps_the_floor_when_summaries_are_large() -> None:
    """50-token summaries into a 200-token limit: 200 - 2 x 50 = 100 is below the floor,
    so a re-summary keeps 55% of the limit (110) and one more summary fits before the
    next: every other chunk, not every chunk."""
    roller = RecursiveSummary(200, count, halve)
    for i in range(40):
        roller.extend(words(i, 50))
    assert set(roller.targets) == {int(200 * RESUMMARY_FLOOR)} == {110}
    made = [j for j in range(40) if roller.counts[j] > (roller.counts[j - 1] if j else 0)]
    assert made[0] == 4 and all(b - a == 2 for a, b in zip(made, made[1:]))  # 110 -> 160 fits; 210 passes
    assert all(count(s) <= 200 for s in roller.states)


def test_an_overlong_re_summary_is_cut_to_the_target() -> None:
    """A re-summarizer that does not shorten at all: its output is cut to the target, so
    the summary fits and the hysteresis holds."""

    def verbatim(text: str, max_tokens: int) -> tuple[str, MemoryCost]:
        return text, MemoryCost(calls=1)

    roller = RecursiveSummary(200, count, verbatim)
    for i in range(30):
        roller.extend(words(i, 30))
    assert roller.resummaries == len(range(6, 30, 3)) == 8  # as a re-summarizer that shortens to the target
    assert all(count(s) <= 200 for s in roller.states)
    assert roller.cost.calls == roller.resummaries


def test_last_chunk_is_the_floor() -> None:
    story = make_story()
    budget = 400
    floor = LastChunk(story, budget, count)
    unbounded = RollingUnbounded(story, 10**6, count, zero_costs(len(story)))
    for i in (0, 5, 29):
        ctx = floor.context(i)
        assert ctx.tokens <= budget and ctx.cost == MemoryCost()
        assert "Event" not in ctx.text and story.latest().records()[i].text in ctx.text
        assert ctx.tokens < unbounded.context(i).tokens
    tiny = LastChunk(story, 60, count).context(3)
    assert tiny.tokens <= 60 and "text3w119" in tiny.text and tiny.notes


def test_fit_prompt_cuts_in_order() -> None:
    outline = "The outline."
    summary = " ".join(f"old{k}" for k in range(50)) + " " + " ".join(f"new{k}" for k in range(50))
    chunk = " ".join(f"c{k}" for k in range(40))
    full = count(rolling_unbounded_prompt(outline, [summary], chunk))
    text, tokens, notes = fit_prompt(outline, summary, chunk, full - 30, count)
    assert tokens <= full - 30 and "new49" in text and "old0" not in text and chunk in text
    assert len(notes) == 1 and "summary" in notes[0]
    # a long outline is first cut to a quarter of the budget, keeping its start
    long_outline = " ".join(f"plan{k}" for k in range(300))
    text, tokens, notes = fit_prompt(long_outline, summary, chunk, 200, count)
    assert tokens <= 200 and "plan0" in text and "plan299" not in text and chunk in text and "new49" in text
    assert "outline" in notes[0] and "summary" in notes[1]


def test_entity_recall_counts_known_entities_named_in_next_chunk() -> None:
    ents = [
        Entity("e1", "Edith Marlowe", "character", {"Edith Marlowe": 0, "Edith": 2}, [0, 2, 5]),
        Entity("e2", "Port Carrow", "place", {"Port Carrow": 1}, [1, 5]),
        Entity("e3", "Henry Dunmore", "character", {"Henry Dunmore": 5}, [5]),  # new at 5: not a target
        Entity("e4", "the chess table", "thing", {"the chess table": 0}, [0, 5]),  # a thing: not a target
        Entity("e5", "Samuel Greaves", "character", {"Samuel Greaves": 0, "Dr. Greaves": 6}, [0, 6]),  # not in 5
    ]
    targets = recall_targets([e.at(5) for e in ents if e.at(5)], 4)
    assert sorted(t.id for t in targets) == ["e1", "e2"]
    assert entity_recall("Edith walked on.", targets) == 0.5  # alias known by 4
    assert entity_recall("Edithe and port carrow", targets) == 0.0  # whole words, case-sensitive
    assert entity_recall("Edith Marlowe reached Port Carrow.", targets) == 1.0
    assert entity_recall("anything", []) is None
    assert names_in("Dr. Greaves said", ["Dr. Greaves"]) and not names_in("Greavesy", ["Greaves"])


def test_positions_spec() -> None:
    assert parse_positions("all", 6) == [0, 1, 2, 3, 4]
    assert parse_positions("1:4", 6) == [1, 2, 3]
    assert parse_positions("0:100:2", 6) == [0, 2, 4]
    assert parse_positions("3,1", 6) == [1, 3]
    assert parse_positions(None, 1000, max_positions=10) == even_sample(list(range(999)), 10)
    assert len(parse_positions("all", 1000, max_positions=10)) == 10
    for bad in ("x", "1:2:0", "7", "9:12"):
        with pytest.raises(InputError):
            parse_positions(bad, 6)
    with pytest.raises(InputError):
        parse_positions("all", 1)
    assert even_sample([0, 1, 2, 3, 4, 5, 6, 7, 8], 3) == [0, 4, 8]


def test_extractive_resummarizer_fits_the_target() -> None:
    from automuse_rag.compare.strategies import extractive_resummarizer

    text = " ".join(f"Sentence number {k} tells of Edith and the boat {k}." for k in range(40))
    shorter, cost = extractive_resummarizer(count)(text, 60)
    assert 0 < count(shorter) <= 60 and cost == MemoryCost()
    assert all(s.strip() in text for s in shorter.split(".") if s.strip())  # extractive: sentences of the text


def test_fit_prompt_keeps_the_last_chunk_whole_before_the_outline_and_the_summary() -> None:
    # A budget that holds the whole last chunk only if the outline goes below its
    # quarter share and the summary goes entirely: both must go before the chunk is cut.
    outline = " ".join(f"plan{k}" for k in range(300))
    summary = " ".join(f"new{k}" for k in range(50))
    chunk = " ".join(f"c{k}" for k in range(120))
    bare = count(render_rolling("", "", chunk))
    budget = bare + 20  # room for 20 outline words, less than a quarter of the budget
    assert budget // 4 > 20
    text, tokens, notes = fit_prompt(outline, summary, chunk, budget, count)
    assert tokens <= budget and chunk in text  # whole
    assert "plan0" in text and "new49" not in text and "plan40" not in text
    assert [n.split()[0] for n in notes] == ["outline", "summary", "outline"]
    # the last resort: with no outline or summary left, the chunk loses its first words
    text, tokens, notes = fit_prompt(outline, summary, chunk, bare - 10, count)
    assert tokens <= bare - 10 and "c119" in text and "c0 " not in text and "last resort" in notes[-1]


def test_paired_differences_and_bootstrap_interval() -> None:
    from automuse_rag.compare.metrics import (
        bootstrap_ci,
        paired_differences,
        paired_nll,
    )

    # paired by position, positions missing on either side left out
    diffs = paired_differences([1, 2, 3, 4], [3.0, None, 2.5, 4.0], [4, 3, 1, 9], [3.5, 2.0, 2.0, 1.0])
    assert diffs == [pytest.approx(1.0), pytest.approx(0.5), pytest.approx(0.5)]
    assert bootstrap_ci([0.25] * 10) == (pytest.approx(0.25), pytest.approx(0.25))
    assert bootstrap_ci([1.0]) is None
    noisy = [(-1) ** k * 0.5 + 0.1 for k in range(40)]  # mean 0.1, spread 0.5
    lo, hi = bootstrap_ci(noisy)
    assert lo < 0.1 < hi and hi - lo < 0.5
    wide = bootstrap_ci(noisy[:6])
    assert wide[1] - wide[0] > hi - lo  # fewer positions, wider interval

    class R:
        def __init__(self, positions: list[int], nll: list[float | None]) -> None:
            self.positions, self.nll = positions, nll

    out = paired_nll(R([0, 1, 2], [2.0, 1.0, 3.0]), R([0, 1, 2], [2.5, 1.5, 2.0]))
    assert out["n"] == 3 and out["mean_diff"] == pytest.approx(0.0) and out["better_at"] == 2
    assert out["ci95"][0] <= out["mean_diff"] <= out["ci95"][1]
    assert paired_nll(R([0], [None]), R([0], [1.0])) is None
