"""Co-reference inside a scene for the offline relation reader (lore/coref.py,
lore/parse.py, lore/relations.py): who "my" is in dialogue, kin named through a
pronoun or a title, and ties stated of two joined subjects. Synthetic passages."""

from __future__ import annotations

import pytest

from automuse_rag.lore.coref import quote_mask
from automuse_rag.lore.family import FAMILY_VIA
from automuse_rag.lore.ner import get_nlp, ner_mentions
from automuse_rag.lore.parse import chunk_facts
from automuse_rag.lore.types import ChunkAnalysis
from automuse_rag.memory.oracle import NaiveLore


def _relations(text: str) -> set[tuple[str, str, str]]:
    """The relations the chunk states (not the family candidates the story decides among)."""
    doc = get_nlp()(text)
    return {
        (r["source"], r["label"], r["target"]) for r in chunk_facts(doc, ner_mentions(doc)).relations if r["via"] != FAMILY_VIA
    }


def _read(text: str) -> set[tuple[str, str, str]]:
    """The relations a story of this one chunk reads, family candidates decided (lore/family.py)."""
    doc = get_nlp()(text)
    mentions = ner_mentions(doc)
    facts = chunk_facts(doc, mentions)
    lore = NaiveLore([(0, ChunkAnalysis("", mentions, facts.relations, facts.distinct))], "fold")
    names = {e.id: e.name for e in lore.entities(0)}
    return {(names[r.source], r.label, names[r.target]) for r in lore.relations(0)}


@pytest.mark.parametrize(
    "text, relation",
    [
        # the speaker is attributed in the paragraph's first sentence, "my" is in its second
        (
            'Walter Pell came into the room and sat by the fire.\n\n"I can tell you everything," said Walter. '
            '"My father was Colonel Arthur Pell."',
            ("Colonel Arthur Pell", "father of", "Walter"),
        ),
        # "he said": the nearest man named outside the quotes, not the name inside them
        (
            'Oliver Grey stood up. "This is my cousin, Edith Marsh," he said.',
            ("Edith Marsh", "cousin of", "Oliver Grey"),
        ),
        # a sentence in the middle of a speech opens no quotation mark of its own
        (
            'Walter Pell came in.\n\n"Sit down," said Walter. "It is late. I know it. '
            'Colonel Arthur Pell is my father, and he will come."',
            ("Colonel Arthur Pell", "father of", "Walter"),
        ),
    ],
)
def test_my_in_dialogue_is_the_paragraphs_one_speaker(text, relation):
    assert relation in _relations(text)


def test_a_paragraph_with_two_speakers_gives_my_to_nobody():
    text = (
        'Walter Pell and Oliver Grey came in.\n\n"Good evening," said Walter, and "Good night," said Oliver. '
        '"Colonel Arthur Pell is my father."'
    )
    assert not any(r[0] == "Colonel Arthur Pell" for r in _relations(text))


def test_my_in_narration_is_not_a_speakers():
    text = 'Oliver Grey stood up. "Good evening," he said. My cousin, Edith Marsh, came in after him.'
    assert not any(r[0] == "Edith Marsh" and r[2] == "Oliver Grey" for r in _relations(text))


def test_a_kin_noun_as_subject_with_the_name_after_the_verb():
    text = "Walter Pell sat down by the fire. His father was Colonel Arthur Pell, once of the navy."
    assert ("Colonel Arthur Pell", "father of", "Walter Pell") in _relations(text)


def test_a_name_titled_as_kin_with_a_possessor():
    text = "Aunt Harriet came to tea on Sunday. Margaret Lane wrote a long letter to her Aunt Harriet about the garden."
    assert ("Aunt Harriet", "aunt of", "Margaret Lane") in _relations(text)
    # the title alone names no one's aunt
    text = "Aunt Harriet came to tea on Sunday. Margaret Lane smiled at Aunt Harriet across the garden."
    assert not any(r[1] == "aunt of" for r in _relations(text))


@pytest.mark.parametrize(
    "text, relation",
    [
        ("Harold Finch and Lucinda Grey were married in the spring, and the bells rang.", "married"),
        ("Harold Finch and Lucinda Grey were engaged.", "engaged to"),
    ],
)
def test_two_joined_subjects_of_married_or_engaged(text, relation):
    assert ("Harold Finch", relation, "Lucinda Grey") in _relations(text)


@pytest.mark.parametrize(
    "text",
    [
        "Harold Finch and Lucinda Grey were not married.",
        "Harold Finch and Lucinda Grey were engaged in talk.",
        "Harold Finch and Lucinda Grey were married to other people.",
    ],
)
def test_no_tie_from_a_negated_or_other_sense(text):
    assert not any(r[1] in ("married", "engaged to") for r in _relations(text))


@pytest.mark.parametrize(
    "text, relation",
    [
        # a kin noun with its possessor holds whatever the clause's mood: "I'll telephone
        # my sister" says she is his sister, whether or not he telephones
        (
            'Catherine Pell came in. Walter Pell stood up. "I\'ll telephone my sister Catherine," said Walter Pell.',
            ("Catherine Pell", "sister of", "Walter Pell"),
        ),
        (
            "Oliver Pell came in. Walter Pell would never forgive his brother Oliver Pell for the debt.",
            ("Oliver Pell", "brother of", "Walter Pell"),
        ),
        ('"Did you see my cousin Catherine at church?" said Walter Pell.', ("Catherine", "cousin of", "Walter Pell")),
        # a twin brother is a brother
        (
            'Bartholomew Sholto was ill. Thaddeus Sholto sighed. "My twin-brother Bartholomew and I were the only children."',
            ("Bartholomew Sholto", "brother of", "Thaddeus Sholto"),
        ),
    ],
)
def test_a_kin_noun_with_its_possessor_holds_in_any_clause(text, relation):
    assert relation in _relations(text)


@pytest.mark.parametrize(
    "text",
    [
        "Edith Marsh came in. Walter Pell stood up. Edith Marsh was not the sister of Walter Pell.",
        "Edith Marsh came in. Walter Pell stood up. Edith Marsh might be the sister of Walter Pell.",
        "Edith Marsh came in. Walter Pell stood up. Was Edith Marsh the sister of Walter Pell?",
        # a brother-in-law is no brother
        'Bartholomew Sholto was ill. Thaddeus Sholto sighed. "My brother-in-law Bartholomew was not there."',
    ],
)
def test_a_kin_tie_stated_by_a_copula_keeps_its_clauses_mood(text):
    assert not any(r[1] in ("sister of", "brother of") for r in _relations(text))


def test_a_kin_noun_joined_to_a_predicate_and_a_given_names_sex():
    # "brother" is joined to the copula's predicate; "he" is no Catherine, whose given
    # name is a woman's, though she is the nearest name and the chunk has no pronoun of hers
    text = (
        "Edith Pell came in with Walter Grey and Oliver Pell. His manners did not please Catherine Grey; "
        "but he was Walter Grey's friend and Edith Pell's brother."
    )
    rels = _relations(text)
    assert ("Oliver Pell", "brother of", "Edith Pell") in rels
    assert not any(r[0] == "Catherine Grey" and r[1] == "brother of" for r in rels)


def test_a_kin_noun_owned_by_whose_is_the_kin_of_the_name_the_clause_hangs_on():
    text = "Charlotte Lucas came to tea. Mr. Collins, whose sister Charlotte kept his house at Hunsford, was never tired of it."
    assert ("Charlotte Lucas", "sister of", "Mr. Collins") in _relations(text)


@pytest.mark.parametrize(
    "text, relation",
    [
        # "your" in a speech is the addressee's, named as a vocative at its head or its end
        (
            'Oliver Pell came in. Walter Pell stood up. "Walter, I saw your brother Oliver at the inn."',
            ("Oliver Pell", "brother of", "Walter"),
        ),
        (
            'Oliver Pell came in. "I saw your brother Oliver at the inn, Walter Pell!" said Edith Marsh.',
            ("Oliver Pell", "brother of", "Walter Pell"),
        ),
        (
            'Mary Lennox sat down. Martha Sowerby came in with Dickon Sowerby. "Is your brother Dickon well, Martha?" '
            "said Mary Lennox.",
            ("Dickon Sowerby", "brother of", "Martha"),
        ),
    ],
)
def test_your_kin_is_the_addressees(text, relation):
    assert relation in _relations(text)


def test_a_list_of_names_is_no_addressee():
    text = 'Oliver Pell came in. Walter Pell stood up. "Walter, Oliver and I saw your brother at the inn."'
    assert not any(r[1] == "brother of" for r in _relations(text))


def test_quote_mask_spans_the_chunk_and_ends_at_a_paragraph():
    text = "“One. Two.\n\nThree. Four."
    mask = quote_mask(text)
    assert len(mask) == len(text)
    assert mask[text.index("Two")] and not mask[text.index("Three")]
    single = "‘It is late, Tom’s dog barks. Go.’ He went."
    mask = quote_mask(single)
    assert mask[single.index("Go")] and not mask[single.index("He")]


def test_straight_single_quotes_are_speech_when_a_paragraph_opens_with_one():
    from automuse_rag.lore.chunk_view import quote_mask as chunk_mask

    text = "Kim sat down.\n\n'She died, they tell me, when I was young.'\n\nKim's dog ran. The boys' books fell."
    for mask in (quote_mask(text), chunk_mask(text)):
        assert len(mask) == len(text)
        assert mask[text.index("She")] and mask[text.index("young")]
        assert not mask[text.index("dog")] and not mask[text.index("books")] and not mask[text.index("sat")]
    # apostrophes alone are no speech
    plain = "Kim's dog ran to the boys' tents. 'Tis late, he thought."
    assert not any(quote_mask(plain)[: plain.index("late")])


def test_a_speaker_naming_herself_is_the_paragraphs_speaker():
    text = 'Rosalind Hale looked at the boy.\n\n"I am Rosalind Hale. Mr. Ambrose Hale is my uncle."'
    assert ("Mr. Ambrose Hale", "uncle of", "Rosalind Hale") in _relations(text)


def test_a_lower_case_kin_word_before_a_name_takes_the_names_possessor():
    text = "Harriet Lane came to tea. Margaret Lane wrote a long letter to her aunt Harriet about the garden."
    assert ("Harriet Lane", "aunt of", "Margaret Lane") in _relations(text)


@pytest.mark.parametrize(
    "text, relation",
    [
        # "her mother": the one woman of the scene with the owner's surname
        (
            "Archer found Mrs. Welland in the drawing-room. Miss Welland was announcing her engagement, while her mother smiled.",
            ("Mrs. Welland", "mother of", "Miss Welland"),
        ),
        (
            "General Tilney walked to the window. Eleanor Tilney rose; she had waited for her father all morning.",
            ("General Tilney", "father of", "Eleanor Tilney"),
        ),
    ],
)
def test_an_unnamed_kin_noun_refers_to_the_one_family_member_of_its_sex_in_the_scene(text, relation):
    assert relation in _relations(text)


@pytest.mark.parametrize(
    "text",
    [
        # two men of the family in the scene: whose father is not said
        "Henry Tilney came in with General Tilney. Eleanor Tilney rose; she had waited for her father all morning.",
        # another surname: not her family
        "General Rowe walked to the window. Eleanor Tilney rose; she had waited for her father all morning.",
        # "Miss Tilney" may be Eleanor herself, never her mother
        "Miss Tilney walked to the window. Eleanor Tilney rose; she had waited for her mother all morning.",
    ],
)
def test_no_referent_when_the_scene_does_not_single_one_out(text):
    assert not any(r[1] in ("father of", "mother of") for r in _relations(text))
    assert not any(r[1] in ("father of", "mother of") for r in _read(text)), "nor when the story decides"


@pytest.mark.parametrize(
    "text",
    [
        # one of a family, not a person
        "Medora Hale came in. Her mother had been a Pellham, and nobody forgot it.",
        # not (yet) a wife
        "Gilbert Osborne rode past. Nobody knew who Gilbert's future wife would be. Mrs. Osborne smiled at the window.",
        # a great-grandmother is not a grandmother
        "Harold Finch looked at him and saw a gleam of his great-grandmother Finch's pride.",
    ],
)
def test_no_kin_from_a_family_name_or_a_kin_word_that_is_not_plain(text):
    assert not any(r[1] in ("mother of", "wife of", "grandmother of") for r in _relations(text))


def test_a_speaker_pronoun_is_not_the_name_in_her_own_quotes():
    text = (
        "Holmes lit his pipe and waited. Mary Ross came in.\n\n"
        '"I have come to you, Mr. Holmes," she said, "because my employer, Mrs. Cecil Forrester, sent me."'
    )
    rels = _relations(text)
    assert not any(r[2] in ("Holmes", "Mr. Holmes") for r in rels)


def test_only_my_resolves_in_a_speech_opened_for_the_speakers_kin():
    text = (
        'Robert Vane waited by the door.\n\n"Then he and his friend Colonel Ashby rode to my cottage, and my brother '
        'saw them," said the old man.'
    )
    assert not any(r[0] == "Colonel Ashby" for r in _relations(text))


def test_a_spouse_is_a_married_couples_other_half_and_no_other_title_alone():
    text = "Mr. van der Hoek sat by the fire. Mrs. van der Hoek came in, and he looked up at his wife."
    assert ("Mrs. van der Hoek", "wife of", "Mr. van der Hoek") in _relations(text)
    # "Mrs. Osborne" may be Gilbert's mother: not his wife
    text = "Gilbert Osborne sat by the fire. Mrs. Osborne came in, and he looked up at his wife."
    assert not any(r[1] == "wife of" for r in _relations(text))


def test_a_knight_or_a_lord_and_the_lady_of_his_name_are_a_couple():
    """ "Sir Walter Vane" / "Lady Vane", "Lord Ashby" / "Lady Ashby": a baronet's, a
    knight's or a peer's wife takes "Lady" with his surname or title, as a "Mrs." takes
    "Mr."; "Lady Catherine" (her own given name) is no one's wife by it."""
    text = "Sir Walter Vane sat by the fire. Lady Vane came in and sat beside Sir Walter Vane."
    assert ("Lady Vane", "wife of", "Sir Walter Vane") in _relations(text)
    text = "Lord Ashby rode home early. Lady Ashby met Lord Ashby at the door."
    assert ("Lady Ashby", "wife of", "Lord Ashby") in _relations(text)
    text = "Sir Walter Vane sat by the fire. Lady Catherine came in and sat beside Sir Walter Vane."
    assert not any(r[1] == "wife of" for r in _relations(text))


def test_a_pair_found_by_co_reference_alone_is_no_different_people_evidence():
    text = "Archer found Mrs. Welland in the drawing-room. Miss Welland was announcing her engagement, while her mother smiled."
    doc = get_nlp()(text)
    facts = chunk_facts(doc, ner_mentions(doc))
    assert any(r["label"] == "mother of" for r in facts.relations)
    assert ("Miss Welland", "Mrs. Welland") not in facts.distinct
