"""The continuity benchmark's harness (benchmarks/inject.py, benchmarks/continuity.py):
injecting passages, matching `automuse continuity --json` reports to them, scoring, and
the committed plot-hole set itself. The end-to-end run uses a tiny self-made book, the
real extractive ingest and a scripted stand-in for the continuity command."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import continuity as bench  # noqa: E402
import inject  # noqa: E402
from shared_data import configured, gutenberg_path  # noqa: E402

FILLER = "The rain went on all that week, and nobody in the village spoke of anything else. " * 40


def _inj(
    id_: str, kind: str = "dead", entity: str = "Zed Ward", control: bool = False, other: str = "", **kw: str
) -> inject.Injection:
    return inject.Injection(
        id=id_,
        book=1,
        kind=kind,
        entity=entity,
        fact=kw.get("fact", "Zed Ward died"),
        anchor=kw.get("anchor", "Later that year"),
        passage=kw.get("passage", f"Passage {id_} is here."),
        control=control,
        other=other,
    )


def _book(nl: str = "\n") -> str:
    paras = [
        "Chapter 1",
        "Zed Ward died in the spring, and they buried him \u201cunder the old yew\u201d by the church.",
        FILLER,
        "Later that year the mill\nwas sold to a stranger.",
        "The end.",
    ]
    return (nl + nl).join(p.replace("\n", nl) for p in paras)


@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_inject_puts_the_passage_after_the_anchor_paragraph(nl: str) -> None:
    text = _book(nl)
    out = inject.inject_text(text, [_inj("a", passage="Zed Ward walked in.")])
    assert out.replace(f"{nl}{nl}Zed Ward walked in.", "", 1) == text
    para = f"Later that year the mill{nl}was sold to a stranger."
    assert f"{para}{nl}{nl}Zed Ward walked in.{nl}{nl}The end." in out


def test_quotes_match_across_line_breaks_and_curly_quotes() -> None:
    text = _book()
    at = inject.locate(text, 'buried him "under the old yew" by', "fact")
    assert text[at:].startswith("buried him \u201cunder")
    at = inject.locate(text, "the mill was sold", "anchor")
    assert text[at:].startswith("the mill\nwas sold")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fact": "Zed Ward was hanged"}, "a: fact quote not found"),
        ({"anchor": "the village"}, "a: anchor quote found more than once"),
        ({"anchor": "buried him"}, "a: the anchor must come at least"),
    ],
)
def test_a_quote_that_does_not_fit_is_an_error_naming_the_injection(change: dict[str, str], message: str) -> None:
    with pytest.raises(inject.InjectError, match=message):
        inject.inject_text(_book(), [_inj("a", **change)])


def test_two_passages_of_one_book_must_land_apart() -> None:
    with pytest.raises(inject.InjectError, match="b: its passage would be 0 characters after a's"):
        inject.inject_text(_book(), [_inj("a"), _inj("b")])


def test_the_entity_of_a_report_is_matched_by_cast_names_not_by_a_shared_surname() -> None:
    assert bench.same_entity("Stangerson", ["Joseph Stangerson"])
    assert bench.same_entity("Mr. Joseph Stangerson", ["Joseph Stangerson"])
    assert bench.same_entity("Beth", ["Elizabeth March", "Beth"])
    assert not bench.same_entity("Lestrade", ["Joseph Stangerson"])
    assert not bench.same_entity("Mr. March", ["Meg March"], other_cast_names=["Mr. March"])
    assert not bench.same_entity("Mr.", ["Meg March"])


def test_a_passage_straddling_two_chunks_is_in_both() -> None:
    passage = "Zed Ward came in from the yard and sat down by the fire. He asked for his supper at once, as he always did."
    half = len(passage) // 2
    chunks = {0: "Before. " + passage[:half], 1: passage[half:] + " After.", 2: "Nothing."}
    assert bench.passage_chunks(chunks, passage) == [0, 1]
    assert bench.passage_chunks({0: "x " + passage.replace(" ", "\n  ") + " y"}, passage) == [0]


def _report(chunk: int, kind: str = "dead_acts", entity: str = "Zed", fact_kind: str = "dead") -> dict[str, object]:
    return {
        "chunk": chunk,
        "chapter": 1,
        "kind": kind,
        "entity": entity,
        "text": "...",
        "fact": {"kind": fact_kind, "chunk": 0, "text": "..."},
    }


def test_reports_are_matched_to_injections_by_chunk_entity_and_kind() -> None:
    injections = [
        _inj("dead"),
        _inj("hair", kind="hair", entity="Ann Lee"),
        _inj("kin", kind="kin", entity="Ann Lee", other="Bob Lee"),
        _inj("ctl", control=True),
    ]
    placed = {"dead": [5], "hair": [8], "kin": [11, 12], "ctl": [14]}
    reports = [
        _report(5),  # finds "dead"
        _report(5, entity="Ann"),  # right chunk, wrong entity
        _report(8, kind="attribute", entity="Ann", fact_kind="eyes"),  # right chunk and entity, eyes is not hair
        _report(12, kind="kin", entity="Bob", fact_kind="kin"),  # the other person of the tie: finds "kin"
        _report(14),  # on the control: a false alarm that flags it
        _report(20, kind="attribute", entity="Ann Lee", fact_kind="hair"),  # elsewhere
    ]
    out = bench.match_reports(reports, injections, placed, cast={"Zed Ward": ["Zed"], "Ann Lee": ["Ann"]})
    assert out.found == {"dead": [0], "hair": [], "kin": [3]}
    assert out.flagged == {"ctl": [4]}
    assert out.false == [1, 2, 4, 5]
    scores = bench.score([(injections, reports, out)])
    assert (scores["dead"].injections, scores["dead"].found, scores["dead"].reports, scores["dead"].true_reports) == (1, 1, 3, 1)
    assert (scores["attribute"].recall, scores["attribute"].precision, scores["attribute"].f1) == (0.0, 0.0, 0.0)
    assert (scores["kin"].recall, scores["kin"].precision) == (1.0, 1.0)
    assert (scores["all"].injections, scores["all"].found, scores["all"].reports, scores["all"].true_reports) == (3, 2, 6, 2)
    assert scores["place"].precision is None and scores["place"].f1 is None


def test_a_later_statement_contradicting_an_injected_colour_finds_it() -> None:
    injections = [_inj("hair", kind="hair", entity="Ann Lee"), _inj("dead")]
    placed = {"hair": [8], "dead": [5]}
    later = _report(30, kind="attribute", entity="Ann", fact_kind="hair")
    later["fact"] = {"kind": "hair", "chunk": 8, "text": "..."}  # the broken fact is the injected one
    acts = _report(40)
    acts["fact"] = {"kind": "dead", "chunk": 5, "text": "..."}  # a death's later acts are the book's own
    out = bench.match_reports([later, acts], injections, placed, cast={"Ann Lee": ["Ann"], "Zed Ward": ["Zed"]})
    assert out.found == {"hair": [0], "dead": []}
    assert out.false == [1]


def test_the_committed_set_meets_the_issue_counts() -> None:
    sets = inject.load_injections()
    real = [i for i in sets.injections if not i.control]
    kinds = {g: sum(bench.GROUP_OF[i.kind] == g for i in real) for g in bench.GROUPS}
    assert len(real) >= 40 and len({i.book for i in real}) >= 8
    assert kinds["dead"] >= 15 and kinds["attribute"] >= 10 and kinds["kin"] >= 10
    halves = {h: sum(sets.half_of(i.book) == h for i in real) for h in ("test", "dev")}
    assert halves["dev"] > 0 and halves["test"] >= len(real) / 2
    assert sum(i.control for i in sets.injections) >= 10
    assert len(sets.controls) >= 10 and not set(sets.controls) & set(sets.books())
    assert all(i.other for i in real if i.kind == "kin")


def test_every_injection_applies_to_its_shared_book() -> None:
    shared = configured()
    if shared is None:
        pytest.skip("no shared Gutenberg data")
    sets = inject.load_injections()
    present = [b for b in sets.books() if gutenberg_path(shared, b).is_file()]
    if not present:
        pytest.skip("none of the set's books is in the shared data")
    for book in present:
        mine = [i for i in sets.injections if i.book == book]
        text = gutenberg_path(shared, book).read_text(encoding="utf-8")
        out = inject.inject_text(text, mine)
        assert len(out) > len(text) and all(i.passage in out for i in mine)
        flat = inject.norm(text)
        assert not [i.id for i in mine for p in bench.passage_probes(i.passage) if p in flat]  # found only where injected


@pytest.mark.slow
def test_every_passage_lands_in_chunks_after_its_fact(tmp_path: Path) -> None:
    from automuse_rag.books import read_book_file
    from automuse_rag.text.chunk import chunk_book

    shared = configured()
    if shared is None:
        pytest.skip("no shared Gutenberg data")
    sets = inject.load_injections()
    wrong = []
    for book in [b for b in sets.books() if gutenberg_path(shared, b).is_file()]:
        mine = [i for i in sets.injections if i.book == book]
        chunks = {c.index: c.text for c in chunk_book(read_book_file(inject.write_edited(book, mine, tmp_path, shared)), "x")}
        for inj in mine:
            placed = bench.passage_chunks(chunks, inj.passage)
            fact = [k for k, t in chunks.items() if inject.norm(inj.fact)[:40] in inject.norm(t)]
            if not placed or not fact or min(placed) <= max(fact) or len(placed) > 2:
                wrong.append((inj.id, placed, fact))
    assert wrong == []


FAKE = textwrap.dedent(
    """
    # A stand-in for `automuse continuity --json`: a report for every chunk after the
    # first that names Zed Ward; any other command goes to the real automuse.
    import json, os, sqlite3, sys
    args = sys.argv[1:]
    if "continuity" not in args:
        os.execv(sys.executable, [sys.executable, "-m", "automuse_rag", *args])
    home, story = args[args.index("--home") + 1], args[args.index("--story") + 1]
    con = sqlite3.connect(os.path.join(home, "stores", story, "state.sqlite"))
    rows = con.execute("SELECT idx, chapter, text FROM chunks ORDER BY idx").fetchall()
    dead = next((i for i, _, t in rows if "Zed Ward died" in t), None)
    out = [
        {"chunk": i, "chapter": c, "kind": "dead_acts", "entity": "Zed", "text": "Zed Ward ...",
         "fact": {"kind": "dead", "chunk": dead, "text": "Zed Ward died"}}
        for i, c, t in rows if dead is not None and i > dead and "Zed Ward" in t
    ]
    print(json.dumps(out))
    sys.exit(1 if out else 0)
    """
)


@pytest.mark.slow
def test_the_benchmark_runs_end_to_end_on_a_tiny_book(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shared = tmp_path / "shared"
    paras = ["Zed Ward died in the spring, and they buried him under the old yew by the church."]
    paras += [f"Part {n}. " + FILLER for n in range(12)]
    paras.insert(5, "Later that year the mill was sold to a stranger from the north.")
    paras.insert(9, "In the autumn the stranger mended the wheel and the mill ran again.")
    for book in (901, 902):
        path = gutenberg_path(shared, book)
        path.parent.mkdir(parents=True)
        path.write_text("\n\n".join(paras if book == 901 else paras[1:]) + "\n", encoding="utf-8")
    split = tmp_path / "injections.toml"
    split.write_text(
        textwrap.dedent(
            """
            [split]
            test = [901]
            [controls]
            books = [902]
            [[injection]]
            id = "zed-walks"
            book = 901
            kind = "dead"
            entity = "Zed Ward"
            fact = "Zed Ward died in the spring"
            anchor = "Later that year the mill"
            passage = "Zed Ward came up the lane with his dog and asked the stranger the price of flour."
            [[injection]]
            id = "zed-mourned"
            book = 901
            kind = "dead"
            entity = "Zed Ward"
            control = true
            fact = "Zed Ward died in the spring"
            anchor = "In the autumn the stranger"
            passage = "The miller's widow still spoke of the late Zed Ward every market day."
            """
        ),
        encoding="utf-8",
    )
    fake = tmp_path / "fake_continuity.py"
    fake.write_text(FAKE, encoding="utf-8")
    argv = ["--half", "test", "--no-write", "--no-speed", "--jobs", "2", "--injections", str(split), "--shared", str(shared)]
    argv += ["--continuity-cmd", f"{sys.executable} {fake}", "--homes", str(tmp_path / "homes")]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "| dead | 1 | 1 | 1.00 | 2 | 1 | 0.50 | 0.67 |" in out
    assert "Hard negatives (legitimate later mentions) flagged: 1/1." in out
    assert "| 902 | neither |" in out and "0 reports over" in out
    assert "zed-walks" not in out  # the test half's cases are never printed
    assert re.search(r"\| 901 \| \d+ \| [1-9]\d* \|", out)  # ingested (seconds)
    assert bench.main(argv) == 0  # again: the kept stores are checked, not ingested again
    again = capsys.readouterr().out
    assert re.search(r"\| 901 \| \d+ \| 0 \|", again) and "| dead | 1 | 1 | 1.00 | 2 | 1 | 0.50 | 0.67 |" in again


def test_only_the_dev_half_prints_its_cases() -> None:
    injections = [_inj("zed-walks"), _inj("zed-mourned", control=True)]
    run = bench.BookRun(book=1, edited=True, chunks=40, reports=[_report(7, entity="Ann")])
    run.placed = {"zed-walks": [5], "zed-mourned": [9]}
    out = bench.match_reports(run.reports, injections, run.placed)
    test = "\n".join(bench.render_half("test", [(run, injections, out)], show_cases=False))
    dev = "\n".join(bench.render_half("dev", [(run, injections, out)], show_cases=True))
    assert "| dead | 1 | 0 | 0.00 | 1 | 0 | 0.00 | 0.00 |" in test
    assert "zed-walks" not in test and "Ann" not in test
    assert "missed zed-walks (Zed Ward)" in dev and "false alarm chunk 7 dead_acts Ann" in dev


def test_a_passage_never_parts_a_paragraph_from_the_speech_it_introduces() -> None:
    text = _book().replace("sold to a stranger.", "sold to a stranger, who said:")
    with pytest.raises(inject.InjectError, match="a: the anchor paragraph ends with a colon"):
        inject.inject_text(text, [_inj("a")])
