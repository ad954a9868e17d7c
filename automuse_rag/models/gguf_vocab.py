"""A GGUF model's tokenizer without llama.cpp, for counting tokens in one-shot commands.

``prompt`` measures every candidate in the local model's tokens. Through llama.cpp that
costs its import and a vocabulary-only model, about a second of a one-shot command;
the same byte-level BPE read by ``tokenizers`` (loaded anyway for the ONNX query
embedder) loads in about a tenth of that and encodes twice as fast.

The vocabulary and merges are read from the GGUF's header once (the ``gguf`` package's
reader for a header this module does not read: it reads every tensor's description
too, seconds for a small model), and written as a ``tokenizer.json`` under ``HOME/stores/.cache/tokenizers/``, named by a
SHA-256 of the GGUF (remembered by size and mtime, as the ONNX export is). Only
vocabularies this module can reproduce exactly are converted: llama.cpp's byte-level
BPE (``tokenizer.ggml.model == "gpt2"``) with a pre-tokenizer listed in
:data:`PRE_TOKENIZERS` and no added space prefix. Any other model keeps llama.cpp's own
tokenizer. ``tests/test_gguf_vocab.py`` checks the tokens equal llama.cpp's
(``special=False``, no BOS) on text from the shared novels.
"""

from __future__ import annotations

import mmap
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automuse_rag.fsutil import atomic_path, files_fingerprint

EXPORT_FORMAT = 1  # bump when the written tokenizer changes: old files are not reused
FINGERPRINTS = "fingerprints.json"
UNSUPPORTED = "unsupported"  # the marker written when a GGUF's vocabulary cannot be converted


def _smollm(pre_tokenizers: Any) -> Any:
    # llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM: each digit alone, then GPT-2's split
    # ('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+),
    # as the model's own tokenizer.json on the Hub has it
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )


#: llama.cpp pre-tokenizer types (``tokenizer.ggml.pre``) reproduced here.
PRE_TOKENIZERS: dict[str, Callable[[Any], Any]] = {"smollm": _smollm}

_loaded: dict[str, Any] = {}  # cache file -> tokenizers.Tokenizer, once per process
_lock = threading.Lock()


def vocab_cache_dir(home: Path) -> Path:
    return home / "stores" / ".cache" / "tokenizers"


def vocab_file(gguf: Path, cache_dir: Path) -> Path:
    """Where the tokenizer of ``gguf`` is (or will be) cached."""
    digest = files_fingerprint([gguf], str(gguf.resolve()), cache_dir / FINGERPRINTS)
    return cache_dir / f"{gguf.stem}-{digest[:20]}-f{EXPORT_FORMAT}.json"


#: The vocabulary fields read, with their GGUF value types (strings, string arrays, a bool).
WANTED = ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.merges")
SPACE_PREFIX = "tokenizer.ggml.add_space_prefix"

# GGUF value types (the gguf package's GGUFValueType) -> struct format of one scalar
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def _fields(gguf: Path) -> dict[str, Any]:
    """The vocabulary's fields of ``gguf`` (see :data:`WANTED`), read from its header
    alone. The gguf package's ``GGUFReader`` reads every tensor's description too, and
    its fields element by element: 2.4 s for SmolLM2's, against about 0.1 s here. A
    header this reader does not know (GGUF v1, big-endian) goes to ``GGUFReader``."""
    try:
        return _header_fields(gguf)
    except (ValueError, IndexError, struct.error):
        return _reader_fields(gguf)


def _header_fields(gguf: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"add_space_prefix": False}
    with gguf.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        magic, version, _tensors, count = struct.unpack_from("<4sIQQ", buf, 0)
        if magic != b"GGUF" or version not in (2, 3):
            raise ValueError(f"not a little-endian GGUF v2/v3 header: {magic!r} v{version}")
        at = 24
        unpack = struct.unpack_from

        def string(at: int) -> tuple[str, int]:
            (n,) = unpack("<Q", buf, at)
            end = at + 8 + n
            if end > len(buf):
                raise ValueError("a string runs past the end of the file")
            return buf[at + 8 : end].decode("utf-8"), end

        def skip(kind: int, at: int) -> int:
            if kind in _SCALAR:
                return at + struct.calcsize("<" + _SCALAR[kind])
            if kind == _STRING:
                return at + 8 + int(unpack("<Q", buf, at)[0])
            if kind == _ARRAY:
                inner, n = (int(x) for x in unpack("<IQ", buf, at))
                at += 12
                if inner in _SCALAR:
                    return at + n * struct.calcsize("<" + _SCALAR[inner])
                for _ in range(n):
                    at = skip(inner, at)
                return at
            raise ValueError(f"unknown GGUF value type {kind}")

        for _ in range(count):
            key, at = string(at)
            (kind,) = unpack("<I", buf, at)
            at += 4
            if key in WANTED and kind == _STRING:
                out[key], at = string(at)
            elif key in WANTED and kind == _ARRAY and unpack("<I", buf, at)[0] == _STRING:
                (n,) = unpack("<Q", buf, at + 4)
                at += 12
                values = []
                for _ in range(n):
                    value, at = string(at)
                    values.append(value)
                out[key] = values
            elif key == SPACE_PREFIX and kind == 7:
                out["add_space_prefix"] = bool(buf[at])
                at += 1
            else:
                at = skip(kind, at)
    return out


def _reader_fields(gguf: Path) -> dict[str, Any]:
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    out: dict[str, Any] = {}
    for key in WANTED:
        field = reader.fields.get(key)
        if field is not None:
            values = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
            out[key] = values if key.endswith(("tokens", "merges")) else values[0]
    space = reader.fields.get(SPACE_PREFIX)
    out["add_space_prefix"] = bool(space.parts[space.data[0]][0]) if space is not None else False
    return out


def convert(gguf: Path) -> Any | None:
    """A ``tokenizers.Tokenizer`` equal to llama.cpp's for ``gguf``, or None when its
    vocabulary is not one :data:`PRE_TOKENIZERS` reproduces."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    fields = _fields(gguf)
    pre = PRE_TOKENIZERS.get(str(fields.get("tokenizer.ggml.pre")))
    tokens, merges = fields.get("tokenizer.ggml.tokens"), fields.get("tokenizer.ggml.merges")
    if fields.get("tokenizer.ggml.model") != "gpt2" or pre is None or fields["add_space_prefix"] or not tokens or not merges:
        return None
    pairs = [tuple(merge.split(" ", 1)) for merge in merges]
    tokenizer = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=pairs))
    tokenizer.pre_tokenizer = pre(pre_tokenizers)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def load_vocab_tokenizer(gguf: Path, cache_dir: Path) -> Any | None:
    """The cached ``tokenizers`` equivalent of ``gguf``'s vocabulary, converted now if
    there is none, once per process; None when the GGUF's vocabulary cannot be
    converted (remembered in the cache, so it is not read again)."""
    target = vocab_file(gguf, cache_dir)
    key = str(target)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        from tokenizers import Tokenizer

        tokenizer: Any | None = None
        if target.is_file():
            text = target.read_text(encoding="utf-8")
            tokenizer = None if text == UNSUPPORTED else Tokenizer.from_str(text)
        else:
            tokenizer = convert(gguf)
            with atomic_path(target) as tmp:
                tmp.write_text(UNSUPPORTED if tokenizer is None else tokenizer.to_str(), encoding="utf-8")
        _loaded[key] = tokenizer
        return tokenizer
