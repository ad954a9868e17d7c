"""The continuity checker's rules (lore/continuity.py, issue 26): each kind of
contradiction flagged, and the legitimate mention (mourning, memory, "the late X",
past perfect, a dream, a letter, a ghost) left alone; facts stated at or after the
checked chunk never count."""

from __future__ import annotations

import pytest

from automuse_rag.lore.continuity import CONTRADICTION_KINDS, Contradiction, KnownFact, find_contradictions
from automuse_rag.lore.facts import Fact
from automuse_rag.lore.ner import get_nlp

PEOPLE = {
    "Lucy Westenra": "lucy",
    "Lucy": "lucy",
    "Nora Fairley": "nora",
    "Miss Nora Fairley": "nora",
    "Nora": "nora",
    "Arthur Holmwood": "arthur",
    "Emily Lake": "emily",
    "Tom Holmwood": "tom",
    "Tom Crane": "crane",
}


def resolve(name: str) -> str | None:
    return PEOPLE.get(name)


def known(kind: str, name: str, value: str, chunk: int = 2, sentence: str = "It was said.") -> KnownFact:
    return KnownFact(Fact(kind, name, value, sentence, chunk), PEOPLE[name], name)


def check(text: str, *facts: KnownFact, chunk: int = 5) -> list[Contradiction]:
    return find_contradictions(get_nlp()(text), chunk, list(facts), resolve)


DEAD = known("dead", "Lucy Westenra", "dead", sentence="Lucy Westenra is dead.")


@pytest.mark.parametrize(
    "text",
    [
        "Lucy Westenra walked into the room and smiled at everyone.",
        "“Good evening,” said Lucy Westenra, taking off her gloves.",
        "Lucy Westenra replied that she was quite well.",
        "Tom Crane opened the door. Lucy stood on the step in the rain.",
        "“Lucy, you are late for supper,” said Tom Crane.",
        "“Come in out of the rain, Lucy!” cried Tom Crane.",
        "“I am quite well,” said Lucy, smiling.",
    ],
)
def test_the_dead_acting_or_speaking_is_a_contradiction(text: str) -> None:
    (c,) = check(text, DEAD)
    assert (c.kind, c.entity, c.display, c.chunk) == ("dead_acts", "lucy", "Lucy Westenra", 5)
    assert c.fact == DEAD.fact
    assert c.text in text


@pytest.mark.parametrize(
    "text",
    [
        "Tom Crane remembered how Lucy Westenra laughed at the sea.",
        "They mourned Lucy Westenra all that winter.",
        "“Lucy Westenra loved this garden,” said Tom Crane.",
        "Lucy Westenra had walked here every morning before the fever.",
        "That night Tom Crane dreamed of the garden. Lucy Westenra walked towards him through the roses.",
        "Tom Crane opened the old letter. Lucy Westenra wrote that she was happy at Whitby.",
        "The ghost of Lucy Westenra walked the hall at midnight.",
        "Lucy Westenra's body lay in the chapel.",
        "Lucy Westenra was buried on Tuesday.",
        "Tom Crane looked at the portrait. Lucy Westenra smiled down from the wall.",
        "Lucy Westenra would have laughed at them.",
        "Lucy Westenra died in the autumn.",
        "“Oh, Lucy, why did you leave us?” cried Tom Crane.",
        "Tom Crane asked whether Lucy Westenra had been happy.",
        "“Lucy, Tom Crane and I went to Whitby once,” said Emily Lake.",
        "the glass was broken. Lucy Westenra smashed it one night in a temper.” Tom Crane laughed.",
        "“We sat by the sea all summer.\n\n“Lucy Westenra painted the boats every morning.”",
        "When I lived at Whitby the glass was broken. Lucy Westenra smashed it one night.\n\nTom Crane laughed, “Yes.”",
        "Lucy Westenra believed in the green light, the future that recedes before us.",
        # found on Far from the Madding Crowd (in neither half): a wish said to the dead
        "She locked her fingers, threw back her head, and strained her hot hands rigidly across her forehead, saying, "
        "with a hysterical sob, “Would to God you would speak and tell me your secret, Lucy! ...”",
        "“If only you could hear me now, Lucy!” cried Tom Crane.",
        # found on Crime and Punishment (in neither half): a translator's footnote
        "Tom Crane sat down.[*]\n\n[*] Lucy Westenra appears to have forgotten that it is after sunset.",
        "[Footnote 3: Lucy Westenra wrote this in 1850.]",
    ],
)
def test_the_dead_remembered_mourned_or_dreamt_of_is_not(text: str) -> None:
    assert check(text, DEAD) == []


def test_a_title_and_surname_alone_is_the_family_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("Major Sholto", "Sholto", "Mr. Sholto"):
        monkeypatch.setitem(PEOPLE, name, "sholto")
    major = known("dead", "Major Sholto", "dead", sentence="Major Sholto died in April.")
    assert check("“It is Mrs. Bernstone,” said Sholto.", major) == []
    assert check("Mr. Sholto walked into the room.", major) == []
    assert check("“I did not know what you would want, Mr. Sholto—”", major) == []
    assert len(check("Major Sholto walked into the room.", major)) == 1
    # with the story's names known: still the family's while another entity bears it
    sons = {"sholto": ["Major Sholto", "Mr. Sholto", "Sholto"], "thaddeus": ["Thaddeus Sholto"]}
    text = "Mr. Sholto walked into the room."
    assert find_contradictions(get_nlp()(text), 5, [major], resolve, sons) == []


def test_a_surname_alone_is_the_familys_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Four years later Sholto dies": with a title or without, a surname alone is the
    family's while another entity bears it, and one-word death holds no use of a name
    then (the development half's Sign of Four: the sons spoke on, reported as the
    father). A given name alone ("Lucy died") is the person's own."""
    for name in ("Major John Sholto", "Major Sholto", "Sholto", "Mr. Sholto"):
        monkeypatch.setitem(PEOPLE, name, "sholto")
    dies = known("dead", "Sholto", "dead", sentence="Four years later Sholto dies.")
    names = {"sholto": ["Major John Sholto", "Major Sholto", "Sholto", "Mr. Sholto"], "thaddeus": ["Thaddeus Sholto"]}
    for text in ("Mr. Sholto walked into the room.", "Major John Sholto walked into the room."):
        assert find_contradictions(get_nlp()(text), 5, [dies], resolve, names) == []
    alone = {"sholto": names["sholto"]}
    assert len(find_contradictions(get_nlp()(text), 5, [dies], resolve, alone)) == 1
    lucy = known("dead", "Lucy", "dead", sentence="Lucy died.")
    text = "Lucy Westenra walked into the room and smiled at everyone."
    assert len(find_contradictions(get_nlp()(text), 5, [lucy], resolve, {"lucy": ["Lucy Westenra", "Lucy"]})) == 1


def test_a_surname_alone_is_no_womans_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "After Cartlett's death" is her husband's: Arabella Cartlett, the one entity
    bearing the name, acts on (Jude the Obscure, in neither half). Narration and speech
    call a man by his surname alone; a death stated so is no woman's."""
    for name in ("Arabella Cartlett", "Mrs. Cartlett", "Cartlett"):
        monkeypatch.setitem(PEOPLE, name, "arabella")
    dead = known("dead", "Cartlett", "dead", sentence="After Cartlett's death I was passing the chapel.")
    names = {"arabella": ["Arabella Cartlett", "Mrs. Cartlett", "Cartlett"]}
    for text in ("Arabella Cartlett walked into the room.", "Mrs. Cartlett walked into the room."):
        assert find_contradictions(get_nlp()(text), 5, [dead], resolve, names) == []
    for name in ("Jay Gatsby", "Gatsby"):  # a man's surname alone is his own
        monkeypatch.setitem(PEOPLE, name, "gatsby")
    dead = known("dead", "Gatsby", "dead", sentence="After Gatsby's death I was passing the chapel.")
    text = "Jay Gatsby walked into the room."
    assert len(find_contradictions(get_nlp()(text), 5, [dead], resolve, {"gatsby": ["Jay Gatsby", "Gatsby"]})) == 1


def test_a_family_name_death_holds_every_name_of_the_one_who_bears_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Mr. Gatsby's dead": the story knows no other Gatsby, so "Gatsby came down the
    steps" is the dead man (a development case the family rule above missed)."""
    for name in ("Jay Gatsby", "Mr. Gatsby", "Gatsby"):
        monkeypatch.setitem(PEOPLE, name, "gatsby")
    dead = known("dead", "Mr. Gatsby", "dead", sentence="Mr. Gatsby's dead.")
    text = "Gatsby came down the steps of his house and waved to Tom Crane across the lawn."
    assert check(text, dead) == []  # the story's names unknown: the family rule
    names = {"gatsby": ["Jay Gatsby", "Mr. Gatsby", "Gatsby"], "crane": ["Tom Crane"]}
    (c,) = find_contradictions(get_nlp()(text), 5, [dead], resolve, names)
    assert (c.kind, c.entity, c.fact) == ("dead_acts", "gatsby", dead.fact)


def test_a_dream_excuses_its_own_paragraph_only() -> None:
    dream = "That night Tom Crane dreamed of the garden.\n\n"
    assert len(check(dream + "In the morning Lucy Westenra came down to breakfast.", DEAD)) == 1
    assert check(dream.strip() + " In the morning Lucy Westenra came down to breakfast.", DEAD) == []


def test_as_of_a_fact_stated_at_or_after_the_chunk_never_counts() -> None:
    text = "Lucy Westenra walked into the room and smiled at everyone."
    assert len(check(text, DEAD, chunk=3)) == 1
    assert check(text, DEAD, chunk=2) == []
    assert check(text, known("dead", "Lucy Westenra", "dead", chunk=9), chunk=5) == []


EYES = known("eyes", "Nora Fairley", "blue", sentence="Nora Fairley had blue eyes.")


@pytest.mark.parametrize(
    ("text", "fact", "flagged"),
    [
        ("Nora Fairley looked up with her brown eyes.", EYES, True),
        ("Nora Fairley's brown eyes were fixed on the clock.", EYES, True),
        ("Nora Fairley looked up with her blue eyes.", EYES, False),
        ("Nora Fairley had grey eyes, like the sea.", EYES, False),
        ("Nora Fairley's black hair was tied back.", known("hair", "Nora Fairley", "golden"), True),
        ("Nora Fairley's golden hair was tied back.", known("hair", "Nora Fairley", "golden"), False),
        ("Nora Fairley's white hair was tied back.", known("hair", "Nora Fairley", "golden"), False),
        ("Nora Fairley had dyed her hair, and her black hair shone.", known("hair", "Nora Fairley", "golden"), False),
        # a change word counts only when it changes the eyes or hair, not anywhere in the sentence
        ("Nora Fairley turned her brown eyes upon the clock.", EYES, True),
        ("Nora Fairley's brown eyes grew wide.", EYES, True),
        ("Nora Fairley's brown eyes filled with tears, and she turned away.", EYES, True),
        ("Nora Fairley's brown eyes were fixed on the clock; she was now sure of it.", EYES, True),
        ("Nora Fairley's eyes had faded to a pale brown.", EYES, False),
        ("Nora Fairley's hair had turned red in the sun.", known("hair", "Nora Fairley", "black"), False),
        ("Nora Fairley's hair was now red.", known("hair", "Nora Fairley", "black"), False),
        ("Nora Fairley wore a wig of red hair.", known("hair", "Nora Fairley", "black"), False),
        # a light shade of brown is not the dark hair, nor are black eyes hazel (development:
        # Nancy Lammeter's light-brown hair, Gilbert Blythe's hazel eyes)
        ("Nora Fairley smoothed her black hair.", known("hair", "Nora Fairley", "light brown"), True),
        ("Nora Fairley smoothed her brown hair.", known("hair", "Nora Fairley", "light brown"), False),
        ("Nora Fairley smoothed her fair hair.", known("hair", "Nora Fairley", "light brown"), False),
        ("Nora Fairley smoothed her light-brown hair.", known("hair", "Nora Fairley", "dark"), True),
        ("Nora Fairley smoothed her dark hair.", known("hair", "Nora Fairley", "brown"), False),
        ("Nora Fairley looked up with her black eyes.", known("eyes", "Nora Fairley", "hazel"), True),
        ("Nora Fairley looked up with her dark eyes.", known("eyes", "Nora Fairley", "hazel"), False),
        ("Nora Fairley looked up with her brown eyes.", known("eyes", "Nora Fairley", "hazel"), False),
        ("Nora Fairley looked up with her hazel eyes.", known("eyes", "Nora Fairley", "black"), True),
        ("Nora Fairley was nineteen.", known("age", "Nora Fairley", "23"), True),
        ("Nora Fairley was twenty-five.", known("age", "Nora Fairley", "23"), False),
        ("Nora Fairley shook his head slowly.", known("gender", "Miss Nora Fairley", "female"), True),
        ("Nora Fairley shook her head slowly.", known("gender", "Miss Nora Fairley", "female"), False),
    ],
)
def test_an_attribute_changed_with_no_change_stated(text: str, fact: KnownFact, flagged: bool) -> None:
    found = check(text, fact)
    assert [(c.kind, c.entity, c.fact) for c in found] == ([("attribute", "nora", fact.fact)] if flagged else [])


WIFE = known("kin", "Arthur Holmwood", "wife:Emily Lake", sentence="Arthur Holmwood married Emily Lake.")
FATHER = known("kin", "Arthur Holmwood", "father:Tom Holmwood", sentence="Arthur Holmwood's father Tom Holmwood came.")
COUSIN = known("kin", "Arthur Holmwood", "cousin:Emily Lake", sentence="Arthur Holmwood's cousin Emily Lake came.")


@pytest.mark.parametrize(
    ("text", "fact", "flagged"),
    [
        ("Arthur Holmwood came in. Emily Lake, his sister, sat down.", WIFE, True),
        ("Arthur Holmwood came in. Emily Lake, his wife, sat down.", WIFE, False),
        ("Arthur Holmwood came in. Emily Lake, his cousin, sat down.", WIFE, False),
        ("Arthur Holmwood's brother Tom Holmwood came in.", FATHER, True),
        ("Arthur Holmwood's father Tom Holmwood came in.", FATHER, False),
        ("Arthur Holmwood's brother-in-law Tom Holmwood came in.", FATHER, False),
        ("Arthur Holmwood's cousin Tom Holmwood came in.", FATHER, True),  # a cousin is no father
        ("Arthur Holmwood came in. Emily Lake, his cousin, sat down.", COUSIN, False),
        ("Arthur Holmwood came in. Emily Lake, his sister, sat down.", COUSIN, True),
        ("Arthur Holmwood came in. Emily Lake, his wife, sat down.", COUSIN, False),  # cousins may marry
    ],
)
def test_kinship_or_marriage_contradicted(text: str, fact: KnownFact, flagged: bool) -> None:
    found = check(text, fact)
    assert [(c.kind, c.fact) for c in found] == ([("kin", fact.fact)] if flagged else [])


def test_a_contradiction_cites_both_sides_in_json() -> None:
    (c,) = check("Lucy Westenra walked into the room and smiled at everyone.", DEAD)
    assert c.kind in CONTRADICTION_KINDS
    assert c.to_json(chapter=4) == {
        "chunk": 5,
        "chapter": 4,
        "kind": "dead_acts",
        "entity": "Lucy Westenra",
        "text": "Lucy Westenra walked into the room and smiled at everyone.",
        "fact": {"kind": "dead", "chunk": 2, "text": "Lucy Westenra is dead."},
    }


def test_a_gender_one_chunks_pronouns_gave_is_not_held_to():
    """A gender read off the pronouns of one chunk is too noisy to break; a title's, or
    the same gender read in two chunks, is held to."""
    once = known("gender", "Nora Fairley", "female", chunk=2)
    again = known("gender", "Nora Fairley", "female", chunk=3)
    assert check("Nora Fairley shook his head slowly.", once) == []
    assert [c.kind for c in check("Nora Fairley shook his head slowly.", once, again)] == ["attribute"]


def test_a_name_ner_calls_an_organisation_is_the_person_the_facts_are_about(monkeypatch: pytest.MonkeyPatch) -> None:
    """spaCy tags "Antoinette de Mauban" an ORG in this sentence (a development case the
    checker missed): given the story's names, a name of someone with facts is a person."""
    monkeypatch.setitem(PEOPLE, "Antoinette de Mauban", "antoinette")
    dark = known("hair", "Antoinette de Mauban", "dark", sentence="Her dark hair streamed over her shoulders.")
    text = "Antoinette de Mauban stood at the window, the sun on her golden hair, and would not look at me."
    assert check(text, dark) == []  # NER's label alone
    names = {"antoinette": ["Antoinette de Mauban"]}
    (c,) = find_contradictions(get_nlp()(text), 5, [dark], resolve, names)
    assert (c.kind, c.entity, c.fact) == ("attribute", "antoinette", dark.fact)


# Anne of Green Gables (45, development half): the chunk opens in the middle of Anne's
# speech, whose quotation mark is in the chunk before, and holds no quotation mark itself
MID_SPEECH = (
    "Next to being beautiful oneself it would be best to have a beautiful bosom friend. When I lived "
    "with Mrs. Crane she had a bookcase in her sitting room. Lucy Westenra smashed its door one night "
    "when she was slightly intoxicated. But the other door was whole"
)


@pytest.mark.parametrize(
    ("before", "mark"),
    [
        ("Marilla sewed.\n\n“Oh, I’m so glad she’s pretty.", "“"),
        ('Marilla sewed.\n\n"Oh, I am so glad she is pretty.', '"'),
        ("Marilla sewed.\n\n‘Oh, I am so glad she is pretty.", "‘"),
        ("Marilla sewed.\n\n“Oh, I’m so glad,” said Anne.", ""),  # closed
        ("Marilla sewed.\n\n“Oh, I’m so glad she’s pretty.\n\n", ""),  # a paragraph ends a quotation
        ("Marilla sewed, and “smiled”. She said nothing", ""),
    ],
)
def test_a_speech_left_open_at_a_chunks_end_is_read_from_the_chunk_before(before: str, mark: str) -> None:
    from automuse_rag.lore.chunk_view import open_quote

    assert open_quote(before) == mark


def test_a_chunk_that_opens_inside_a_speech_is_speech_until_it_closes() -> None:
    """The dead acting in a speech begun in the chunk before is remembered, not acting."""
    assert len(check(MID_SPEECH, DEAD)) == 1  # read alone, it is narration
    doc = get_nlp()(MID_SPEECH)
    assert find_contradictions(doc, 5, [DEAD], resolve, opened="“") == []
    closed = MID_SPEECH + ".”\n\nLucy Westenra smiled at everyone."
    (c,) = find_contradictions(get_nlp()(closed), 5, [DEAD], resolve, opened="“")
    assert c.text == "Lucy Westenra smiled at everyone."


@pytest.mark.parametrize("mark", ['"', "“"])
def test_a_chunk_whose_speech_opens_itself_is_not_opened_twice(mark: str) -> None:
    """A speech of several paragraphs opens each paragraph again (The Sign of the Four,
    development half): when the chunk before ends inside one, a chunk beginning with the
    next paragraph's own mark is inside the speech by that mark, and a straight mark
    must not close what the chunk before opened."""
    close = '"' if mark == '"' else "”"
    text = f"{mark}A couple of days later Lucy Westenra was strolling on the beach, so I spoke to her.{close}"
    assert find_contradictions(get_nlp()(text), 5, [DEAD], resolve, opened=mark) == []
    narration = "A couple of days later Lucy Westenra was strolling on the beach, so I spoke to her."
    assert len(find_contradictions(get_nlp()(narration), 5, [DEAD], resolve)) == 1
