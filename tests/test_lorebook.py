"""``automuse lorebook export`` / ``import``: each format's file in the shape its tool
reads, spoiler-free with ``--at``, a round trip that keeps the entities and their keys,
imported entries in prompts like cards, and bad inputs refused with one line and
nothing stored."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import cli

from automuse_rag.assemble.retrieve import gather_candidates
from automuse_rag.lore.lorebook import LoreEntry
from automuse_rag.lore.lorebook_read import read_lorebook
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings


def export(home: Path, fmt: str, *extra: str) -> Any:
    out = home / f"book.{fmt}"
    result = cli(home, "lorebook", "export", "--story", "sample", "--format", fmt, "--out", str(out), *extra)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text(encoding="utf-8"))


def story_lore(home: Path, at: int | None = None) -> list[tuple[str, str, list[str], int]]:
    """(name, kind, keys, mentions) of the characters and places, most mentioned first."""
    with StoryMemory.open(get_settings(home=home), "sample", verify=False) as memory:
        snap = memory.latest() if at is None else memory.at(at)
        ents = [e for e in snap.entities() if e.kind in ("character", "place")]
    ents.sort(key=lambda e: (-len(e.mentions), e.name, e.id))
    return [(e.name, e.kind, list(dict.fromkeys([e.name, *e.names()])), len(e.mentions)) for e in ents]


def is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def test_sillytavern_world_info_has_the_fields_it_reads(extractive_sample: Path) -> None:
    data = export(extractive_sample, "sillytavern")
    lore = story_lore(extractive_sample)
    entries = data["entries"]
    assert isinstance(entries, dict) and list(entries) == [str(i) for i in range(len(lore))]
    for uid, (e, (name, _, keys, mentions)) in enumerate(zip(entries.values(), lore, strict=True)):
        assert e["uid"] == uid and e["displayIndex"] == uid
        assert is_str_list(e["key"]) and e["key"] == keys and e["keysecondary"] == []
        assert e["comment"] == name and e["content"].startswith(name + " (")
        assert e["order"] == mentions and e["position"] == 0 and e["disable"] is False
        for flag in ("constant", "selective", "excludeRecursion", "useProbability"):
            assert isinstance(e[flag], bool)
        assert e["probability"] == 100 and isinstance(e["depth"], int) and isinstance(e["group"], str)
    orders = [e["order"] for e in entries.values()]
    assert orders == sorted(orders, reverse=True)
    constant = [e["comment"] for e in entries.values() if e["constant"]]
    # the main cast: characters named in a quarter of the 31 chunks; no place is constant
    assert constant and "Edith Marlowe" in constant
    kinds = {name: kind for name, kind, _, _ in lore}
    assert all(kinds[n] == "character" for n in constant)
    assert any(kinds[e["comment"]] == "place" and not e["constant"] for e in entries.values())


def test_novelai_lorebook_has_the_fields_it_reads(extractive_sample: Path) -> None:
    data = export(extractive_sample, "novelai")
    lore = story_lore(extractive_sample)
    assert data["lorebookVersion"] == 5 and data["settings"] == {"orderByKeyLocations": False}
    assert data["categories"] == [] and data["order"] == [e["id"] for e in data["entries"]]
    assert len({e["id"] for e in data["entries"]}) == len(lore)
    for e, (name, _, keys, mentions) in zip(data["entries"], lore, strict=True):
        assert e["displayName"] == name and e["keys"] == keys and isinstance(e["text"], str) and e["text"]
        assert e["enabled"] is True and isinstance(e["forceActivation"], bool) and e["category"] == ""
        assert isinstance(e["lastUpdatedAt"], int) and e["searchRange"] == 1000 and e["loreBiasGroups"] == []
        cfg = e["contextConfig"]
        assert set(cfg) >= {"prefix", "suffix", "tokenBudget", "reservedTokens", "budgetPriority", "trimDirection"}
        assert cfg["budgetPriority"] == 400 + mentions and cfg["insertionType"] == "newline"
        assert cfg["trimDirection"] == "trimBottom" and cfg["maximumTrimType"] == "sentence"


def test_character_card_v2_book_has_the_fields_it_reads(extractive_sample: Path) -> None:
    data = export(extractive_sample, "card")
    lore = story_lore(extractive_sample)
    assert data["spec"] == "chara_card_v2" and data["spec_version"] == "2.0"
    card = data["data"]
    for field in ("name", "description", "personality", "scenario", "first_mes", "mes_example"):
        assert isinstance(card[field], str)
    assert card["name"] == "sample" and card["alternate_greetings"] == [] and card["extensions"] == {}
    book = card["character_book"]
    assert book["extensions"] == {} and isinstance(book["recursive_scanning"], bool)
    for e, (name, _, keys, mentions) in zip(book["entries"], lore, strict=True):
        assert e["keys"] == keys and e["name"] == name and e["extensions"] == {} and e["enabled"] is True
        assert e["insertion_order"] == mentions and e["priority"] == mentions
        assert e["position"] in ("before_char", "after_char") and isinstance(e["constant"], bool)
        assert isinstance(e["content"], str) and e["content"] and is_str_list(e["secondary_keys"])


def test_at_hides_later_entities_and_aliases(extractive_sample: Path) -> None:
    early = export(extractive_sample, "sillytavern", "--at", "3")
    late = story_lore(extractive_sample)
    known = story_lore(extractive_sample, 3)
    assert [e["key"] for e in early["entries"].values()] == [keys for _, _, keys, _ in known]
    early_keys = {k for e in early["entries"].values() for k in e["key"]}
    later_keys = {k for _, _, keys, _ in late for k in keys}
    assert later_keys - early_keys, "the sample story names someone new after chunk 3"
    with StoryMemory.open(get_settings(home=extractive_sample), "sample", verify=False) as memory:
        all_names = {n for e in memory.latest().entities() for n in e.names()}
        early_names = {n for e in memory.at(3).entities() for n in e.names()}
    assert early_keys <= early_names and (all_names - early_names).isdisjoint(early_keys)
    text = json.dumps(early)
    assert all(name not in text for name in all_names - early_names if " " in name)


def test_bad_export_options_are_one_line(extractive_sample: Path, tmp_path: Path) -> None:
    bad = [
        (["--format", "obsidian", "--out", str(tmp_path / "x.json")], "error: --format 'obsidian' is not one of"),
        (["--format", "card", "--out", str(tmp_path)], "is a directory"),
        (["--format", "card", "--out", str(tmp_path / "x.json"), "--at", "999"], "error: position 999 is outside"),
    ]
    for args, message in bad:
        result = cli(extractive_sample, "lorebook", "export", "--story", "sample", *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "x.json").exists()


# -- import ------------------------------------------------------------------------


def stored(home: Path) -> list[LoreEntry]:
    with StoryMemory.open(get_settings(home=home), "sample", verify=False) as memory:
        return memory.latest().lorebook()


@pytest.mark.parametrize("fmt", ["sillytavern", "novelai", "card"])
def test_export_then_import_gives_the_same_entities_and_keys(editable_sample: Path, fmt: str) -> None:
    data = export(editable_sample, fmt)
    result = cli(editable_sample, "lorebook", "import", str(editable_sample / f"book.{fmt}"), "--story", "sample")
    assert result.exit_code == 0, result.output
    assert f"({fmt}) into story sample" in result.output
    lore = story_lore(editable_sample)
    got = stored(editable_sample)
    assert [(e.name, e.kind, list(e.keys)) for e in got] == [(n, k, keys) for n, k, keys, _ in lore]
    assert [e.importance for e in got] == [m for _, _, _, m in lore]
    assert read_lorebook(data)[1] == got  # the file as read is what is stored
    constant = {e.name for e in got if e.constant}
    assert constant and constant <= {n for n, k, _, _ in lore if k == "character"}
    with StoryMemory.open(get_settings(home=editable_sample), "sample", verify=False) as memory:
        assert memory.at(-1).lorebook() == memory.at(3).lorebook() == got  # the writer's own: known from the start


def test_a_bare_character_book_and_a_v3_card_are_read() -> None:
    entry = {"keys": ["Hollin"], "content": "Hollin Island (place): a tidal island.", "extensions": {}, "enabled": True}
    entry |= {"insertion_order": 5}
    off = {"keys": ["x"], "content": "off", "extensions": {}, "enabled": False, "insertion_order": 1}
    for data in ({"entries": [entry, off]}, {"spec": "chara_card_v3", "data": {"character_book": {"entries": [entry, off]}}}):
        fmt, entries = read_lorebook(data)
        assert fmt == "card"
        assert entries == [LoreEntry("Hollin", "place", ("Hollin",), entry["content"], False, 5)]


def test_an_imported_entry_is_lore_in_prompts(editable_sample: Path) -> None:
    book = {
        "entries": {
            "0": {"key": ["the old beacon"], "comment": "Kestrel Light", "content": "Kestrel Light is dark since 1911."},
            "1": {"key": ["Edith"], "comment": "Edith", "content": "Edith is secretly the heir of Tregarth House."},
            "2": {"key": [], "comment": "Tone", "content": "A quiet coastal mystery.", "constant": True},
            "3": {"key": ["Edith"], "comment": "off", "content": "Disabled entries stay out.", "disable": True},
        }
    }
    path = editable_sample / "mine.json"
    path.write_text(json.dumps(book), encoding="utf-8")
    result = cli(editable_sample, "lorebook", "import", str(path), "--story", "sample")
    assert result.exit_code == 0 and "imported 3 entries (1 constant)" in result.output, result.output
    with StoryMemory.open(get_settings(home=editable_sample), "sample", verify=False) as memory:
        snap = memory.at(12)
        last = snap.window(0)[12].text
        assert "Edith" in last and "the old beacon" not in last.lower()
        cands = gather_candidates(snap)
        before = gather_candidates(memory.at(-1))
    by_text = {c.text: c for c in cands if c.kind == "lorebook"}
    assert set(by_text) == {"Edith is secretly the heir of Tregarth House.", "A quiet coastal mystery."}
    assert all(c.score > max(o.score for o in cands if o.kind != "lorebook") for c in by_text.values())
    edith = next(c for c in cands if c.id == "entity:edith-marlowe")
    assert edith.drop_reason == "the writer's lorebook entry 'Edith' covers it"
    assert [c.text for c in before] == ["A quiet coastal mystery."]  # before the first chunk: the constant ones


def listing(home: Path) -> dict[str, bytes]:
    return {str(p.relative_to(home)): p.read_bytes() for p in sorted((home / "stores").rglob("*")) if p.is_file()}


def test_bad_imports_are_one_line_and_store_nothing(editable_sample: Path) -> None:
    first = editable_sample / "first.json"
    first.write_text(json.dumps({"entries": {"0": {"key": ["Edith"], "content": "Kept."}}}), encoding="utf-8")
    assert cli(editable_sample, "lorebook", "import", str(first), "--story", "sample").exit_code == 0
    cases = {
        "missing.json": (None, "no such file"),
        "binary.json": (b"\xff\xfe\x00bad", "is not UTF-8 text"),
        "broken.json": (b'{"entries": ', "is not JSON"),
        "other.json": (b'{"name": "a chat log", "messages": []}', "not a lorebook: expected a SillyTavern"),
        "list.json": (b"[1, 2]", "not a lorebook: expected a JSON object"),
        "keys.json": (b'{"entries": {"0": {"key": "Edith", "content": "x"}}}', "entry 0's 'key' must be a list of strings"),
        "empty.json": (b'{"lorebookVersion": 5, "entries": []}', "has no enabled entry with content"),
    }
    for name, (raw, _) in cases.items():
        if raw is not None:
            (editable_sample / name).write_bytes(raw)
    before = listing(editable_sample)
    for name, (_, message) in cases.items():
        result = cli(editable_sample, "lorebook", "import", str(editable_sample / name), "--story", "sample")
        assert result.exit_code == 2 and result.output.startswith("error: "), (name, result.output)
        assert message in result.output and result.output.count("\n") == 1, (name, result.output)
    assert listing(editable_sample) == before
    assert [e.content for e in stored(editable_sample)] == ["Kept."]
    nope = cli(editable_sample, "lorebook", "import", str(first), "--story", "nope")
    assert nope.exit_code == 2 and nope.output.startswith("error: no story 'nope'")


def test_a_format_2_store_is_upgraded_by_repair_then_imports(editable_sample: Path) -> None:
    db = sqlite3.connect(editable_sample / "stores" / "sample" / "state.sqlite")
    db.execute("DROP TABLE lorebook")
    db.execute("PRAGMA user_version=2")
    db.close()
    path = editable_sample / "mine.json"
    path.write_text(json.dumps({"entries": {"0": {"key": ["Edith"], "content": "Kept."}}}), encoding="utf-8")
    refused = cli(editable_sample, "lorebook", "import", str(path), "--story", "sample")
    assert refused.exit_code == 2 and "store format 2" in refused.output and "automuse repair --story sample" in refused.output
    repaired = cli(editable_sample, "repair", "--story", "sample")
    assert repaired.exit_code == 0 and "upgraded story sample from store format 2 to 4" in repaired.output
    assert stored(editable_sample) == []
    assert cli(editable_sample, "lorebook", "import", str(path), "--story", "sample").exit_code == 0
    assert [e.content for e in stored(editable_sample)] == ["Kept."]
    assert cli(editable_sample, "check", "--story", "sample").exit_code == 0
