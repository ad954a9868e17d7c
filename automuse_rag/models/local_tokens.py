"""Tokens and token counts of a local GGUF model, for prompt budgets.

Prompt assembly counts the same outline, cards and memories again at every position.
Two things make that cheap:
- the vocabulary converted once for ``tokenizers`` (models/gguf_vocab.py), when it can
  be: the same tokens as llama.cpp's without importing llama.cpp (else llama.cpp's own
  tokenizer, a vocabulary-only model unless the whole model is loaded already);
- counts summed line by line where the vocabulary's pre-tokenizer splits at newlines
  (:data:`NEWLINE_SPLIT_PRE`), each line counted once and remembered: a prompt made of
  lines counted before costs a regex split.
Both are exact (tests/test_gguf_vocab.py, tests/test_models_tokens.py).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from automuse_rag.models.gguf_vocab import load_vocab_tokenizer

#: Pieces (lines, or runs of lines counted together: below) whose counts a model remembers.
PIECE_COUNT_MEMO = 65536
#: llama.cpp pre-tokenizers (the GGUF's ``tokenizer.ggml.pre``) under which a newline
#: that follows a non-space character is a pre-token of its own, or begins one (GPT-2's
#: split regex, ``\s+(?!\S)|\s+``, as llama.cpp's custom GPT-2 splitter runs it): a
#: text's tokens are then the tokens of its pieces cut there (:data:`_PIECES`) one after
#: another, and its count the sum of theirs. Only the shipped model's is listed (tested
#: against whole-text counts in tests/test_models_tokens.py).
NEWLINE_SPLIT_PRE = frozenset({"smollm"})
# Before a newline that follows a non-space character, and after one that sits between two.
_PIECES = re.compile(r"(?<=\S)(?=\n)|(?<=\S\n)(?=\S)")


def token_count(llama: Any, data: bytes) -> int:
    """``len(llama.tokenize(data, add_bos=False, special=False))``, asking llama.cpp for the
    count alone: the wrapper allocates a context-sized buffer and copies every token
    into a Python list, which took half the time of counting a line."""
    import llama_cpp

    vocab = getattr(getattr(llama, "_model", None), "vocab", None)
    if vocab is not None:
        size = len(data) + 1  # a byte-level vocabulary gives at most one token per byte
        n = int(llama_cpp.llama_tokenize(vocab, data, len(data), (llama_cpp.llama_token * size)(), size, False, False))
        if n >= 0:
            return n
    return len(llama.tokenize(data, add_bos=False, special=False))


class GgufTokens:
    """The tokenizer of the GGUF at ``path``. ``llama_vocab()`` gives llama.cpp's
    (loaded on demand); ``vocab_dir`` caches the converted vocabulary."""

    def __init__(self, path: Path, vocab_dir: Path, llama_vocab: Callable[[], Any]) -> None:
        self.path = path
        self._vocab_dir = vocab_dir
        self._llama_vocab = llama_vocab
        self._fast_vocab: Any | None = None
        self._fast_tried = False
        self._vocab_lock = threading.Lock()
        self._pieces: OrderedDict[str, int] = OrderedDict()  # piece -> count, least recently used first
        self._pieces_lock = threading.Lock()
        self._by_lines: bool | None = None

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` (no BOS, special tokens read as text): from
        its vocabulary converted for ``tokenizers`` when it can be (models/gguf_vocab.py,
        the same tokens without importing llama.cpp), else from llama.cpp, which loads
        only the vocabulary unless the model is loaded already."""
        fast = self._vocabulary()
        if fast is not None:
            return list(fast.encode(text, add_special_tokens=False).ids)
        # a llama_cpp.Llama (Any)
        return cast("list[int]", self._llama_vocab().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _vocabulary(self) -> Any | None:
        with self._vocab_lock:
            if not self._fast_tried:
                try:
                    self._fast_vocab = load_vocab_tokenizer(self.path, self._vocab_dir)
                except (OSError, ValueError):  # an unwritable cache, a GGUF the gguf package cannot read:
                    pass  # llama.cpp counts the same tokens, only slower to load
                self._fast_tried = True
            return self._fast_vocab

    def warm(self) -> None:
        """Start loading the vocabulary in a thread."""
        threading.Thread(target=self._vocabulary, daemon=True, name="vocab-warm").start()

    def count(self, text: str) -> int:
        """The number of tokens of ``text``: summed line by line where the vocabulary
        splits at newlines (each line counted once, remembered), else whole."""
        if self._by_lines is None:
            # a converted vocabulary's pre-tokenizer is one of gguf_vocab.PRE_TOKENIZERS,
            # each of which splits at newlines (tested); else ask llama.cpp's metadata
            self._by_lines = (
                self._vocabulary() is not None or self._llama_vocab().metadata.get("tokenizer.ggml.pre") in NEWLINE_SPLIT_PRE
            )
        if not self._by_lines:
            return self._count_whole(text)
        with self._pieces_lock:
            return self._count_by_lines(text)

    def _count_by_lines(self, text: str) -> int:
        """The sum of the counts of ``text``'s pieces: those counted before from the memo,
        each run of new ones (with the newlines between them) in one call, remembered."""
        memo, total, run = self._pieces, 0, list[str]()
        for piece in _PIECES.split(text):
            n = memo.get(piece)
            if n is None or (run and piece == "\n"):
                run.append(piece)
                continue
            memo.move_to_end(piece)  # before the run's count can evict it
            if run:
                total += self._count_run(run)
                run = []
            total += n
        return total + (self._count_run(run) if run else 0)

    def _count_run(self, run: list[str]) -> int:
        """A run of new pieces, remembered whole. A run of several lines is counted as
        its first line, the newline and the rest: the rest is often a text counted
        before (a chunk after its section's header), and the first line comes back."""
        text = "".join(run)
        n = self._pieces.get(text)
        if n is None:
            if len(run) > 2 and run[1] == "\n":
                n = self._remember(run[0]) + self._remember("\n") + self._remember("".join(run[2:]))
                self._keep(text, n)
            else:
                n = self._remember(text)
        return n

    def _remember(self, piece: str) -> int:
        n = self._pieces.get(piece)
        if n is None:
            n = self._count_whole(piece)
            self._keep(piece, n)
        else:
            self._pieces.move_to_end(piece)
        return n

    def _keep(self, piece: str, n: int) -> None:
        self._pieces[piece] = n
        if len(self._pieces) > PIECE_COUNT_MEMO:
            self._pieces.popitem(last=False)

    def _count_whole(self, text: str) -> int:
        fast = self._vocabulary()
        if fast is not None:
            return len(fast.encode(text, add_special_tokens=False))
        return token_count(self._llama_vocab(), text.encode("utf-8"))
