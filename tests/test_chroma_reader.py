"""A story opened to read reads its local Chroma index on Chroma's own bindings,
without importing the chromadb package (memory/chroma_reader.py): every read answers
as the package's client does, writes are refused, and anything it is not known to
handle goes to the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from automuse_rag.errors import StoreError
from automuse_rag.memory import chroma_client, chroma_reader
from automuse_rag.memory.chroma_reader import ReadOnlyClient, open_reader
from automuse_rag.memory.story import StoryMemory
from automuse_rag.settings import get_settings

QUESTIONS = ["Who is Arthur Blackwood?", "the storm over the harbour", "a letter from the magazine", "boats"]


def _reads(home: Path) -> tuple[type, list]:
    settings = get_settings(home=home)
    with StoryMemory.open(settings, "sample") as mem:
        client = type(mem.store._client)
        last = mem.latest().at
        out = []
        for at in sorted({0, 1, last // 3, last // 2, last}):
            snap = mem.at(at)
            out.append([(r.index, r.text) for r in snap.records()])
            for q in QUESTIONS:
                out.append([(h.id, h.kind, h.chunk, round(h.score, 6)) for h in snap.search(q, k=6)])
        mem.verify_counts()
        return client, out


def test_every_read_answers_as_the_chromadb_client_does(extractive_sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, fast_reads = _reads(extractive_sample)
    monkeypatch.setattr(chroma_client, "open_reader", lambda path: None)  # the package's PersistentClient
    package, package_reads = _reads(extractive_sample)
    assert fast is ReadOnlyClient and package is not ReadOnlyClient
    assert fast_reads == package_reads
    assert any(len(r) == 6 for r in fast_reads)  # the searches found something


def test_writes_through_the_reader_are_refused(extractive_sample: Path) -> None:
    client = open_reader(extractive_sample / "stores" / "sample" / "chroma")
    assert client is not None
    col = client.list_collections()[0]
    name = col.name
    with pytest.raises(StoreError, match=f"^the Chroma collection {name} was opened to read$"):
        col.upsert(ids=["x"], documents=["y"], metadatas=[{}], embeddings=[[0.0]])
    with pytest.raises(StoreError):
        col.delete(ids=["x"])


def test_an_untested_chromadb_version_or_a_missing_index_takes_the_package(
    extractive_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = extractive_sample / "stores" / "sample" / "chroma"
    assert open_reader(tmp_path) is None  # no chroma.sqlite3 there
    monkeypatch.setattr(chroma_reader, "chromadb_version", lambda: (9, 0))
    assert open_reader(path) is None
    with StoryMemory.open(get_settings(home=extractive_sample), "sample") as mem:
        assert type(mem.store._client) is not ReadOnlyClient
        assert mem.latest().search("Arthur Blackwood", k=2)


def test_a_writer_never_gets_the_reader(editable_sample: Path) -> None:
    from automuse_rag.memory.store import ChromaStore

    settings = get_settings(home=editable_sample)
    with StoryMemory.open(settings, "sample") as mem:
        store_id, embedder = mem.store_id, (mem.embedder.name, mem.embedder.dimension)
    path = editable_sample / "stores" / "sample" / "chroma"
    store = ChromaStore("sample", store_id, embedder, path=path, create=False)
    assert type(store._client) is not ReadOnlyClient
    store.close()


def test_the_chromadb_version_is_read_without_importing_it() -> None:
    from importlib import metadata

    major, minor = metadata.version("chromadb").split(".")[:2]
    assert chroma_reader.chromadb_version() == (int(major), int(minor))
