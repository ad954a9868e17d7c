"""Retrieval as of a position: activations, dedup, and no future leakage (a fact
planted in chunk 30 never reaches a prompt before 30)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from automuse_rag.assemble import build_prompt, gather_candidates
from automuse_rag.assemble.retrieve import _jaccard, _near, dedupe, first_sentence
from automuse_rag.errors import BudgetError
from automuse_rag.lore.entity import Entity, Relation
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.snapshot import PositionError
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.fake import HashEmbedder, count_words_and_marks

PLANT = 30
N_CHUNKS = 36
# One unique token per channel the fact could leak through.
TOKENS = {
    "summary": "Zephyrquill",
    "description": "Mornavelle",
    "alias": "Brackenhollow",
    "edge": "Oathbinder",
}


def _chunk_text(i: int) -> str:
    base = f"Edith and Captain Reddick walked the quay in chunk {i}, talking of storms and lobster pots. "
    if i == PLANT:
        base += f"They found the {TOKENS['summary']} grant; men called Reddick {TOKENS['alias']} now."
    return base * 4


def _summary(i: int) -> str:
    if i == PLANT:
        return f"Edith learns the grant is hidden in the {TOKENS['summary']} chess table. Reddick is alive."
    return f"In part {i} Edith and Reddick talk about event number {i} at the harbour. Nothing else of note."


def planted_story() -> InMemoryStory:
    # Old Tam is met alone in chunk 3; his only graph edge is the relation planted in 30.
    others = [i for i in range(N_CHUNKS) if i != 3]
    records = [ChunkRecord(i, f"c{i}", i // 6 + 1, f"CHAPTER {i // 6 + 1}", _chunk_text(i), _summary(i)) for i in range(N_CHUNKS)]
    edith = Entity(
        "edith",
        "Edith Marlowe",
        "character",
        {"Edith Marlowe": 0, "Edith": 0},
        others,
        [(0, "a schoolmistress"), (12, "Reddick's goddaughter")],
    )
    reddick = Entity(
        "reddick",
        "Thomas Reddick",
        "character",
        {"Thomas Reddick": 0, "Reddick": 0, "Captain Reddick": 0, TOKENS["alias"]: PLANT},
        others,
        [(0, "a retired lighthouse keeper")],
    )
    greaves = Entity(
        "greaves",
        "Samuel Greaves",
        "character",
        {"Samuel Greaves": 10, "Dr. Greaves": 10},
        [10, PLANT, 33],
        [(10, "the town doctor"), (PLANT, f"keeper of the {TOKENS['description']} key")],
    )
    hermit = Entity("hermit", "Old Tam", "character", {"Old Tam": 3}, [3], [(3, "a hermit on Hollin Island")])
    relations = [Relation("hermit", "reddick", f"{TOKENS['edge']} of", PLANT)]
    parts = [OutlinePart(c, f"CHAPTER {c}", f"Chapter {c}: Edith keeps looking for the captain.") for c in range(1, 7)]
    return InMemoryStory(
        "planted",
        records,
        [edith, reddick, greaves, hermit],
        HashEmbedder(),
        relations=relations,
        outline="\n".join(p.text for p in parts),
        parts=parts,
    )


def _all_text(cands) -> str:
    return "\n".join(c.text + "\n" + c.short_text for c in cands)


@pytest.fixture(scope="module")
def story() -> InMemoryStory:
    return planted_story()


def test_nothing_planted_in_chunk_30_reaches_an_earlier_prompt(story) -> None:
    for at in range(-1, PLANT):
        prompt = build_prompt(story.at(at), budget=4000, count_tokens=count_words_and_marks)
        cands = gather_candidates(story.at(at), k=40, neighbours=10, recency=40)
        for channel, token in TOKENS.items():
            assert token not in prompt.text, f"{channel} leaked into the prompt at {at}"
            assert token not in _all_text(cands), f"{channel} leaked into a candidate at {at}"
        assert all(d.chunk <= at for d in prompt.decisions), at
        assert "entity:hermit" not in {c.id for c in cands if "graph" in c.sources}


def test_the_planted_fact_is_retrievable_from_30_on(story) -> None:
    # at 30 itself the last chunk carries the fact; later, memories and cards do
    at30 = build_prompt(story.at(PLANT), budget=4000, count_tokens=count_words_and_marks)
    assert TOKENS["summary"] in at30.text and TOKENS["alias"] in at30.text
    for at in range(PLANT + 1, N_CHUNKS):
        cands = gather_candidates(story.at(at), k=40, neighbours=10, recency=40)
        text = _all_text(cands)
        for channel, token in TOKENS.items():
            assert token in text, f"{channel} not retrievable at {at}"
        assert "entity:hermit" in {c.id for c in cands if "graph" in c.sources}
    prompt = build_prompt(story.at(PLANT + 1), budget=4000, count_tokens=count_words_and_marks)
    assert TOKENS["summary"] in prompt.text and TOKENS["alias"] in prompt.text


def test_three_activations_are_merged_and_deduplicated(story) -> None:
    at = 20
    cands = gather_candidates(story.at(at), k=5, recency=3)
    by_id = {c.id: c for c in cands}
    assert len(by_id) == len(cands)  # merged: one candidate per memory
    named = {c.id for c in cands if "named" in c.sources}
    assert {"entity:edith", "entity:reddick"} <= named
    assert {"summary:17", "summary:18", "summary:19"} <= {c.id for c in cands if "recency" in c.sources}
    assert any("vector" in c.sources for c in cands)
    assert by_id["summary:20"].drop_reason and "last chunk" in by_id["summary:20"].drop_reason
    # the synthetic summaries are near-identical: all but the best are marked duplicates
    live = [c for c in cands if c.section == "memories" and c.drop_reason is None]
    dups = [c for c in cands if c.drop_reason and "near-duplicate" in c.drop_reason]
    assert len(live) >= 1 and dups
    assert all(c.chunk <= at for c in cands)


def test_cast_line_names_who_else_is_in_the_story_lately(story, monkeypatch) -> None:
    import automuse_rag.assemble.retrieve as retrieve

    cands = gather_candidates(story.at(12), k=2, recency=1)
    cast = next(c for c in cands if c.id == "cast")
    carded = {c.entity_id for c in cands if c.kind == "entity"}
    assert {"edith", "reddick"} <= carded  # named in the last chunk: cards of their own
    assert "Edith Marlowe" not in cast.text and "Thomas Reddick" not in cast.text
    for eid, name in (("greaves", "Samuel Greaves"), ("hermit", "Old Tam")):
        assert (name in cast.text) == (eid not in carded), name  # everyone else named in the window
    assert cast.section == "lore" and cast.chunk == 12 and cast.score == retrieve.CAST_SCORE
    # in the prompt: a lore line with its decision
    line = next(c for c in gather_candidates(story.at(12), k=2) if c.id == "cast")
    prompt = build_prompt(story.at(12), budget=4000, count_tokens=count_words_and_marks, k=2)
    assert any(d.candidate_id == "cast" and d.fate == "included" for d in prompt.decisions)
    assert line.text in prompt.sections["lore"]
    # Old Tam was named in chunk 3 only: outside a 5-chunk window, and not yet known at 2.
    monkeypatch.setattr(retrieve, "CAST_WINDOW", 5)
    late = [c for c in gather_candidates(story.at(12), k=2, recency=1) if c.id == "cast"]
    assert not any("Old Tam" in c.text for c in late)
    early = [c for c in gather_candidates(story.at(2), k=1, recency=1) if c.id == "cast"]
    assert not any("Samuel Greaves" in c.text or "Old Tam" in c.text for c in early)
    # switched off (the retrieval_no_cast ablation), there is no cast line
    off = gather_candidates(story.at(12), k=2, recency=1, activations=retrieve.ACTIVATIONS - {"cast"})
    assert "cast" not in {c.id for c in off}


def crowded_story() -> InMemoryStory:
    """Ada is named in the last chunk (9); Bram is with her in every earlier chunk (a
    graph card scoring 0.7) but not in 9; eight others pass through chunks 5-8."""
    others = [f"Person{j} Walker" for j in range(8)]
    records = []
    for i in range(10):
        named = "Ada Quill" if i == 9 else "Ada Quill and Bram Stoke" if i < 5 else f"Ada Quill, Bram Stoke and {others[i - 5]}"
        text = f"{named} crossed the moor in part {i}, talking of the weather and the road ahead. " * 3
        records.append(ChunkRecord(i, f"c{i}", 1, "CHAPTER 1", text, f"In part {i} {named} cross the moor."))
    long = "who " + " ".join(f"word{j}" for j in range(40))
    entities = [
        Entity("ada", "Ada Quill", "character", {"Ada Quill": 0}, list(range(10)), [(0, f"a surveyor {long}")]),
        Entity("bram", "Bram Stoke", "character", {"Bram Stoke": 0}, list(range(9)), [(0, f"a carter {long}")]),
    ]
    for j, name in enumerate(others):
        entities.append(Entity(f"p{j}", name, "character", {name: 5 + j % 4}, [5 + j % 4], [(5 + j % 4, "a walker")]))
    return InMemoryStory("crowded", records, entities, HashEmbedder())


def test_the_cast_line_goes_whole_or_not_at_all_and_outranks_weak_cards() -> None:
    """At every budget: never shortened; dropped only once every graph or vector card
    is dropped too (with half its names as a short form and a score of 0.5, vector and
    graph cards squeezed it: P&P recall 0.878 against 0.937 ranked above them and whole)."""
    story = crowded_story()
    cands = gather_candidates(story.at(9), k=0)
    weak = {c.id for c in cands if c.section == "lore" and c.id != "cast" and "named" not in c.sources}
    assert "entity:bram" in weak and "Person7 Walker" in next(c.text for c in cands if c.id == "cast")
    squeezed = []  # budgets where a weaker card lost room while the cast line stayed whole
    for budget in range(150, 1200, 10):
        try:
            prompt = build_prompt(story.at(9), budget=budget, count_tokens=count_words_and_marks, k=0)
        except BudgetError:  # the fixed parts alone do not fit
            continue
        lore = {d.candidate_id: d for d in prompt.decisions if d.section == "lore"}
        cast = lore["cast"]
        assert cast.fate != "shortened", budget
        weaker = [d for d in lore.values() if d.candidate_id in weak]
        if cast.fate == "dropped":
            assert all(d.fate == "dropped" for d in weaker), (budget, [(d.candidate_id, d.fate) for d in weaker])
        elif any(d.fate != "included" for d in weaker):
            squeezed.append(budget)
    assert squeezed, "no budget made the lore run short"


def test_dedupe_keeps_the_better_scored_twin() -> None:
    from automuse_rag.assemble import Candidate

    a = Candidate("a", "memories", "the keeper rowed out to the island at night", "x", 1, 0.9)
    b = Candidate("b", "memories", "the keeper rowed out to the island at night again", "x", 2, 0.5)
    c = Candidate("c", "memories", "a completely different memory about tea", "x", 3, 0.4)
    out = {x.id: x for x in dedupe([b, a, c], at=10, threshold=0.8)}
    assert out["a"].drop_reason is None and out["c"].drop_reason is None
    assert out["b"].drop_reason.startswith("near-duplicate of a")


@settings(max_examples=300, deadline=None)
@given(
    a=st.frozensets(st.sampled_from("abcdefghij"), max_size=10),
    b=st.frozensets(st.sampled_from("abcdefghij"), max_size=10),
    threshold=st.sampled_from([0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0, 1 / 3, 2 / 3]),
)
def test_near_is_the_overlap_rule(a, b, threshold) -> None:
    """dedupe's size bound skips only pairs whose word overlap is below the threshold."""
    assert _near(a, b, threshold) == (_jaccard(a, b) >= threshold)


def test_names_and_aliases_are_matched_as_whole_words() -> None:
    """The entities the last chunk names activate their cards; a name inside a longer
    word ("Tamsin", "Edithson") names nobody."""
    ents = [
        Entity("e", "Edith Marlowe", "character", {"Edith Marlowe": 0, "Edith": 0}, [0]),
        Entity("t", "Tam", "character", {"Tam": 0}, [0]),
    ]

    def named(text: str) -> set[str | None]:
        story = InMemoryStory("w", [ChunkRecord(0, "c0", 1, "CHAPTER 1", text, "A summary.")], ents, HashEmbedder())
        return {c.entity_id for c in gather_candidates(story.at(0), activations=frozenset({"names"}))}

    assert named("Edith met Tamsin; Edith Marlowe smiled. Tam! Edithson.") == {"e", "t"}
    assert named("Edith met Tamsin; Edithson waved.") == {"e"}
    assert named("Tamsin met Edithson. Tam laughed.") == {"t"}
    assert named("Tamsin met Edithson.") == set()


def test_first_sentence_is_the_short_form() -> None:
    assert first_sentence("Zoë saw it. Then more happened.") == "Zoë saw it."
    long = " ".join(["word"] * 50) + "."
    assert first_sentence(long, 10) == " ".join(["word"] * 10) + "…"


def test_outline_part_follows_the_chapter(story) -> None:
    prompt = build_prompt(story.at(13), budget=260, count_tokens=count_words_and_marks)
    assert "Chapter 3: Edith" in prompt.sections["outline"]  # chunk 13 is in chapter 3
    chosen = build_prompt(story.at(13), budget=260, count_tokens=count_words_and_marks, chapter=5)
    assert "Chapter 5: Edith" in chosen.sections["outline"]


def test_position_outside_the_story_is_an_input_error(story) -> None:
    for bad in (N_CHUNKS, -2):
        with pytest.raises(PositionError) as info:
            story.at(bad)
        want = f"position {bad} is outside story 'planted', which has chunks 0..{N_CHUNKS - 1} (use -1 for before the first)"
        assert str(info.value) == want


def test_before_anything_is_written_only_outline_and_cue(story) -> None:
    prompt = build_prompt(story.at(-1), budget=2048, count_tokens=count_words_and_marks)
    assert set(prompt.sections) == {"instructions", "outline", "cue"}
    assert [d.candidate_id for d in prompt.decisions] == ["outline"]


# -- the same check on a real ingested store ------------------------------------------

ROMAN = ["I", "II", "III", "IV", "V", "VI"]
NEW_PERSON, NEW_PLACE = "Ambrose Zephyrquill", "Mornavelle Abbey"
REAL_TOKENS = ("Zephyrquill", "Mornavelle")
FILLER = [
    "The tide came in slowly over the grey shingle and the gulls argued on the roof of the net loft.",
    "Edith Marlowe walked along the quay with her basket and counted the boats that had come back.",
    "Henry Dunmore mended a lobster pot on the slipway and did not look up when the church bell rang.",
    "In the café the urn hissed, and the fishermen talked about the price of coal and the coming winter.",
    "Rain moved in from the west in long curtains, and the lamps were lit early in every window of Port Carrow.",
    "Edith Marlowe wrote her lessons for the morning by the fire and listened to the wind in the chimney.",
    "Henry Dunmore told Edith Marlowe that the harbour wall would need new stone before the spring gales.",
    "A cart went up the hill towards the chapel with a load of timber, the horse steaming in the cold air.",
]


def _paragraph(i: int) -> str:
    lines = [FILLER[(i + j) % len(FILLER)] for j in range(11)]
    lines.insert(3, f"It was the {i}th day of the long search, and nobody in town spoke of anything else.")
    if i == PLANT:
        lines += [
            f"That evening a stranger named {NEW_PERSON} came up from {NEW_PLACE} with a sealed letter.",
            f"{NEW_PERSON} gave the letter to Edith Marlowe and said that {NEW_PLACE} held the captain's grant.",
        ]
    elif i > PLANT:
        lines += [f"{NEW_PERSON} waited at the inn, and Edith Marlowe thought about {NEW_PLACE}."]
    return " ".join(lines)


def _planted_book() -> str:
    out = ["The Planted Fact\n\nby The automuse-rag authors\n"]
    for ch in range(6):
        out.append(f"CHAPTER {ROMAN[ch]}. Part {ch + 1}\n")
        out += [_paragraph(ch * 6 + k) for k in range(6)]
    return "\n\n".join(out) + "\n"


@pytest.fixture(scope="module")
def real_story(tmp_path_factory):
    from typer.testing import CliRunner

    from automuse_rag.cli import app
    from automuse_rag.memory.story import StoryMemory
    from automuse_rag.settings import get_settings

    home = tmp_path_factory.mktemp("planted-home")
    book = home / "planted.txt"
    book.write_text(_planted_book(), encoding="utf-8")
    outline = home / "outline.txt"
    outline.write_text("Edith searches Port Carrow for the missing captain and finds his grant.\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "--home",
            str(home),
            "ingest",
            str(book),
            "--story",
            "planted",
            "--llm",
            "extractive",
            "--embedder",
            "hash",
            "--outline",
            str(outline),
        ],
    )
    assert result.exit_code == 0, result.output
    mem = StoryMemory.open(get_settings(home=home), "planted")
    yield mem
    mem.close()


def test_real_store_keeps_chunk_30_out_of_earlier_prompts(real_story) -> None:
    assert len(real_story) >= 35
    latest = real_story.latest()
    first = {i for i, r in enumerate(latest.records()) if any(t in r.text for t in REAL_TOKENS)}
    assert min(first) == PLANT, "the test book must introduce the tokens in chunk 30"
    # the store knows the fact through every channel: summary, entity, graph edge
    assert any(t in real_story.at(PLANT).records()[-1].summary for t in REAL_TOKENS)
    new = [e for e in latest.entities() if any(t in n for n in e.names() for t in REAL_TOKENS)]
    assert new and all(e.first_chunk == PLANT for e in new)
    graph = latest.graph()
    assert any(
        graph.has_edge(e.id, other) and graph.edges[e.id, other]["chunks"][0] == PLANT for e in new for other in graph[e.id]
    )
    for at in range(-1, PLANT):
        prompt = build_prompt(real_story.at(at), budget=4000, count_tokens=count_words_and_marks)
        cands = gather_candidates(real_story.at(at), k=40, neighbours=10, recency=40)
        for token in REAL_TOKENS:
            assert token not in prompt.text, f"{token} leaked into the prompt at {at}"
            assert token not in _all_text(cands), f"{token} leaked into a candidate at {at}"
    for at in range(PLANT + 1, len(real_story)):
        cands = gather_candidates(real_story.at(at), k=40, neighbours=10, recency=40)
        assert any(t in c.text for c in cands if c.chunk == PLANT or c.kind == "entity" for t in REAL_TOKENS)
