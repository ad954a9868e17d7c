"""The model's pass over candidate merges (``automuse characters --review``, issue 27):
which pairs are put to the model, which answers are stored, and the command against
a real OpenAI-compatible HTTP server on 127.0.0.1 that judges by the question asked."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import cli

from automuse_rag.lore.review import Candidate, accepted, merge_candidates
from automuse_rag.lore.stats import NameStat

STORY = Path(__file__).parent / "fixtures" / "orme.txt"  # a father, his son and a "Mr. Orme" who is the father


def _stats(counts: dict[str, int], he: tuple[str, ...] = (), she: tuple[str, ...] = ()) -> dict[str, NameStat]:
    return {n: NameStat(n, 0, count=c, he=5 * (n in he), she=5 * (n in she)) for n, c in counts.items()}


def test_candidates_are_names_that_may_be_one_person() -> None:
    members = {
        "jonas": ["Jonas Orme"],
        "peter": ["Peter Orme"],
        "mr": ["Mr. Orme"],
        "mrs": ["Mrs. Orme"],
        "clara": ["Clara Vane"],
    }
    names = {k: v[0] for k, v in members.items()}
    stats = _stats({"Jonas Orme": 9, "Peter Orme": 7, "Mr. Orme": 4, "Mrs. Orme": 3, "Clara Vane": 6})
    found = {(c.a, c.b) for c in merge_candidates(members, names, stats, [])}
    # Mr. Orme may be either man; Mrs. Orme is neither (a title of the other sex);
    # Jonas and Peter Orme are two full names with different given names; Clara Vane
    # shares no word with anyone.
    assert ("mr", "jonas") in found and ("mr", "peter") in found
    assert not {p for p in found if "mrs" in p}
    assert ("jonas", "peter") not in found and ("peter", "jonas") not in found
    assert not {p for p in found if "clara" in p}
    # two names read as different people in one sentence are never asked about
    apart = {(c.a, c.b) for c in merge_candidates(members, names, stats, [("Mr. Orme", "Peter Orme")])}
    assert ("mr", "jonas") in apart and ("mr", "peter") not in apart
    # pronouns give a bare title's sex: a "Doctor Orme" who is "she" is not Mr. Orme's candidate
    doc = {"doc": ["Doctor Orme"], "jonas": ["Jonas Orme"]}
    st = _stats({"Doctor Orme": 6, "Jonas Orme": 9}, she=("Doctor Orme",))
    assert merge_candidates(doc, {"doc": "Doctor Orme", "jonas": "Jonas Orme"}, st, []) == []
    st = _stats({"Doctor Orme": 6, "Jonas Orme": 9}, he=("Doctor Orme",))
    assert [(c.a, c.b) for c in merge_candidates(doc, {"doc": "Doctor Orme", "jonas": "Jonas Orme"}, st, [])] == [
        ("doc", "jonas")
    ]


def test_a_name_the_model_would_join_to_two_others_stays_apart() -> None:
    to_jonas = Candidate("mr", "jonas", "Mr. Orme", "Jonas Orme", "orme", 4)
    to_peter = Candidate("mr", "peter", "Mr. Orme", "Peter Orme", "orme", 4)
    gil = Candidate("gil", "gilbert", "Gil", "Gilbert Blythe", "gilbert", 2)
    assert accepted([(to_jonas, True), (to_peter, False), (gil, None)]) == [to_jonas]
    assert accepted([(to_jonas, True), (to_peter, True), (gil, True)]) == [gil]


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """An OpenAI-compatible server on 127.0.0.1 that says "yes" to the question about
    Jonas Orme and Mr. Orme and "no" to every other; yields the questions it got."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            question = request["messages"][-1]["content"]
            asked.append(question)
            same = '"Jonas Orme"' in question and '"Mr. Orme"' in question
            body = {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "judge",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": "Yes." if same else "No"}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 1, "total_tokens": 51},
            }
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        yield asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def orme(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    result = cli(home, "ingest", str(STORY), "--story", "orme", "--llm", "extractive", "--embedder", "hash:32")
    assert result.exit_code == 0, result.output
    return home


def _characters(home: Path) -> dict[str, list[str]]:
    rows = json.loads(cli(home, "characters", "--story", "orme", "--kind", "character", "--json").stdout)
    return {r["name"]: r["aliases"] for r in rows}


def test_review_asks_the_served_model_and_stores_only_with_apply(orme: Path, judge: list[str]) -> None:
    before = _characters(orme)
    assert {"Jonas Orme", "Mr. Orme", "Peter Orme"} <= set(before), "the rules leave Mr. Orme apart"
    result = cli(orme, "characters", "--story", "orme", "--review", "--llm", "openai:judge", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    verdicts = {(a["a"], a["b"]): a["verdict"] for a in out["asked"]}
    assert verdicts == {("Jonas Orme", "Mr. Orme"): "same", ("Mr. Orme", "Peter Orme"): "different"}
    assert out["applied"] == [] and len(judge) == 2
    assert all("yes or no" in q for q in judge)
    assert "Jonas Orme was a broad, grey man" in judge[0], "the question shows what the story says of each"
    assert _characters(orme) == before, "nothing stored without --apply"

    result = cli(orme, "characters", "--story", "orme", "--review", "--apply", "--llm", "openai:judge")
    assert result.exit_code == 0, result.output
    assert "merged 'Jonas Orme' into 'Mr. Orme' from chunk 0" in result.stdout
    after = _characters(orme)
    merged = next(name for name, aliases in after.items() if "Mr. Orme" in {name, *aliases})
    assert {merged, *after[merged]} == {"Jonas Orme", "Mr. Orme"}
    assert "Peter Orme" in after and "Peter Orme" not in after[merged]
    db = sqlite3.connect(orme / "stores" / "orme" / "state.sqlite")
    try:
        assert db.execute("SELECT kind, a, b FROM corrections").fetchall() == [("merge", "Jonas Orme", "Mr. Orme")]
    finally:
        db.close()
    assert cli(orme, "check", "--story", "orme").exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--review"], "answers at random"),  # the embedded model: not capable
        (["--review", "--llm", "extractive"], "--review asks a model"),
        (["--apply"], "give --review too"),
        (["--review", "--merge", "Mr. Orme", "Jonas Orme"], "--review puts pairs to the model"),
    ],
)
def test_review_errors_are_one_line_and_store_nothing(orme: Path, args: list[str], message: str) -> None:
    before = _characters(orme)
    result = cli(orme, "characters", "--story", "orme", *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert _characters(orme) == before
