"""The Continuity view and the facts on cards in a real headless Chromium (as
tests/test_web_browser.py drives it), over the story whose dead man speaks
(tests/dead_book.py)."""

from __future__ import annotations

import pytest
from browser import open_view, serve, set_slider, settled, wait_until
from dead_book import DEATH, SPEAKS, ingest_dead_book
from selenium.webdriver.common.by import By

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("dead-web")
    ingest_dead_book(home)
    with serve(home, "dead", "--llm", "extractive", "--budget", "900") as running:
        yield running


def _rows(driver) -> list[list[str]]:
    return [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in driver.find_elements(By.CSS_SELECTOR, "#continuity-table tbody tr")
    ]


def test_the_continuity_view_links_both_citations_to_their_chunks(server, browser) -> None:
    browser.get(f"{server.url}/#continuity@3")
    wait_until(lambda: settled(browser, 3) and _rows(browser), what="the contradictions at chunk 3")
    rows = _rows(browser)
    assert len(rows) == 1 and rows[0][1:4] == ["dead_acts", "Henry Clerval", SPEAKS]
    assert rows[0][0] == "chunk 3, ch. 2" and rows[0][4] == "chunk 1, ch. 1" and DEATH in rows[0][5]
    browser.find_element(By.CSS_SELECTOR, "#continuity-table tbody tr td:nth-child(5) button.ref").click()
    heading = wait_until(lambda: browser.find_element(By.CSS_SELECTOR, "#chunk-body h3").text, what="the fact's chunk")
    assert heading.startswith("chunk 1 ") and f"cited: {DEATH}" in browser.find_element(By.ID, "chunk-body").text
    browser.find_element(By.ID, "chunk-close").click()
    set_slider(browser, 2)  # before the dead man speaks
    assert _rows(browser) == [] and browser.find_element(By.ID, "continuity-count").text.startswith("0 contradictions")


def test_a_card_shows_the_fact_with_the_chunk_where_it_became_true(server, browser) -> None:
    browser.get(f"{server.url}/?again=1#characters@3")
    wait_until(lambda: settled(browser, 3), what="the characters at chunk 3")
    open_view(browser, "characters")
    card = wait_until(
        lambda: next(
            el
            for el in browser.find_elements(By.CSS_SELECTOR, "#characters-list .card")
            if el.find_element(By.TAG_NAME, "h4").text.startswith("Henry Clerval")
        ),
        what="Henry Clerval's card",
    )
    assert "died since chunk 1" in card.find_element(By.CSS_SELECTOR, "ul.facts").text.splitlines()
    set_slider(browser, 0)
    assert "died" not in " ".join(el.text for el in browser.find_elements(By.CSS_SELECTOR, "#characters-list ul.facts"))
