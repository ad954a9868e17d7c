"""The local model's JSON grammar (models/grammar.py): every sentence it allows is
valid JSON for the schema (no raw control characters in strings, lengths and item
counts bounded), and compiles in llama.cpp."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from automuse_rag.lore.extract import ChunkLoreReply
from automuse_rag.models.grammar import schema_gbnf


class Small(BaseModel):
    word: str = Field(max_length=10)
    kind: str = Field(pattern="^[a-z]+$")  # unsupported here: falls back to llama.cpp's converter


def test_strings_exclude_raw_control_characters_and_are_bounded() -> None:
    gbnf = schema_gbnf(ChunkLoreReply.model_json_schema())
    char = next(line for line in gbnf.splitlines() if line.startswith("char ::="))
    assert r"\x00-\x1F" in char and r"\x7F" in char
    assert "str700" in gbnf and "str60" in gbnf and "str200" in gbnf and "string ::=" not in gbnf
    # nesting stays shallow: the deepest chain is about 2 * sqrt(700), not 700
    assert max(line.count("(") for line in gbnf.splitlines()) < 60
    # every property is written, in order
    root = next(line for line in gbnf.splitlines() if line.startswith("root ::="))
    assert root.index('"\\"summary\\""') < root.index('"\\"items\\""') < root.index('"\\"relations\\""')


def test_the_grammar_compiles_in_llama_cpp_and_the_fallback_is_strict_too() -> None:
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_grammar import LlamaGrammar

    LlamaGrammar.from_string(schema_gbnf(ChunkLoreReply.model_json_schema()), verbose=False)
    fallback = schema_gbnf(Small.model_json_schema())
    assert r"\x00-\x1F" in next(line for line in fallback.splitlines() if line.startswith("char ::="))
    LlamaGrammar.from_string(fallback, verbose=False)


def test_a_raw_newline_in_a_string_is_invalid_json() -> None:
    """Why the grammar must forbid it: the answer would never validate."""
    with pytest.raises(ValueError):
        ChunkLoreReply.model_validate_json('{"summary": "one\nline", "items": [], "relations": []}')
    ChunkLoreReply.model_validate_json(json.dumps({"summary": "one\nline", "items": [], "relations": []}))


def test_constraints_it_does_not_write_fall_back_to_llama_cpp() -> None:
    class AtLeastOne(BaseModel):
        words: list[str] = Field(min_length=1, max_length=3)

    gbnf = schema_gbnf(AtLeastOne.model_json_schema())
    assert "words-kv" in gbnf  # llama.cpp's converter, which writes minItems
    assert r"\x00-\x1F" in next(line for line in gbnf.splitlines() if line.startswith("char ::="))
