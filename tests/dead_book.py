"""A four-chunk book (``--size 300``) that states a death plainly, then lets the dead
man speak in a later chapter: the plainest continuity fault, which every version of
the fact extraction and the checker must find (tests of storage, the continuity
command, generation and the web page share it)."""

from __future__ import annotations

from pathlib import Path

from conftest import cli

BOOK = (
    "\n\n".join(
        [
            "CHAPTER I. The Letter",
            "Victor Frankenstein walked down to the lake at Geneva in the grey morning. His friend Henry Clerval had gone "
            "ahead to Ireland, and Elizabeth Lavenza waited at the house with the children and the old servant Justine Moritz.",
            "The letter came at noon. Elizabeth Lavenza read it twice at the window before she gave it to him. Henry Clerval "
            "is dead. The magistrate wrote it plainly, in one line, and then wrote a page about the inquest.",
            "CHAPTER II. The Inn",
            "Victor Frankenstein rode north for three days. At the inn by the river he sat alone by the fire and did not eat, "
            "and the landlord Mr. Kirwin left him there until the candles burned down.",
            '"Come up to the room, Victor," said Henry Clerval. He stood at the foot of the stairs with his coat over his arm. '
            "Victor Frankenstein looked at him for a long time and could not answer.",
        ]
    )
    + "\n"
)
DEATH = "Henry Clerval is dead."
SPEAKS = '"Come up to the room, Victor," said Henry Clerval.'
#: What ``automuse continuity --story dead --json`` prints.
FOUND = [
    {
        "chunk": 3,
        "chapter": 2,
        "kind": "dead_acts",
        "entity": "Henry Clerval",
        "text": SPEAKS,
        "fact": {"kind": "dead", "chunk": 1, "text": DEATH},
        "again": [],
    }
]


def ingest_dead_book(home: Path) -> None:
    """Ingest the book extractively as story ``dead`` into ``home``."""
    path = home / "dead.txt"
    path.write_text(BOOK, encoding="utf-8")
    args = ("ingest", str(path), "--story", "dead", "--llm", "extractive", "--embedder", "hash:32", "--size", "300")
    result = cli(home, *args)
    assert result.exit_code == 0, result.output
