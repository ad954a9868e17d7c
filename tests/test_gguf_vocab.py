"""The local model's vocabulary read by ``tokenizers`` (models/gguf_vocab.py): the same
tokens as llama.cpp's, cached once per GGUF, and only for vocabularies it reproduces."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import gutenberg_path

from automuse_rag.models import gguf_vocab
from automuse_rag.models.gguf_vocab import UNSUPPORTED, convert, load_vocab_tokenizer, vocab_file
from automuse_rag.models.local import find_gguf

ODD = [
    "",
    " ",
    "\n",
    "  hello   world\n\n\tx  ",
    "1234567 3.14 1,000,000 2nd",
    "naïve café — “quoted” ‘s’ …",
    "<|im_start|>user hi<|im_end|>",  # special tokens' text is read as text (special=False)
    "emoji 😀 and 中文 and \u200b zero width",
    "don't I'LL we've THEY'RE",
    "MR. DARCY!!! ?? ...",
]


@pytest.fixture(scope="module")
def llama_tokenize():
    from llama_cpp import Llama

    vocab = Llama(model_path=str(find_gguf()), vocab_only=True, verbose=False)
    yield lambda text: vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    vocab.close()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory):
    tokenizer = load_vocab_tokenizer(find_gguf(), tmp_path_factory.mktemp("vocab"))
    assert tokenizer is not None
    return lambda text: tokenizer.encode(text, add_special_tokens=False).ids


@pytest.mark.parametrize("book_id", [11, 84, 64317, 1342])
def test_tokens_equal_llama_cpps_on_real_books(shared_data: Path, llama_tokenize, converted, book_id: int) -> None:
    text = gutenberg_path(shared_data, book_id).read_text(encoding="utf-8")
    pieces = [text[i : i + 3000] for i in range(0, len(text), len(text) // 25)]  # 25 spread passages
    assert [converted(p) for p in pieces] == [llama_tokenize(p) for p in pieces]


@pytest.mark.parametrize("text", ODD)
def test_tokens_equal_llama_cpps_on_odd_text(llama_tokenize, converted, text: str) -> None:
    assert converted(text) == llama_tokenize(text)


def test_the_conversion_is_cached_by_the_gguf_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = find_gguf()
    monkeypatch.setattr(gguf_vocab, "_loaded", {})
    first = load_vocab_tokenizer(gguf, tmp_path)
    target = vocab_file(gguf, tmp_path)
    assert first is not None and target.is_file()

    def no_conversion(path: Path) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(gguf_vocab, "convert", no_conversion)
    monkeypatch.setattr(gguf_vocab, "_loaded", {})  # a new process reads the cached file
    again = load_vocab_tokenizer(gguf, tmp_path)
    assert again is not None and again.encode("Call me Ishmael.").ids == first.encode("Call me Ishmael.").ids


def _gguf_with(path: Path, **fields: object) -> Path:
    """A GGUF holding only tokenizer metadata, written with the gguf package."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model(str(fields.get("model", "gpt2")))
    writer.add_tokenizer_pre(str(fields.get("pre", "smollm")))
    writer.add_token_list(["a", "b", "ab", "Ġ"])
    writer.add_token_merges(["a b"])
    writer.add_add_space_prefix(bool(fields.get("space", False)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_a_small_gpt2_vocabulary_converts_with_its_merges(tmp_path: Path) -> None:
    tokenizer = convert(_gguf_with(tmp_path / "tiny.gguf"))
    assert tokenizer is not None
    assert tokenizer.encode("ab", add_special_tokens=False).ids == [2]  # merged by the one rule
    assert tokenizer.encode("ba", add_special_tokens=False).ids == [1, 0]


@pytest.mark.parametrize(
    "fields", [{"pre": "llama3"}, {"model": "llama"}, {"space": True}], ids=["other split", "sentencepiece", "space prefix"]
)
def test_vocabularies_it_does_not_reproduce_are_left_to_llama_cpp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, object]
) -> None:
    gguf = _gguf_with(tmp_path / "other.gguf", **fields)
    assert convert(gguf) is None
    monkeypatch.setattr(gguf_vocab, "_loaded", {})
    cache = tmp_path / "cache"
    assert load_vocab_tokenizer(gguf, cache) is None
    assert vocab_file(gguf, cache).read_text(encoding="utf-8") == UNSUPPORTED


def test_every_converted_pre_tokenizer_splits_at_newlines() -> None:
    """Token counts of a converted vocabulary are summed line by line (models/local.py),
    which is exact only for pre-tokenizers listed in NEWLINE_SPLIT_PRE."""
    from automuse_rag.models.local_tokens import NEWLINE_SPLIT_PRE

    assert set(gguf_vocab.PRE_TOKENIZERS) <= NEWLINE_SPLIT_PRE


def test_the_header_reader_reads_the_vocabulary_as_ggufreader_does() -> None:
    """The vocabulary is read from the GGUF's header alone (``GGUFReader`` also reads every
    tensor's description: seconds a fresh home paid on its first count of tokens)."""
    gguf = find_gguf()
    fast = gguf_vocab._header_fields(gguf)
    assert fast == gguf_vocab._reader_fields(gguf)
    assert len(fast["tokenizer.ggml.tokens"]) > 1000 and len(fast["tokenizer.ggml.merges"]) > 1000


def _write_gguf(path: Path, space_prefix: bool) -> None:
    """A GGUF with a vocabulary among fields of every other kind before and after it."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), "llama")
    w.add_uint32("test.u32", 7)
    w.add_float64("test.f64", 0.5)
    w.add_array("test.ints", [1, 2, 3])
    w.add_array("test.words", ["a", "bb", "ccc"])
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "smollm")
    w.add_array("tokenizer.ggml.tokens", ["h", "e", "he", "ü", "hü"])
    w.add_bool("tokenizer.ggml.add_space_prefix", space_prefix)
    w.add_array("tokenizer.ggml.merges", ["h e", "h ü"])
    w.add_array("test.floats", [0.25, 1.5])
    w.add_bool("test.flag", True)
    w.add_tensor("t", np.zeros((2, 3), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("space_prefix", [False, True])
def test_the_header_reader_skips_fields_of_every_kind(tmp_path: Path, space_prefix: bool) -> None:
    path = tmp_path / "v.gguf"
    _write_gguf(path, space_prefix)
    fast = gguf_vocab._header_fields(path)
    assert fast == gguf_vocab._reader_fields(path)
    assert fast["tokenizer.ggml.tokens"] == ["h", "e", "he", "ü", "hü"] and fast["add_space_prefix"] is space_prefix


def test_a_header_the_reader_does_not_know_goes_to_ggufreader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.gguf"
    _write_gguf(path, False)
    data = bytearray(path.read_bytes())
    data[4:8] = (1).to_bytes(4, "little")  # GGUF v1 (32-bit counts)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        gguf_vocab._header_fields(path)
    asked: list[Path] = []
    monkeypatch.setattr(gguf_vocab, "_reader_fields", lambda p: asked.append(p) or {"add_space_prefix": False})
    assert gguf_vocab._fields(path) == {"add_space_prefix": False} and asked == [path]
    truncated = tmp_path / "t.gguf"
    _write_gguf(truncated, False)
    truncated.write_bytes(truncated.read_bytes()[:60])
    assert gguf_vocab._fields(truncated) == {"add_space_prefix": False} and asked == [path, truncated]
