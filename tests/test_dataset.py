"""Dataset export from the sample story: validation, JSON round trip in both formats,
deterministic split, and a leakage audit that catches a leaky store."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from conftest import SAMPLE_DIR

from automuse_rag.assemble import load_template
from automuse_rag.assemble.retrieve import build_prompt
from automuse_rag.errors import InputError
from automuse_rag.finetune.dataset import export_dataset, split_validation, validation_path
from automuse_rag.finetune.leakage import Truth, audit_leakage
from automuse_rag.lore.entity import Entity
from automuse_rag.memory.inmemory import InMemoryStory
from automuse_rag.memory.types import ChunkRecord, OutlinePart
from automuse_rag.models.fake import HashEmbedder, count_words_and_marks
from automuse_rag.text.chunk import chunk_book
from automuse_rag.text.clean import clean_text

BUDGET = 700


def _first_sentences(text: str, n: int = 2) -> str:
    return " ".join(re.split(r"(?<=[.!?”])\s+", " ".join(text.split()))[:n])


def sample_story_in_memory() -> InMemoryStory:
    """The sample story chunked for real, with extractive summaries and its ground-truth
    cast as lore (each name's first chunk found by scanning the chunks)."""
    book = clean_text((SAMPLE_DIR / "story.txt").read_text(encoding="utf-8"), source="story.txt")
    chunks = chunk_book(book, "sample", 1500)
    records = [ChunkRecord(c.index, c.id, c.chapter, c.chapter_title, c.text, _first_sentences(c.text)) for c in chunks]
    lore = tomllib.loads((SAMPLE_DIR / "lore.toml").read_text(encoding="utf-8"))
    entities = []
    for kind, key in (("character", "characters"), ("place", "places")):
        for i, item in enumerate(lore[key]):
            names = [item["name"], *item.get("aliases", [])]
            seen = {n: next((c.index for c in chunks if n in c.text), None) for n in names}
            aliases = {n: c for n, c in seen.items() if c is not None}
            mentions = sorted({c.index for c in chunks if any(n in c.text for n in names)})
            if mentions:
                entities.append(Entity(f"{key}{i}", item["name"], kind, aliases, mentions, [(mentions[0], item["description"])]))
    parts = [OutlinePart(ch.number, ch.title, f"{ch.title}: events of this chapter.") for ch in book.chapters]
    return InMemoryStory("sample", records, entities, HashEmbedder(), outline="\n".join(p.text for p in parts), parts=parts)


@pytest.fixture(scope="module")
def story() -> InMemoryStory:
    return sample_story_in_memory()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_completion_dataset_validates_and_round_trips(story, tmp_path: Path) -> None:
    out = tmp_path / "sample.jsonl"
    summary = export_dataset([story], out, budget=BUDGET, count_tokens=count_words_and_marks, val_fraction=0.2, seed=7)
    assert summary.leakage_violations == 0 and summary.invalid == 0
    assert summary.leakage_checked == len(story) == summary.samples == summary.train + summary.validation
    train, val = _lines(out), _lines(validation_path(out))
    assert len(train) == summary.train and len(val) == summary.validation == round(len(story) * 0.2)
    chunks = {r.text.strip() for r in story.latest().records()}
    for record in train + val:
        assert set(record) == {"prompt", "completion"}
        assert count_words_and_marks(record["prompt"]) <= BUDGET
        assert record["completion"] in chunks
        assert json.loads(json.dumps(record, ensure_ascii=False)) == record
    assert {r["completion"] for r in train + val} == chunks  # one sample per position
    assert summary.prompt_tokens["max"] <= BUDGET and summary.prompt_tokens["min"] > 0
    assert summary.fates["last_chunk"]["included"] + summary.fates["last_chunk"].get("shortened", 0) == len(story) - 1


def test_chat_dataset_puts_prompt_in_system_and_user(story, tmp_path: Path) -> None:
    out = tmp_path / "chat.jsonl"
    summary = export_dataset([story], out, budget=BUDGET, count_tokens=count_words_and_marks, fmt="chat", val_fraction=0.0)
    assert summary.validation == 0 and not validation_path(out).exists()
    records = _lines(out)
    assert len(records) == len(story) == summary.samples
    by_completion = {r.text.strip(): r.index for r in story.latest().records()}
    for record in records:
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["system", "user", "assistant"]
        system, user, assistant = (m["content"] for m in record["messages"])
        assert "Story outline:" in system and "Write the next chunk" in user
        at = by_completion[assistant] - 1
        if at >= 0:  # the user message carries the end of the chunk before the completion
            previous = story.at(at).records()[-1].text.strip()
            assert previous[-40:] in user
        assert count_words_and_marks(system + "\n\n" + user) <= BUDGET


def test_split_is_deterministic_by_seed(story, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, 3), (b, 3), (c, 4)):
        export_dataset([story], path, budget=BUDGET, count_tokens=count_words_and_marks, val_fraction=0.3, seed=seed)
    assert validation_path(a).read_bytes() == validation_path(b).read_bytes()
    assert a.read_bytes() == b.read_bytes()
    assert split_validation(25, 0.3, 3) != split_validation(25, 0.3, 4)
    assert len(split_validation(25, 0.3, 3)) == 8 and len(split_validation(3, 0.1, 0)) == 1


class LeakyStory(InMemoryStory):
    """A broken store whose entity reads ignore the position (future cards leak)."""

    def entities(self, at, ids=None):
        return super().entities(self.last_index(), ids)


def test_audit_catches_a_store_that_leaks(story) -> None:
    leaky = LeakyStory(
        "leaky", story.latest().records(), story._entities, HashEmbedder(), outline=story.outline, parts=story.outline_parts()
    )
    template = load_template()
    truth = Truth(leaky)
    leaks = []
    for at in range(len(leaky)):
        prompt = build_prompt(leaky.at(at), budget=2000, count_tokens=count_words_and_marks, template=template)
        leaks += audit_leakage(truth, at, prompt, template)
    assert leaks and all("not known as of chunk" in leak or "comes from chunk" in leak for leak in leaks)
    clean = Truth(story)
    for at in range(len(story)):
        prompt = build_prompt(story.at(at), budget=2000, count_tokens=count_words_and_marks, template=template)
        assert audit_leakage(clean, at, prompt, template) == []


def test_audit_checks_the_cast_line_against_its_own_reading(story) -> None:
    from dataclasses import replace

    from automuse_rag.assemble.retrieve import CAST_HEAD

    template = load_template()
    truth = Truth(story)
    ents = story.latest().entities()
    late = max(ents, key=lambda e: e.first_chunk)
    at = late.first_chunk - 1
    early = [e.name for e in story.at(at).entities()]
    prompt = build_prompt(story.at(at), budget=2000, count_tokens=count_words_and_marks, template=template)
    head, foot = template.section("lore").frame()

    def with_cast(names: list[str]):
        line = "- " + CAST_HEAD + "; ".join(names) + "."
        return replace(prompt, sections={**prompt.sections, "lore": head + line + foot})

    assert audit_leakage(truth, at, with_cast(early[:2]), template) == []
    leaks = audit_leakage(truth, at, with_cast([*early[:1], late.name]), template)
    assert leaks == [f"cast line names {late.name!r}, unknown as of chunk {at}"]


def test_bad_options_are_input_errors(story, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="format"):
        export_dataset([story], tmp_path / "x.jsonl", budget=BUDGET, count_tokens=count_words_and_marks, fmt="xml")
    with pytest.raises(InputError, match="val-fraction"):
        export_dataset([story], tmp_path / "x.jsonl", budget=BUDGET, count_tokens=count_words_and_marks, val_fraction=1.5)
    with pytest.raises(InputError, match="cannot write"):
        export_dataset([story], tmp_path / "missing" / "x.jsonl", budget=BUDGET, count_tokens=count_words_and_marks)


def test_completion_limit_leaves_out_long_samples(story, tmp_path: Path) -> None:
    out = tmp_path / "short.jsonl"
    limit = 200
    summary = export_dataset(
        [story], out, budget=BUDGET, count_tokens=count_words_and_marks, val_fraction=0.0, completion_limit=limit
    )
    too_long = sum(count_words_and_marks(r.text.strip()) > limit for r in story.latest().records())
    assert too_long > 0 and summary.invalid == too_long
    assert summary.samples == len(_lines(out)) == len(story) - too_long
    assert all("over the limit" in reason for reason in summary.invalid_reasons)


@pytest.mark.parametrize("fmt", ["completion", "chat"])
def test_local_counts_by_lines_write_the_same_dataset_as_whole_counts(story, tmp_path: Path, fmt: str) -> None:
    """The local model counts a text line by line from a memo (models/local_tokens.py), for
    speed; the export must write exactly what whole-text counting writes."""
    from automuse_rag.models.local import LocalChatModel
    from automuse_rag.settings import get_settings

    model = LocalChatModel(get_settings(home=tmp_path, n_ctx=512))
    outs = []
    for name, count in (("lines", model.count_tokens), ("whole", lambda text: len(model.tokenize(text)))):
        out = tmp_path / f"{name}.jsonl"
        export_dataset([story], out, budget=BUDGET, count_tokens=count, fmt=fmt, val_fraction=0.2, seed=3)
        outs.append((out.read_bytes(), validation_path(out).read_bytes()))
    assert outs[0] == outs[1] and outs[0][0].count(b"\n") >= 5
