"""Every shipped prompt template renders with its callers' variables, in one syntax
(string.Template ``$var``: no ``{var}`` and no ``<<VAR>>`` left)."""

from __future__ import annotations

import re
from importlib import resources
from string import Template

import pytest

from automuse_rag import templates
from automuse_rag.assemble import load_template, parse_template

# The variables each caller passes (see the callers named).
PLAIN = {
    "ask_system.txt": set(),  # ask/answer.py model_messages
    "ask_user.txt": {"notes", "question"},
    "compare_resummarize.txt": {"words", "summary"},  # compare/rolling.py llm_resummarizer
    "continuity_confirm.txt": {"fact", "where", "sentence", "who"},  # generate/continuity.py confirm
    "ingest_analyze_system.txt": set(),  # memory/ingest.py analysis_messages
    "ingest_analyze_user.txt": {"chapter", "text", "hints"},
    "ingest_merge.txt": {"what", "summaries", "sentences"},  # memory/outline.py model_summarizer
    "merge_review.txt": {"a", "b", "a_names", "b_names", "a_desc", "b_desc"},  # memory/review.py question
    "plan_repair.txt": {"error", "chapters"},  # generate/plan.py
    "plan_system.txt": set(),
    "plan_user.txt": {"premise", "style_line", "chapters"},
    "repair_json.txt": {"error", "previous", "schema"},  # models/structured.py repair_messages
    "write_chapter_done.txt": {"chapter", "plan", "written"},  # generate/loop.py
    "write_cue_first.txt": {"chapter", "words"},
    "write_cue_next.txt": {"chapter", "words"},
    "write_pin.txt": {"facts"},  # generate/continuity.py
}
# Section templates (assemble/templates.py); write_prompt.txt's fixed sections are filled by generate.
SECTIONED = {
    "prompt_default.txt": set(),
    "prompt_chat.txt": set(),
    "write_prompt.txt": {"style", "cast", "chapter", "chapter_plan", "cue"},
}


def _files() -> list[str]:
    return sorted(p.name for p in resources.files("automuse_rag.templates").iterdir() if p.name.endswith(".txt"))


def test_every_template_file_is_covered() -> None:
    assert _files() == sorted([*PLAIN, *SECTIONED])


@pytest.mark.parametrize("name", _files())
def test_one_syntax(name: str) -> None:
    text = templates.text(name)
    assert "<<" not in text and ">>" not in text
    assert not re.search(r"(?<!\$)\{\w+\}", text), "str.format placeholder left"
    assert Template(text).is_valid()


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain_template_renders_with_its_callers_variables(name: str) -> None:
    variables = PLAIN[name]
    assert set(Template(templates.text(name)).get_identifiers()) == variables
    rendered = templates.render(name, **{v: f"<{v.upper()}>" for v in variables})
    for v in variables:
        assert f"<{v.upper()}>" in rendered
    assert "$" not in rendered
    if variables:
        with pytest.raises(KeyError):
            templates.render(name)


@pytest.mark.parametrize("name", sorted(SECTIONED))
def test_section_template_renders(name: str) -> None:
    values = {v: f"<{v.upper()}>" for v in SECTIONED[name]}
    template = parse_template(templates.text(name), name, values)
    contents = {s.name: f"[{s.name}]" for s in template.content_sections()}
    text, sections = template.render(contents)
    assert "$" not in text
    for v in values.values():
        assert v in text
    for s in template.content_sections():
        head, foot = s.frame()
        assert sections[s.name] == head + f"[{s.name}]" + foot


def test_write_prompt_needs_its_values() -> None:
    from automuse_rag.errors import InputError

    with pytest.raises(InputError, match="placeholder"):
        parse_template(templates.text("write_prompt.txt"), "write_prompt.txt", {"style": ""})


def test_package_templates_by_name() -> None:
    assert load_template().name == "default"
    assert load_template("chat").section("last_chunk").role == "user"


def test_legacy_content_placeholder_still_reads() -> None:
    t = parse_template("[[section last_chunk]]\nCost $5: {content}\n[[section cue]]\n$1 more", "t")
    text, _ = t.render({"last_chunk": "x"})
    assert text == "Cost $5: x\n\n$1 more"


def _render_calls() -> dict[str, list[set[str]]]:
    """Every ``templates.render("NAME", k=...)`` in the package: NAME -> the keyword sets passed."""
    import ast
    from pathlib import Path

    import automuse_rag

    calls: dict[str, list[set[str]]] = {}
    for path in Path(automuse_rag.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "render"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "templates"
            ):
                first = node.args[0]
                names = (
                    [first.value]
                    if isinstance(first, ast.Constant)
                    else [n.value for n in ast.walk(first) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
                )
                for name in names:  # a conditional name ("a.txt" if x else "b.txt") counts for both
                    calls.setdefault(name, []).append({k.arg for k in node.keywords})
    return calls


def test_callers_pass_exactly_each_templates_variables() -> None:
    calls = _render_calls()
    assert set(calls) <= set(PLAIN)
    for name, passed in calls.items():
        for keywords in passed:
            assert keywords == PLAIN[name], (name, keywords)
    assert set(PLAIN) - set(calls) == {"plan_system.txt"}  # read whole with templates.text
