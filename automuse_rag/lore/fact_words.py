"""The word lists the offline fact reader (lore/facts.py) and the continuity checker
(lore/continuity.py) match against: death words, colours, ages, occupations, kinship
classes, and the cue that picks the sentences worth a parse."""

from __future__ import annotations

import re
from typing import Any

# Passive or active verb forms that kill ("Mr. Hawkins was hanged", "Hyde killed Carew").
KILLED = {
    "killed",
    "murdered",
    "hanged",
    "hung",
    "shot",
    "drowned",
    "slain",
    "slew",
    "executed",
    "poisoned",
    "strangled",
    "stabbed",
    "beheaded",
    "guillotined",
    "assassinated",
    "butchered",
    "smothered",
}
DIED = {"died", "dies", "perished", "expired"}
GRAVE = {"grave", "tomb", "coffin", "corpse", "funeral", "burial", "epitaph", "murderer", "murder"}


def death_word(word: str) -> bool:
    """``word`` (lower case) may state a death: "dead", "died", "killed", "death", "grave"."""
    return word == "dead" or word == "death" or word in DIED or word in KILLED or word in GRAVE


# Verbs whose clause is a belief, a report, a wish or a fear, not a fact ("was thought
# dead", "I fear he died", "reported dead", "wished the death of").
UNREAL = {
    "thought",
    "think",
    "believed",
    "believe",
    "supposed",
    "suppose",
    "feared",
    "fear",
    "imagined",
    "imagine",
    "fancied",
    "fancy",
    "dreamt",
    "dreamed",
    "dream",
    "pretended",
    "reported",
    "rumoured",
    "rumored",
    "hoped",
    "hope",
    "wished",
    "wish",
    "doubt",
    "doubted",
    "denied",
    "deny",
    "plotted",
    "planned",
    "desired",
    "sought",
    "threatened",
    "prevented",
    "dreaded",
    "foresaw",
    "prophesied",
    # imagination as a noun: "seized with horrible visions of a future ... the cause of
    # Anne Shirley's early and tragic death" (a development case)
    "vision",
    "visions",
    "nightmare",
    "nightmares",
    "foreboding",
    "forebodings",
    "presentiment",
    "premonition",
    "expected",
    "rumour",
    "seemed",
    "appeared",
    "swear",
    "swore",
    "suspected",
    "guessed",
    "persuaded",
    "convinced",
    # found on unedited novels in neither half: "the hasty conjecture that Troy was
    # drowned", "She felt assured that Maggie was drowned"
    "conjecture",
    "conjectured",
    "supposition",
    "belief",
    "notion",
    "suspicion",
    "assured",
    "sure",
}


# Adjectives that make a death noun no fact: "the possible death of Sue", "his approaching death".
HEDGES = {"possible", "probable", "likely", "supposed", "reported", "rumoured", "rumored", "threatened", "feared"}
HEDGES |= {"imminent", "impending", "approaching", "coming", "expected", "apparent", "pretended", "mock", "false"}


def unreal_word(word: str) -> bool:
    """``word`` (lower case) is one of :data:`UNREAL` or a form of one the list does not
    spell: "thinking", "believing", "planning", "fears" ("believing that Abel killed
    Cain" states no death)."""
    if word in UNREAL:
        return True
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        return stem in UNREAL or stem + "e" in UNREAL or (stem[-1] == stem[-2] and stem[:-1] in UNREAL)
    return word.endswith("s") and word[:-1] in UNREAL


# "Hang" and "hung" with these are phrasal verbs, not a hanging ("we allays hung
# together", "hung about the gate"); the parser tags them a particle or an adverb.
HANG_ADVERBS = frozenset({"together", "about", "around", "round", "back", "on", "over", "out", "up", "down", "upon", "in"})
CONDITIONAL_MARKS = {"if", "unless", "whether", "though", "although", "lest", "till", "until", "than", "as"}
NEARLY = {"almost", "nearly", "near", "half", "all", "quite", "practically", "well", "virtually", "as", "too"}
# Noun slots: a word whose head fills one is no clause's subject (the parse's misreading
# of an adjective before a noun, "Sir Thomas's grave looks")
NOMINAL = {"pobj", "dobj", "attr", "appos", "nsubj", "nsubjpass", "compound", "npadvmod"}
# "when I am dead", "before he dies", "once she has died": a time clause in the present
# speaks of the future (in the past, "when he was dead", it states a fact)
FUTURE_MARKS = {"when", "whenever", "before", "once", "after"}
PRESENT = {"am", "is", "are", "'m", "’m", "'re", "’re", "'s", "’s", "die", "dies", "has", "have"}

EYE_COLOURS = {
    "blue": "blue",
    "grey": "grey",
    "gray": "grey",
    "brown": "brown",
    "black": "black",
    "dark": "dark",
    "green": "green",
    "hazel": "hazel",
    "violet": "violet",
}
HAIR_COLOURS = {
    "black": "black",
    "dark": "dark",
    "brown": "brown",
    "chestnut": "brown",
    "auburn": "red",
    "red": "red",
    "ginger": "red",
    "golden": "fair",
    "gold": "fair",
    "yellow": "fair",
    "fair": "fair",
    "flaxen": "fair",
    "blond": "fair",
    "blonde": "fair",
    "sandy": "fair",
    "grey": "grey",
    "gray": "grey",
    "white": "white",
    "silver": "grey",
    "raven": "black",
}
# A light shade of brown ("light-brown hair", "pale brown eyes") is a colour of its own:
# like brown, and like fair hair or hazel eyes, never like black or dark.
LIGHT_SHADES = {"light", "pale"}
LIGHT_BROWN = "light brown"
DARK_SHADES = {"dark", "deep"}


def colour_of(tok: Any) -> str:
    """The colour a colour word (a spaCy token) names: "gray" is grey; brown shaded by the
    word before it ("light-brown", "pale brown", "dark-brown") is light brown or dark."""
    word = "grey" if tok.lower_ == "gray" else tok.lower_
    before = tok.doc[tok.i - 1] if tok.i > 0 else None
    if before is not None and before.text in ("-", "–") and tok.i > 1:
        before = tok.doc[tok.i - 2]
    shade = before.lower_ if before is not None else ""
    if word == "brown" and shade in LIGHT_SHADES:
        return LIGHT_BROWN
    return "dark" if word == "brown" and shade in DARK_SHADES else word


# Colour groups: two values of one kind contradict each other only when no group holds both.
# "dark" is vague and goes with hazel; black does not.
EYE_GROUPS: tuple[set[str], ...] = ({"blue", "grey", "violet"}, {"grey", "green", "hazel"}, {"brown", "black", "dark"})
EYE_GROUPS += ({"brown", "dark", "hazel", LIGHT_BROWN},)
HAIR_GROUPS: tuple[set[str], ...] = ({"black", "dark", "brown"}, {"brown", LIGHT_BROWN, "red"}, {"fair", LIGHT_BROWN, "red"})
HAIR_GROUPS += ({"grey", "white"}, {"fair", "grey", "white"})
AGEING = {"grey", "white"}  # hair that may turn so in a story's years
HAIR = {"hair", "locks", "curls", "tresses", "ringlets"}
EYES = {"eyes"}
# A change of eye or hair colour is stated when the eyes or hair are the subject or
# object of a verb that changes colour by itself ("her hair had faded", "she dyed her
# hair"), or the subject of one that names the new colour ("her hair turned grey",
# "had become white"), or of a "now" ("her hair was now grey"); "wig" and "lenses"
# anywhere. Not "turned her eyes upon him", "his eyes grew wide", "she turned away".
RECOLOUR = {"dyed", "dye", "dyes", "dyeing", "faded", "fading", "whitened", "whitening", "greyed", "grayed"}
RECOLOUR |= {"greying", "graying", "bleached", "powdered"}
BECOME = {"turned", "turning", "turn", "turns", "grew", "grown", "growing", "became", "become", "becomes", "changed", "changing"}
DISGUISE = {"wig", "lenses"}

UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
AGE_PAST = {"when", "then", "ago", "once", "child", "girl", "boy", "formerly", "before", "since", "until", "till", "had"}

OCCUPATIONS = {
    "clockmaker",
    "watchmaker",
    "priest",
    "vicar",
    "curate",
    "rector",
    "parson",
    "minister",
    "clergyman",
    "doctor",
    "physician",
    "surgeon",
    "lawyer",
    "solicitor",
    "attorney",
    "barrister",
    "judge",
    "magistrate",
    "schoolmaster",
    "schoolmistress",
    "governess",
    "teacher",
    "tutor",
    "blacksmith",
    "smith",
    "carpenter",
    "baker",
    "butcher",
    "innkeeper",
    "landlord",
    "landlady",
    "shopkeeper",
    "merchant",
    "banker",
    "clerk",
    "sailor",
    "captain",
    "soldier",
    "officer",
    "fisherman",
    "farmer",
    "shepherd",
    "miller",
    "weaver",
    "tailor",
    "dressmaker",
    "seamstress",
    "milliner",
    "cook",
    "butler",
    "housekeeper",
    "maid",
    "nurse",
    "gardener",
    "coachman",
    "footman",
    "valet",
    "steward",
    "harbourmaster",
    "lighthouse-keeper",
    "keeper",
    "painter",
    "artist",
    "poet",
    "writer",
    "author",
    "journalist",
    "detective",
    "inspector",
    "constable",
    "policeman",
    "professor",
    "scientist",
    "chemist",
    "apothecary",
    "engineer",
    "architect",
    "jeweller",
    "printer",
    "bookseller",
    "postman",
    "postmistress",
    "actor",
    "actress",
    "singer",
    "musician",
    "organist",
    "sexton",
    "gamekeeper",
    "poacher",
    "smuggler",
    "pirate",
    "thief",
    "nun",
    "monk",
}

# Kinship roles (lore/relation_words.py's words of family and marriage) -> (class, gender).
KIN: dict[str, tuple[str, str | None]] = {
    "father": ("parent", "m"),
    "mother": ("parent", "f"),
    "son": ("child", "m"),
    "daughter": ("child", "f"),
    "child": ("child", None),
    "brother": ("sibling", "m"),
    "sister": ("sibling", "f"),
    "husband": ("spouse", "m"),
    "wife": ("spouse", "f"),
    "widow": ("spouse", "f"),
    "spouse": ("spouse", None),
    "uncle": ("uncle", "m"),
    "aunt": ("uncle", "f"),
    "nephew": ("nephew", "m"),
    "niece": ("nephew", "f"),
    "grandfather": ("grandparent", "m"),
    "grandmother": ("grandparent", "f"),
    "grandson": ("grandchild", "m"),
    "granddaughter": ("grandchild", "f"),
    "cousin": ("cousin", None),
}
INVERSE = {
    "parent": "child",
    "child": "parent",
    "sibling": "sibling",
    "spouse": "spouse",
    "uncle": "nephew",
    "nephew": "uncle",
    "grandparent": "grandchild",
    "grandchild": "grandparent",
    "cousin": "cousin",
}
#: Relation labels of a marriage (lore/relations.py's verbs), read both ways.
MARRIED = ("married", "wed", "married to")


def kin_word(label: str) -> str | None:
    """The kin word of a relation label that states one ("sister of" -> "sister"), else None."""
    role = label[:-3] if label.endswith(" of") else ""
    return role if role in KIN else None


# Classes that exclude each other for one pair of people (cousins may marry; an uncle
# is sometimes a stepfather; the families of these books are not so tidy).
EXCLUSIVE = {"parent", "child", "sibling", "spouse"}
# A cousin is nobody's parent, child or sibling (though cousins may marry).
NOT_COUSIN = {"parent", "child", "sibling"}

PLACE_VERBS = {"arrived": "", "arrives": "", "reached": "", "reaches": "", "left": "left ", "leaves": "left "}
PLACE_PREPS = {"at", "in"}

_DEATH = r"dead|died|dies|death|perished|expired|grave|tomb|coffin|corpse|funeral|murder\w*|late|" + "|".join(sorted(KILLED))
_LOOKS = r"eyes|hair|locks|curls|tresses|ringlets"
_AGE = r"aged|years|" + "|".join(sorted(TENS)) + r"|\w+teen|eleven|twelve|\d\d?"
_KIN = "|".join(sorted(KIN)) + r"|married|marry|marries|wedded"
_PLACE = r"arrived|arrives|reached|reaches|left|leaves|was in|is in|was at|is at"
_ROLE = "|".join(sorted(OCCUPATIONS)) + r"|Mrs\.?"
CUE = re.compile(rf"\b(?:{_DEATH}|{_LOOKS}|{_AGE}|{_KIN}|{_PLACE}|{_ROLE})\b", re.IGNORECASE)
DEATH_CUE = re.compile(rf"\b(?:{_DEATH})\b", re.IGNORECASE)
