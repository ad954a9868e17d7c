"""Word lists of the continuity checker (lore/continuity.py): what makes a speech to
the dead a lament, and the verbs whose subject does not act in the scene."""

from __future__ import annotations

import re

from automuse_rag.lore.relation_words import BE

# Words that make a speech to the dead a lament (lore/continuity.py ``_addressed``).
LAMENT = {
    "oh",
    "o",
    "ah",
    "alas",
    "farewell",
    "goodbye",
    "good-bye",
    "leave",
    "left",
    "gone",
    "lost",
    "die",
    "died",
    "dead",
    "rest",
    "peace",
    "heaven",
}
# A wish said to someone is a lament, not a talk: "Would to God you would speak, Fanny!"
WISH = re.compile(r"\b(?:would to (?:god|heaven)|would that|if only|i wish)\b", re.IGNORECASE)

# Verbs whose subject does not act in the scene: the dead may be their subject (lore/continuity.py).
NOT_ACTS = BE | {
    "believed",
    "believes",
    "knew",
    "knows",
    "loved",
    "loves",
    "hoped",
    "wished",
    "liked",
    "hated",
    "feared",
    "admired",
    "trusted",
    "understood",
    "deserved",
    "meant",
    "possessed",
    "had",
    "has",
    "have",
    "seemed",
    "seems",
    "appeared",
    "remained",
    "lay",
    "lies",
    "rested",
    "rests",
    "slept",
    "sleeps",
    "died",
    "dies",
    "perished",
    "expired",
    "sank",
    "used",
    "left",
    "lived",
    "bequeathed",
    "willed",
    "owned",
    "wanted",
}
