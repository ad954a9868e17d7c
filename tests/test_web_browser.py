"""The web page in a real headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium), against ``automuse serve`` running on 127.0.0.1.

A missing browser fails these tests with the command that installs it; they are
never skipped. Screenshots of every view go to AUTOMUSE_WEB_SCREENSHOTS (e.g.
``docs/web``) when it is set, else to a temporary directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from browser import (
    open_view,
    serve,
    set_slider,
    settled,
    wait_until,
)
from selenium.webdriver.common.by import By
from typer.testing import CliRunner

from automuse_rag.cli import app as cli_app

pytestmark = pytest.mark.slow
BUDGET = "1024"
VIEWS = ("characters", "graph", "timeline", "context", "continuity", "ask", "compare")


@pytest.fixture(scope="module")
def server(sample_home: Path):
    with serve(sample_home, "sample", "--llm", "extractive", "--budget", BUDGET) as running:
        yield running


@pytest.fixture(scope="module")
def late_character(server, browser) -> dict:
    """The character whose first chunk is latest (but after chunk 0), from the API."""
    browser.get(server.url + "/api/characters")
    cards = json.loads(browser.find_element(By.TAG_NAME, "body").text)
    people = [c for c in cards if c["kind"] == "character" and c["first_chunk"] > 0]
    return max(people, key=lambda c: (c["first_chunk"], c["name"]))


def shown_cards(driver) -> dict[str, str]:
    return {
        el.get_attribute("data-id"): el.find_element(By.TAG_NAME, "h4").text
        for el in driver.find_elements(By.CSS_SELECTOR, "#characters-list .card")
    }


_loads = iter(range(1, 1_000_000))


def load(driver, url: str, view: str, at: int) -> None:
    """A fresh page load (the query string changes, so it is never just a hash change)."""
    driver.get(f"{url}/?load={next(_loads)}#{view}@{at}")
    wait_until(lambda: settled(driver, at), what=f"{view} at chunk {at}")


def test_page_renders_the_characters(server, browser) -> None:
    load(browser, server.url, "characters", 30)
    browser.get(server.url + "/api/characters?at=30")
    expected = {c["id"]: c["name"] for c in json.loads(browser.find_element(By.TAG_NAME, "body").text)}
    load(browser, server.url, "characters", 30)
    cards = shown_cards(browser)
    assert set(cards) == set(expected) and len(cards) >= 8
    assert all(cards[i].startswith(expected[i]) for i in expected)
    assert browser.find_element(By.ID, "char-count").text.startswith(f"{len(expected)} known at chunk 30")
    browser.find_element(By.ID, "char-search").send_keys("Blackwood")
    wait_until(lambda: 0 < len(shown_cards(browser)) < len(expected), what="the search to filter the cards")
    assert all(
        "Blackwood" in el.get_attribute("textContent") for el in browser.find_elements(By.CSS_SELECTOR, "#characters-list .card")
    )


def test_moving_the_slider_before_a_first_chunk_hides_them(server, browser, late_character) -> None:
    first = late_character["first_chunk"]
    load(browser, server.url, "characters", first)
    assert late_character["id"] in shown_cards(browser)
    set_slider(browser, first - 1)
    assert late_character["id"] not in shown_cards(browser) and shown_cards(browser)
    assert browser.find_element(By.ID, "at-value").text == str(first - 1)
    open_view(browser, "graph")
    names = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#graph-svg .node text")]
    assert names and late_character["name"] not in names
    set_slider(browser, first)
    wait_until(
        lambda: late_character["name"] in [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#graph-svg .node text")],
        what="the character's node",
    )


def test_context_viewer_total_equals_prompt_json(server, browser, sample_home: Path) -> None:
    at = 12
    load(browser, server.url, "context", at)
    total = int(
        wait_until(
            lambda: (
                browser.find_element(By.ID, "prompt-total").text.isdigit() and browser.find_element(By.ID, "prompt-total").text
            ),
            what="the token total",
        )
    )
    cli = CliRunner().invoke(
        cli_app,
        [
            "--home",
            str(sample_home),
            "prompt",
            "--story",
            "sample",
            "--at",
            str(at),
            "--budget",
            BUDGET,
            "--llm",
            "extractive",
            "--json",
        ],
    )
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    assert total == expected["tokens"]
    assert browser.find_element(By.ID, "prompt-budget").text == BUDGET
    rows = browser.find_elements(By.CSS_SELECTOR, "#prompt-decisions tbody tr")
    assert len(rows) == len(expected["decisions"])
    assert {r.find_element(By.CSS_SELECTOR, ".fate").text for r in rows} == {d["fate"] for d in expected["decisions"]}
    sections = [s.get_attribute("data-section") for s in browser.find_elements(By.CSS_SELECTOR, "#prompt-sections .section")]
    assert sections == list(expected["sections"])


def test_ask_box_answers_with_clickable_citations(server, browser, late_character) -> None:
    first = late_character["first_chunk"]
    load(browser, server.url, "ask", first - 1)
    box = browser.find_element(By.ID, "ask-input")
    box.send_keys(f"Who is {late_character['name']}?")
    browser.find_element(By.ID, "ask-button").click()
    answer = wait_until(lambda: browser.find_element(By.ID, "ask-answer"), what="an answer")
    assert "has not told" in answer.text and not browser.find_elements(By.CSS_SELECTOR, "#ask-result .citation")
    set_slider(browser, first + 6)  # the same question, asked again later in the story
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#ask-answer .citation"), what="cited answer")
    citation = browser.find_element(By.CSS_SELECTOR, "#ask-answer .citation")
    chunk = int(citation.get_attribute("data-chunk"))
    assert chunk <= first + 6
    citation.click()
    heading = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#chunk-body h3").text, what="the cited chunk")
    assert heading.startswith(f"chunk {chunk} ")
    set_slider(browser, chunk - 1)  # reading back before the cited chunk hides its text again
    assert "not read yet" in browser.find_element(By.ID, "chunk-body").text
    browser.find_element(By.ID, "chunk-close").click()


def test_screenshots_of_every_view(server, browser, tmp_path: Path) -> None:
    out = Path(os.environ.get("AUTOMUSE_WEB_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    load(browser, server.url, "characters", 14)
    for view in VIEWS:
        open_view(browser, view)
        if view == "ask":
            box = browser.find_element(By.ID, "ask-input")
            box.clear()
            box.send_keys("Who is Arthur Blackwood?")
            browser.find_element(By.ID, "ask-button").click()
            wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#ask-answer .citation"), what="an answer")
        if view == "compare":
            wait_until(
                lambda: browser.execute_script(
                    "return [...document.querySelectorAll('.plots img')].every(i => i.complete && i.naturalWidth > 0)"
                    " && document.querySelectorAll('.plots img').length > 0"
                ),
                what="the compare plots",
            )
        path = out / f"{view}.png"
        assert browser.save_screenshot(str(path))
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
