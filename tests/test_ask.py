"""``automuse ask``: spoiler-free answers with checked citations, on the sample story
ingested for real (extractive summaries, spaCy lore, hash embeddings)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from automuse_rag.ask import answer_question, retrieve_evidence
from automuse_rag.ask.answer import notes_for_model, rank_sentences
from automuse_rag.cli import app
from automuse_rag.memory.story import StoryMemory
from automuse_rag.models.fake import ScriptedChatModel
from automuse_rag.settings import get_settings

runner = CliRunner()
QUESTIONS = (
    "Who is Arthur Blackwood?",
    "Who owns Hollin Island?",
    "What happened to the captain's boat?",
    "Where is Tregarth House?",
    "Who is Zoë?",
    "What did Henry find?",
)
CITE = re.compile(r"\[chunk (\d+), chapter (\d+)\]")


def ask(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), "ask", "--story", "sample", *args])


@pytest.fixture(scope="module")
def story(sample_home: Path):
    mem = StoryMemory.open(get_settings(home=sample_home), "sample")
    yield mem
    mem.close()


@pytest.fixture(scope="module")
def blackwood(story):
    """Arthur Blackwood as the whole story knows him (his first chunk and every name)."""
    ent = next(e for e in story.latest().entities() if "Blackwood" in " ".join(e.names()))
    assert ent.first_chunk > 0, "the test needs a character who appears after chunk 0"
    return ent


def names_them(text: str, ent) -> bool:
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", text) for n in ent.names() if len(n) > 2)


def test_question_before_first_chunk_cites_nothing_about_them(sample_home: Path, blackwood) -> None:
    before = blackwood.first_chunk - 1
    result = ask(sample_home, "--at", str(before), "--llm", "extractive", "--json", "Who is Arthur Blackwood?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == before
    assert not any(names_them(c["text"], blackwood) for c in data["citations"])
    assert "has not told" in data["answer"]
    assert not names_them(data["answer"], blackwood) or "has not told" in data["answer"]


def test_same_question_after_first_chunk_cites_a_memory_naming_them(sample_home: Path, blackwood) -> None:
    for at in (blackwood.first_chunk, blackwood.first_chunk + 8):
        result = ask(sample_home, "--at", str(at), "--llm", "extractive", "--json", "Who is Arthur Blackwood?")
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert set(data) == {"question", "at", "answer", "citations"}
        assert any(names_them(c["text"], blackwood) for c in data["citations"]), data
        assert all(set(c) == {"chunk", "chapter", "kind", "text"} for c in data["citations"])
        assert "has not told" not in data["answer"]


def test_every_citation_is_at_or_before_at(story) -> None:
    size = len(story)
    chapters = {r.index: r.chapter for r in story.latest().records()}
    for at in (0, 3, 9, 17, size - 1):
        for question in QUESTIONS:
            answer = answer_question(story.at(at), question)
            assert all(c.chunk <= at for c in answer.citations), (question, at, answer.citations)
            assert all(ev.chunk <= at for ev in answer.evidence)
            # every [chunk N, chapter C] in the text is a listed citation, with the chunk's real chapter
            marks = {(int(a), int(b)) for a, b in CITE.findall(answer.answer)}
            assert marks == {(c.chunk, c.chapter) for c in answer.citations}
            assert all(chapters[c] == ch for c, ch in marks)


def test_retrieval_uses_nothing_after_at(story) -> None:
    """Evidence is the same whether or not later chunks exist: compare with a story cut at ``at``."""
    from automuse_rag.memory.inmemory import InMemoryStory
    from automuse_rag.models.fake import HashEmbedder

    at = 9
    latest = story.latest()
    entities = [e.at(at) for e in latest.entities()]
    cut = InMemoryStory("cut", story.at(at).records(), [e for e in entities if e is not None], HashEmbedder(64))
    full = InMemoryStory("full", latest.records(), latest.entities(), HashEmbedder(64))
    for question in QUESTIONS:
        a = [(e.id, e.text) for e in retrieve_evidence(full.at(at), question)]
        b = [(e.id, e.text) for e in retrieve_evidence(cut.at(at), question)]
        assert a == b, question


def _notes(story, question: str, at: int):
    return notes_for_model(rank_sentences(question, retrieve_evidence(story.at(at), question)))


def test_model_answer_keeps_only_checked_citations(story) -> None:
    at, question = 12, "Who is Arthur Blackwood?"
    good = _notes(story, question, at)[0]
    words = " ".join(good.sentences[0].split()[:12])
    reply = {
        "sentences": [
            {"text": words, "chunk": good.chunk},  # grounded, cites a note: kept
            {"text": "He owns a fleet of golden submarines.", "chunk": good.chunk},  # not in the note: dropped
            {"text": words + " again", "chunk": 99},  # invented citation: dropped
        ]
    }
    model = ScriptedChatModel([reply])
    answer = answer_question(story.at(at), question, llm=model)
    assert answer.method == "model", answer.note
    assert answer.answer.startswith(words.rstrip("."))
    assert answer.answer.count("[chunk") == 1 and good.cite in answer.answer
    assert "submarines" not in answer.answer and "again" not in answer.answer
    assert [(c.chunk, c.chapter) for c in answer.citations] == [(good.chunk, good.chapter)]
    kind, messages, _ = model.calls[0]
    assert kind == "structured" and question in messages[-1]["content"]
    assert all(n.cite in messages[-1]["content"] for n in _notes(story, question, at))


def test_model_sentences_citing_nothing_or_the_future_are_dropped(story, blackwood) -> None:
    at, question = 12, "Who is Arthur Blackwood?"
    good = _notes(story, question, at)[0]
    later = next(e for e in story.latest().entities() if e.id == blackwood.id).last_chunk
    assert later > at
    words = " ".join(good.sentences[0].split()[:12])
    reply = {
        "sentences": [
            {"text": "Arthur Blackwood is rich and clever.", "chunk": None},  # uncited: dropped
            {"text": words, "chunk": later},  # a chunk after at: dropped
            {"text": words, "chunk": good.chunk},  # kept
        ]
    }
    answer = answer_question(story.at(at), question, llm=ScriptedChatModel([reply]))
    assert answer.method == "model"
    assert "rich and clever" not in answer.answer and f"[chunk {later}," not in answer.answer
    assert all(c.chunk <= at for c in answer.citations)


def test_model_answer_without_checked_sentence_falls_back_to_extractive(story) -> None:
    model = ScriptedChatModel([{"sentences": [{"text": "Nobody knows anything at all here.", "chunk": 3}]}])
    answer = answer_question(story.at(20), "Who is Arthur Blackwood?", llm=model)
    assert answer.method == "extractive" and "no sentence with a checked citation" in answer.note
    assert answer.citations and all(c.chunk <= 20 for c in answer.citations)


def test_nothing_known_asks_no_model(story) -> None:
    model = ScriptedChatModel([])
    answer = answer_question(story.at(0), "Who is Arthur Blackwood?", llm=model)
    assert answer.method == "not-told" and answer.citations == [] and model.calls == []
    assert answer_question(story.at(-1), "What is in the chest?").answer.startswith("The story has not told that yet")


def test_ask_text_output_and_errors(sample_home: Path, story) -> None:
    result = ask(sample_home, "--llm", "extractive", "Who is Zoë?")
    assert result.exit_code == 0, result.output
    assert "Zoë" in result.stdout and "citations" in result.stdout
    as_json = json.loads(ask(sample_home, "--llm", "extractive", "--json", "Who is Zoë?").stdout)
    printed = " ".join(result.stdout.split("citations (as of")[0].split())
    assert " ".join(as_json["answer"].split()) == printed  # "[chunk N, chapter C]" printed as text, not markup
    outside = (
        f"error: position 999 is outside story 'sample', which has chunks 0..{story.last_index()} (use -1 for before the first)"
    )
    for args, message in ((["--at", "999", "Who?"], outside), (["  "], "error: the question is empty")):
        bad = ask(sample_home, "--llm", "extractive", *args)
        assert bad.exit_code == 2 and bad.stderr.strip() == message and "Traceback" not in bad.output
    missing = runner.invoke(app, ["--home", str(sample_home), "ask", "--story", "nope", "Who?"])
    assert missing.exit_code == 2 and "Traceback" not in missing.output


@pytest.mark.slow
def test_local_model_answer_is_checked(sample_home: Path, blackwood) -> None:
    """The embedded SmolLM2 writes under the citation grammar; whatever it says, every
    citation in the result is retrieved evidence from chunks <= at."""
    at = blackwood.first_chunk + 8
    result = ask(sample_home, "--at", str(at), "--llm", "local", "--json", "Who is Arthur Blackwood?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["citations"] and all(c["chunk"] <= at for c in data["citations"])
    marks = {(int(a), int(b)) for a, b in CITE.findall(data["answer"])}
    assert marks == {(c["chunk"], c["chapter"]) for c in data["citations"]}


def test_a_capitalised_first_word_is_a_name_only_when_the_story_knows_it(story, blackwood) -> None:
    described = answer_question(story.at(20), "Describe the harbour.")
    assert described.method == "extractive" and all("harbour" in c.text.lower() for c in described.citations)
    before = answer_question(story.at(blackwood.first_chunk - 1), "Blackwood, who is he?")
    after = answer_question(story.at(blackwood.first_chunk), "Blackwood, who is he?")
    assert before.method == "not-told" and before.citations == []
    assert after.citations and any(names_them(c.text, blackwood) for c in after.citations)
