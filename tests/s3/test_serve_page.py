"""The ``s3 serve`` page in headless Chromium (Debian's ``chromium``, driven by playwright) against a
tiny warm-started searcher: a question typed into the page renders the searcher's turns, selections,
stop reason, the generator's context and answer exactly as ``POST /search`` reports them; the
evaluation-run view lists, filters and compares methods on a question. The server has a bearer
token; the page asks for it once and sends it.

Screenshots go to the test's folder, and also to ``$S3_SCREENSHOT_DIR`` when set (the PNGs in
``docs/`` are made with ``S3_SCREENSHOT_DIR=docs python -m pytest tests/s3/test_serve_page.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serve_fixtures import ServeProcess, warm_started_searcher

pytestmark = pytest.mark.slow
TOKEN = "page-token"


def _chromium() -> str:
    for name in (os.environ.get("S3_CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.skip("no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("playwright", reason="pip install playwright (the dev extra)")
    chromium = _chromium()
    root = tmp_path_factory.mktemp("serve_page")
    run = warm_started_searcher(root)
    evaluation = root / "eval"
    methods = f"naive-rag,oracle,s3 warm start=s3:{run['searcher']}"
    cmd = [sys.executable, "-m", "s3", "evaluate", "--task-dir", run["task"], "--index", run["index"],
           "--methods", methods, "--limit", "12", "--output", str(evaluation), "progress=false"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    server = ServeProcess(
        ["--model", run["searcher"], "--index", run["index"], "--device", "cpu", "--run", str(evaluation)],
        root / "serve.log",
        token=TOKEN,
    )
    yield {"server": server, "run": run, "eval": evaluation, "chromium": chromium}
    server.stop()


@pytest.fixture(scope="module")
def browser(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=served["chromium"], headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _new_page(browser, server, path: str, width: int):
    """A page on ``path``; the server has a token, which the page asks for once (answered here)."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    prompts: list[str] = []

    def answer(dialog) -> None:
        prompts.append(dialog.message)
        dialog.accept(TOKEN)

    page.on("dialog", answer)
    page.goto(server.url + path)
    page.wait_for_selector("#server-info:not(:empty)")
    assert len(prompts) == 1 and "bearer token" in prompts[0]
    return page


def _keep(page, name: str, tmp_path: Path) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    target = os.environ.get("S3_SCREENSHOT_DIR")
    if target:
        shutil.copy(tmp_path / name, Path(target) / name)
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_renders_each_turn_of_a_search(served, browser, tmp_path):
    server = served["server"]
    question = json.loads(Path(served["run"]["train"]).open().readline())["question"]
    page = _new_page(browser, server, "/", 1200)
    page.fill("#question", question)
    page.click("#submit")
    page.wait_for_selector("#answer", timeout=60_000)

    expected = server.post("/search", {"question": question, "answer": True}).json()["results"][0]
    blocks = expected["trace"]["episode"]["blocks"]
    turns = expected["trace"]["turns"]
    assert expected["queries"], "the warm-started searcher should search at least once"
    cards = page.locator(".turn")
    assert cards.count() == len(turns) + 1  # the initial retrieval, then one card per turn
    # each turn: what the searcher wrote, the query it issued and the documents that came back
    assert page.locator(".turn .query").all_inner_texts() == expected["queries"]
    for i, turn in enumerate(turns, start=1):
        card = page.locator(f'.turn[data-turn="{i}"]')
        assert card.locator("pre.raw").inner_text() == turn["text"]
        assert card.locator(".badge").first.inner_text() == turn["action"]["kind"]
        if turn["action"]["kind"] == "search":
            shown = card.locator("li.doc").evaluate_all("items => items.map(li => li.dataset.id)")
            assert shown == [d["id"] for d in blocks[i]["docs"]]
    # the selections are marked where they were made
    selected = page.locator(".turn li.doc.selected").evaluate_all("items => items.map(li => li.dataset.id)")
    expected_selected = [b["docs"][j - 1]["id"] for b in blocks for j in (b["selected"] or [])]
    assert selected == expected_selected and selected
    assert page.inner_text("#finish-reason") == f"stopped: {expected['finish_reason']}"
    context = page.locator("#generator-context li.doc").evaluate_all(
        "items => items.map(li => li.dataset.id)"
    )
    assert context == [d["id"] for d in expected["documents"]]
    assert page.inner_text("#answer") == (expected["generator"]["answer"] or "(empty)")
    _keep(page, "serve-search.png", tmp_path)

    page.fill("#question", "   ")
    page.evaluate("document.querySelector('#search-form').requestSubmit()")
    assert page.locator(".turn").count() == len(turns) + 1  # a blank question is not sent


def test_page_browses_an_evaluation_run(served, browser, tmp_path):
    server = served["server"]
    evaluation = served["eval"]
    results = json.loads((evaluation / "results.json").read_text())
    answers = [
        json.loads(line) for line in (evaluation / "s3_warm_start" / "embedded" / "answers.jsonl").open()
    ]
    wrong = [a for a in answers if a["genacc"] < 1]
    page = _new_page(browser, server, "/?view=run", 1400)
    page.wait_for_selector("table.results")
    assert page.locator("table.results tr").count() == len(results) + 1
    page.select_option("#run-method", "s3 warm start")
    page.select_option("#run-filter", "wrong")
    items = page.locator("#run-questions li")
    assert items.count() == len(wrong)
    assert items.evaluate_all("items => items.map(li => li.dataset.id)") == [a["id"] for a in wrong]
    page.select_option("#run-filter", "right")
    assert items.count() == len(answers) - len(wrong)

    page.select_option("#run-filter", "all")
    items.first.click()
    page.wait_for_selector(".compare .method")
    cards = page.locator(".compare .method")
    assert cards.evaluate_all("cards => cards.map(c => c.dataset.method)") == [r["method"] for r in results]
    first = answers[0]
    card = page.locator('.compare .method[data-method="s3 warm start"]')
    assert card.locator(".prediction").inner_text() == (first["prediction"] or "(empty)")
    assert card.locator(".badge").first.inner_text() == ("right" if first["genacc"] >= 1 else "wrong")
    assert page.locator("#run-detail h2").inner_text() == first["question"]
    _keep(page, "serve-evaluation-run.png", tmp_path)
