"""``run_compare`` on the project's sample story (books/sample), with its ground-truth
lore as the entities, the real chunker, the real assembler, and the real local model
for token counts and log-probabilities.

Hand-checked position 3 (chunk 3 is the context's last chunk, chunk 4 the one to
predict), from reading the chunks:

* chunk 4 names Edith, Port Carrow, Arthur Blackwood, Tregarth House, Hollin Island,
  Captain Reddick and Dr. Greaves. Blackwood and Tregarth House first appear in
  chunk 4, so they are not yet known; the five targets are Edith Marlowe, Port
  Carrow, Hollin Island, Thomas Reddick ("Captain Reddick") and Samuel Greaves.
* chunk 3 names Edith, Hollin Island, Captain Reddick, Dr. Greaves and Samuel
  Greaves, not Port Carrow; the outline used here names none of them. So
  last_chunk recalls 4/5 there.
* rolling_unbounded also holds the summary of chunk 0 (its first paragraph,
  "...half of Port Carrow had come down to the quay..."), so it recalls 5/5.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import pytest

from automuse_rag.books import read_book_file
from automuse_rag.compare import STRATEGIES, run_compare
from automuse_rag.compare.report import render_markdown
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.types import ChunkRecord
from automuse_rag.models.fake import HashEmbedder, ScriptedChatModel
from automuse_rag.text.chunk import chunk_book

SAMPLE = Path(__file__).resolve().parents[1] / "books" / "sample"
OUTLINE = "A schoolmistress searches a fishing town for her missing godfather and uncovers a plot over an island."
HAND_CHECKED = 3
PER_POSITION_KEYS = ("positions", "prompt_tokens", "entity_recall", "nll")
SUMMARY_KEYS = ("mean_prompt_tokens", "over_budget_count", "mean_entity_recall", "mean_nll")


def first_paragraph(text: str) -> str:
    """A simple extractive summary: the chunk's first paragraph that is not a heading."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    body = [p for p in paras if not p.startswith("CHAPTER ")]
    return (body or paras)[0]


def lore_entities(chunks: list[str]) -> list[Entity]:
    """Ground-truth entities from lore.toml; mentions/aliases where a name occurs."""
    lore = tomllib.loads((SAMPLE / "lore.toml").read_text(encoding="utf-8"))
    out = []
    for kind, key in (("character", "characters"), ("place", "places")):
        for item in lore[key]:
            names = [item["name"], *item.get("aliases", [])]
            aliases: dict[str, int] = {}
            mentions = []
            for i, text in enumerate(chunks):
                found = [n for n in names if re.search(r"(?<!\w)" + re.escape(n) + r"(?!\w)", text)]
                for n in found:
                    aliases.setdefault(n, i)
                if found:
                    mentions.append(i)
            if mentions:
                slug = item["name"].lower().replace(" ", "-")
                out.append(Entity(slug, item["name"], kind, aliases, mentions, [(mentions[0], item["description"])]))
    return out


def sample_story() -> InMemoryStory:
    book = read_book_file(SAMPLE / "story.txt")
    chunks = chunk_book(book, "sample")
    records = [ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, first_paragraph(c.text)) for c in chunks]
    return InMemoryStory("sample", records, lore_entities([c.text for c in chunks]), HashEmbedder(), outline=OUTLINE)


@pytest.fixture(scope="module")
def story() -> InMemoryStory:
    return sample_story()


def test_hand_checked_chunks_are_what_the_docstring_says(story: InMemoryStory) -> None:
    recs = story.latest().records()
    assert "Arthur Blackwood" in recs[4].text and "Tregarth House" in recs[4].text
    assert "Port Carrow" in recs[0].summary and "Port Carrow" not in recs[3].text


def test_entity_recall_on_a_hand_checked_position(story: InMemoryStory, tmp_path: Path) -> None:
    llm = ScriptedChatModel()
    report = run_compare(story, llm=llm, budget=1024, positions=[HAND_CHECKED], nll_samples=0, out_dir=None, resummarizer="llm")
    from automuse_rag.compare.metrics import recall_targets_for

    targets = {t.id for t in recall_targets_for(story, HAND_CHECKED)}
    assert targets == {"edith-marlowe", "port-carrow", "hollin-island", "thomas-reddick", "samuel-greaves"}
    assert report.strategies["last_chunk"].entity_recall == [pytest.approx(4 / 5)]
    assert report.strategies["rolling_unbounded"].entity_recall == [pytest.approx(1.0)]


def test_budget_behaviour_and_report_files_with_the_fake_model(story: InMemoryStory, tmp_path: Path) -> None:
    llm = ScriptedChatModel(lambda messages, sampling: "Edith searched. " * 20)
    budget = 700
    report = run_compare(story, llm=llm, budget=budget, positions="all", nll_samples=0, out_dir=tmp_path, resummarizer="llm")
    res = report.strategies
    assert len(res["retrieval"].positions) == len(story) - 1
    for name in ("retrieval", "rolling_recursive", "last_chunk"):
        assert not any(res[name].over_budget), name
        assert max(res[name].prompt_tokens) <= budget
    over = res["rolling_unbounded"].over_budget
    first = over.index(True)
    assert first > 0 and all(over[first:])  # from some position on, always over
    # recursive re-summarized with the chat model: its calls are its memory cost
    assert res["rolling_recursive"].memory_calls[-1] == sum(1 for c in llm.calls if c[0] == "chat") > 0
    assert res["last_chunk"].memory_calls[-1] == 0 and res["retrieval"].memory_embeddings[-1] > len(story)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["strategies"]["rolling_unbounded"]["summary"]["first_over_budget"] == report.positions[first]
    assert (tmp_path / "report.md").read_text().count("|") > 20


@pytest.mark.slow
def test_real_model_tokens_and_nll(story: InMemoryStory, tmp_path: Path) -> None:
    from automuse_rag.models.registry import get_chat_model
    from automuse_rag.settings import get_settings

    llm = get_chat_model("local", get_settings(home=tmp_path, n_ctx=2048, cache=False))
    budget = 512  # small, so the scored contexts stay short (scoring cost grows with context length)
    # positions 4 and 8: past the first re-summary, so no two strategies share a context
    report = run_compare(
        story, llm=llm, budget=budget, positions=[4, 8], nll_samples=2, out_dir=tmp_path, resummarizer="extractive"
    )
    data = json.loads((tmp_path / "report.json").read_text())
    assert set(data["strategies"]) == set(STRATEGIES)
    for name, entry in data["strategies"].items():
        assert all(k in entry for k in PER_POSITION_KEYS) and all(k in entry["summary"] for k in SUMMARY_KEYS)
        assert len({len(entry[k]) for k in PER_POSITION_KEYS}) == 1
        sampled = [v for v in entry["nll"] if v is not None]
        assert len(sampled) == 2 and all(math.isfinite(v) and 0 < v < 20 for v in sampled), name
    s = data["strategies"]
    assert s["retrieval"]["summary"]["over_budget_count"] == 0
    assert s["rolling_unbounded"]["summary"]["over_budget_count"] > 0
    assert max(s["retrieval"]["prompt_tokens"]) <= budget
    means = [s[n]["summary"]["mean_nll"] for n in STRATEGIES]
    assert len({round(m, 6) for m in means}) == len(means)  # the contexts differ, so do the scores
    # tokens are the model's own: recount one context
    assert report.strategies["last_chunk"].prompt_tokens[0] == s["last_chunk"]["prompt_tokens"][0]
    for png in ("prompt_tokens_by_position.png", "entity_recall_by_position.png", "nll_by_strategy.png"):
        head = (tmp_path / png).read_bytes()[:8]
        assert head == b"\x89PNG\r\n\x1a\n" and (tmp_path / png).stat().st_size > 10_000


class OverlapScorer(ScriptedChatModel):
    """A fake model with log-probabilities: the NLL of a continuation is the share of
    its words that the context does not contain (deterministic, context-dependent)."""

    def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
        words = re.findall(r"\w+", continuation)
        seen = set(re.findall(r"\w+", context))
        return sum(w not in seen for w in words) / len(words), len(words)


def squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("budget", [700, 1024])
def test_recursive_fills_the_same_budget_as_retrieval(story: InMemoryStory, budget: int) -> None:
    report = run_compare(
        story, llm=ScriptedChatModel(), budget=budget, positions="all", nll_samples=0, resummarizer="extractive", ablations=False
    )
    rows = {r["strategy"]: r for r in report.summary_rows()}
    recursive, retrieval = rows["rolling_recursive"]["mean_prompt_tokens"], rows["retrieval"]["mean_prompt_tokens"]
    assert 0.85 * retrieval <= recursive <= retrieval, (recursive, retrieval)  # equal budget, with hysteresis
    assert rows["rolling_recursive"]["over_budget_count"] == 0
    assert rows["rolling_recursive"]["mean_prompt_tokens"] > 0.8 * budget  # not just equal: both fill it
    # re-summaries are counted, and come every few chunks rather than at every chunk
    rec = report.strategies["rolling_recursive"]
    n = report.positions[-1] + 1
    assert rows["rolling_recursive"]["resummaries"] == rec.resummaries[-1] > 0
    assert rows["rolling_recursive"]["resummaries_per_chunk"] == rec.resummaries[-1] / n < 0.5
    assert rec.resummaries == sorted(rec.resummaries)  # cumulative
    assert all(rows[name]["resummaries"] is None for name in ("retrieval", "last_chunk", "rolling_unbounded"))
    assert f"rolling_recursive: {rec.resummaries[-1]} re-summaries over {n} chunks" in render_markdown(report)


def test_every_strategy_keeps_the_last_chunk_whole_before_memory(story: InMemoryStory) -> None:
    from automuse_rag.compare.costs import ingest_costs
    from automuse_rag.compare.strategies import (
        ABLATIONS,
        LastChunk,
        Retrieval,
        RollingRecursive,
        extractive_resummarizer,
    )

    count = ScriptedChatModel().count_tokens
    texts = [r.text for r in story.latest().records()]
    budget = 480  # holds every chunk (up to ~330 tokens) with the template, not all the memory there is
    assert max(count(t) for t in texts) < budget - 60
    base = ingest_costs(story, count)
    stored = [0] * len(story)
    strategies = [
        RollingRecursive(story, budget, count, base, extractive_resummarizer(count)),
        Retrieval(story, budget, count, base, stored),
        LastChunk(story, budget, count),
        *(Retrieval(story, budget, count, base, stored, name=n, activations=a) for n, a in ABLATIONS.items()),
    ]
    memory_cut = 0
    for strategy in strategies:
        for i in range(len(story) - 1):
            ctx = strategy.context(i)
            assert ctx.tokens <= budget
            assert squash(texts[i]) in squash(ctx.text), (strategy.name, i)
            if strategy.name == "retrieval_names_only":  # only vector search and recency bring summaries
                assert "STORY SO FAR:" not in ctx.text
            memory_cut += bool(ctx.notes) or ctx.tokens > budget - 40
    assert memory_cut > 0  # the budget was tight: memory (or outline) gave way, never the last chunk


def test_memory_does_not_displace_the_outline(story: InMemoryStory) -> None:
    """With an outline longer than a quarter of the budget, retrieval's memory never
    cuts the outline below a quarter of the budget (what the rolling prompts keep), so
    the strategies differ in their memory, not in how much outline they show."""
    from automuse_rag.assemble import build_prompt, load_template
    from automuse_rag.compare.strategies import whole_last_chunk

    lore = tomllib.loads((SAMPLE / "lore.toml").read_text(encoding="utf-8"))
    outline = " ".join(item["description"] for key in ("characters", "places") for item in lore[key])
    texts = [r.text for r in story.latest().records()]
    long = InMemoryStory("sample", story.latest().records(), lore_entities(texts), HashEmbedder(), outline=outline)
    count = ScriptedChatModel().count_tokens
    budget = 700
    assert count(outline) > budget // 4
    template = whole_last_chunk(load_template())
    for i in range(len(long) - 1):
        full = build_prompt(long.at(i), budget=budget, count_tokens=count, template=template)
        bare = build_prompt(long.at(i), budget=budget, count_tokens=count, template=template, activations=frozenset())
        shown, alone = count(full.sections["outline"]), count(bare.sections["outline"])
        assert shown >= min(alone, budget // 4 - 10), i  # memory takes only what the outline's share leaves
        assert "memories" in full.sections or "lore" in full.sections


def test_nll_paired_with_last_chunk_and_ablations_in_the_report(story: InMemoryStory, tmp_path: Path) -> None:
    llm = OverlapScorer()
    report = run_compare(
        story, llm=llm, budget=700, positions="all", nll_samples=20, out_dir=tmp_path, resummarizer="extractive", plots=False
    )
    data = json.loads((tmp_path / "report.json").read_text())
    assert len(data["nll_positions"]) == 20
    assert set(data["ablations"]) == {
        "retrieval_no_graph",
        "retrieval_no_vector",
        "retrieval_no_recency",
        "retrieval_no_cast",
        "retrieval_names_only",
    }
    floor = data["strategies"]["last_chunk"]
    base = dict(zip(floor["positions"], floor["nll"]))
    for name, entry in {**data["strategies"], **data["ablations"]}.items():
        assert set(entry) == set(floor), name  # the same per-strategy shape
        assert sum(v is not None for v in entry["nll"]) == 20, name
        paired = entry["summary"]["nll_vs_last_chunk"]
        diffs = [v - base[p] for p, v in zip(entry["positions"], entry["nll"]) if v is not None]
        assert paired["n"] == 20 and paired["mean_diff"] == pytest.approx(sum(diffs) / 20)
        assert paired["better_at"] == sum(d < 0 for d in diffs)
        lo, hi = paired["ci95"]
        assert lo <= paired["mean_diff"] <= hi and min(diffs) <= lo and hi <= max(diffs)
    assert floor["summary"]["nll_vs_last_chunk"]["ci95"] == [0.0, 0.0]
    # memory that names the next chunk's words lowers this NLL: retrieval beats the floor
    assert data["strategies"]["retrieval"]["summary"]["nll_vs_last_chunk"]["mean_diff"] < 0
    # the ablations change what retrieval finds: names only has no summaries (only the
    # vector and recency activations bring them), the others differ from retrieval somewhere
    names_only = report.ablations["retrieval_names_only"]
    assert names_only.prompt_tokens != report.strategies["retrieval"].prompt_tokens
    for name in ("retrieval_no_vector", "retrieval_no_recency", "retrieval_no_cast"):
        assert data["ablations"][name]["nll"] != data["strategies"]["retrieval"]["nll"], name
    md = (tmp_path / "report.md").read_text()
    assert "## Ablations of retrieval" in md and "retrieval_names_only" in md
    row = next(line for line in md.splitlines() if line.startswith("| retrieval |"))
    paired = data["strategies"]["retrieval"]["summary"]["nll_vs_last_chunk"]
    assert f"{paired['mean_diff']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]" in row


@pytest.mark.slow
def test_scoring_reuses_the_cache_and_matches_a_fresh_score(story: InMemoryStory, tmp_path: Path) -> None:
    """Scoring after another context with the same start re-evaluates only the rest,
    and gives the score a fresh evaluation gives; a chat in between stays correct."""
    from automuse_rag.models.base import Sampling
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    model = LocalChatModel(get_settings(home=tmp_path, n_ctx=512, cache=False))
    llama = model.llama
    recs = story.latest().records()
    head = recs[2].text[:400]
    a, b = head + "\n\n" + recs[3].text[:200], head + "\n\n" + recs[5].text[:200]
    nxt = recs[4].text[:200]

    def fresh(context: str) -> float:
        llama.reset()
        return model.continuation_nll(context, nxt)[0]

    want_a, want_b = fresh(a), fresh(b)
    assert want_a != pytest.approx(want_b, abs=1e-3)  # the contexts differ, so do the scores
    model.continuation_nll(a, nxt)
    evaluated = []
    original = llama.eval
    llama.eval = lambda tokens: (evaluated.append(len(tokens)), original(tokens))[1]  # type: ignore[method-assign]
    try:
        got_b = model.continuation_nll(b, nxt)[0]
        shared = len(model.tokenize(head))
        assert sum(evaluated) < len(model.tokenize(b)) - shared + 8  # only what follows the shared start
        model.chat([{"role": "user", "content": "Say hi."}], Sampling(temperature=0.0, max_tokens=4, seed=1))
        got_a = model.continuation_nll(a, nxt)[0]
    finally:
        llama.eval = original  # type: ignore[method-assign]
    assert got_b == pytest.approx(want_b, abs=1e-3) and got_a == pytest.approx(want_a, abs=1e-3)


def test_every_strategy_shares_the_framing_and_is_scored_on_the_line_after_the_cue(story: InMemoryStory) -> None:
    """Strategies differ in their memory only: the same instructions, headers and cue,
    and the next chunk is scored where a model writes it, on the line after the cue."""
    from automuse_rag.assemble import load_template

    seen: list[str] = []

    class Recorder(OverlapScorer):
        def continuation_nll(self, context: str, continuation: str) -> tuple[float, int]:
            seen.append(context)
            return super().continuation_nll(context, continuation)

    report = run_compare(story, llm=Recorder(), budget=700, positions=[6, 20], nll_samples=2, resummarizer="extractive")
    n_strategies = len(report.strategies) + len(report.ablations)
    assert len(seen) == 2 * n_strategies == 18  # 4 strategies, 5 ablations
    first = load_template().sections[0].body
    cue = load_template().section("cue").body
    for context in seen:
        assert context.startswith(first) and context.endswith("\n\n" + cue + "\n")
        assert context.count("LAST CHUNK:") == 1
