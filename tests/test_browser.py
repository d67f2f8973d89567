"""The dashboard in a real browser: Playwright driving Debian's Chromium against `streamlit run app.py`.

Chromium is the system one (/usr/bin/chromium; never `playwright install`). Without it these tests are
skipped, unless REQUIRE_BROWSER=1 (as in CI), where they fail. A failing test leaves a screenshot in
test-artifacts/.
"""
from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

if os.environ.get("REQUIRE_BROWSER") != "1":
    pytest.importorskip("playwright")
from playwright.sync_api import Page, expect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The first page load scores the sample with the sentence model: loading it is slow on a busy machine.
FIRST_LOAD_MS = 240_000
RERUN_MS = 90_000

REF = ("The river rose quickly in the night. Residents left their homes before dawn. "
       "The mayor thanked the volunteers.\n")
CAND = ("The river rose fast during the night. Residents left their houses before the dawn. "
        "The mayor thanked the volunteers. A new bridge will be built next year.\n")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=1 (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(browser_type_launch_args):
    """A dashboard server on 127.0.0.1 for the whole session; terminated by its pid afterwards."""
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit-server.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}; see {ARTIFACTS / 'streamlit-server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("streamlit did not become healthy in 90 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request, page: Page):
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]", "_", request.node.name)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _settle(page: Page, timeout: float = RERUN_MS) -> None:
    """Wait until the script run that the last action started has finished."""
    page.wait_for_timeout(400)
    page.wait_for_selector("[data-testid=stStatusWidget]", state="detached", timeout=timeout)


def _open(page: Page, url: str) -> None:
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.goto(url)
    expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=FIRST_LOAD_MS)
    _settle(page, FIRST_LOAD_MS)


def _metric(page: Page, label: str) -> str:
    box = page.get_by_test_id("stMetric").filter(has_text=label).first
    return box.get_by_test_id("stMetricValue").inner_text().strip()


def _tab(page: Page, name: str):
    page.get_by_role("tab", name=name).click()
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    return panel


def test_opens_with_the_sample_scored(page: Page, server_url: str):
    _open(page, server_url)
    expect(page.get_by_text("This is the bundled sample")).to_be_visible()
    for label in ("Corpus BLEU", "Corpus chrF", "Mean cosine"):
        assert re.fullmatch(r"\d+\.\d+", _metric(page, label)), label
    assert int(_metric(page, "Aligned pairs")) > 10
    # the worst pairs are on the first screen, with the awkward words marked
    worst = page.get_by_text("Worst aligned pairs")
    expect(worst).to_be_in_viewport()
    # marks (p >= 0.5) or changes: an engine without error probabilities gives only changes
    spans = page.locator("table .mark, table .change")
    assert spans.count() > 5
    expect(spans.first).to_be_in_viewport()
    assert re.match(r"(mark|change) · \w+ · ", spans.first.get_attribute("title"))
    assert not page.get_by_test_id("stException").count()


def test_the_navigation_names_its_pages(page: Page, server_url: str):
    _open(page, server_url)
    nav = page.get_by_test_id("stSidebarNav")
    for title in ("Compare two renderings", "Several systems", "Saved runs"):
        expect(nav.get_by_text(title, exact=True)).to_be_visible()
    assert not nav.get_by_text("app", exact=True).count()


def test_show_changes_hides_the_faint_spans_and_keeps_the_marks(page: Page, server_url: str):
    _open(page, server_url)
    panel = _tab(page, "Side by side")
    changes, marks = panel.locator("table .change"), panel.locator("table .mark")
    n_marks = marks.count()
    assert changes.count() > 0
    expect(page.get_by_text("Marks", exact=True).first).to_be_visible()
    page.get_by_test_id("stSidebar").get_by_text("Show changes").click()
    _settle(page)
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    expect(panel.locator("table .change")).to_have_count(0)
    assert panel.locator("table .mark").count() == n_marks
    expect(panel.get_by_text("changes hidden").first).to_be_visible()
    page.get_by_test_id("stSidebar").get_by_text("Show changes").click()
    _settle(page)


def test_upload_two_files_then_table_csv_and_close_up(page: Page, server_url: str, tmp_path: Path):
    from comparator.render import report

    _open(page, server_url)
    ref, cand = tmp_path / "ref.txt", tmp_path / "cand.txt"
    ref.write_text(REF, "utf-8")
    cand.write_text(CAND, "utf-8")
    inputs = page.get_by_test_id("stFileUploaderDropzoneInput")
    inputs.nth(0).set_input_files(str(ref))
    expect(page.get_by_text("Add the rendering (B) too")).to_be_visible(timeout=RERUN_MS)
    _settle(page)
    inputs.nth(1).set_input_files(str(cand))
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="cand.txt").first
    expect(caption).to_be_visible(timeout=RERUN_MS)
    _settle(page)
    expect(page.get_by_text("This is the bundled sample")).to_have_count(0)

    # side by side: one row per pair, every sentence of both files shown
    panel = _tab(page, "Side by side")
    rows = panel.locator("table tbody tr")
    n_rows = rows.count()
    assert 3 <= n_rows <= 6
    side_text = panel.locator("table").first.inner_text()
    for sentence in ("Residents left their houses before the dawn.", "A new bridge will be built next year.",
                     "The river rose quickly in the night."):
        assert sentence in side_text
    expect(rows.filter(has_text="A new bridge").locator("td").nth(1)).to_contain_text("not in A")

    # the table tab shows the same number of rows; ticking a row opens that pair up close
    panel = _tab(page, "Table")
    grid = panel.get_by_test_id("stDataFrame")
    expect(grid).to_be_visible()
    expect(panel.get_by_text(f"The {n_rows} pairs that pass the filters")).to_be_visible()
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 17, box["y"] + 35 + 35 * 1 + 17)  # the tick box of row 1 (under the header)
    _settle(page)
    expect(page.get_by_role("tab", name="Pair up close")).to_have_attribute("aria-selected", "true")
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    expect(panel.get_by_role("combobox", name=re.compile("^Pair"))).to_have_value(re.compile(r"^#1 "))

    # the CSV download holds the same pairs, with scores
    panel = _tab(page, "Export")
    with page.expect_download(timeout=RERUN_MS) as info:
        panel.get_by_role("button", name="CSV").click()
    download = info.value
    assert download.suggested_filename == "cand-pairs.csv"
    data = Path(download.path()).read_text("utf-8")
    table = list(csv.DictReader(io.StringIO(data)))
    assert list(table[0]) == report.COLUMNS
    assert len(table) == n_rows
    assert [r["pair"] for r in table] == [str(i) for i in range(n_rows)]
    by_b = {r["b_text"]: r for r in table}
    added = by_b["A new bridge will be built next year."]
    assert added["a_text"] == "" and added["cosine"] == "" and float(added["flag"]) > 0
    scored = [r for r in table if r["a_text"] and r["b_text"]]
    assert scored and all(0.0 <= float(r["chrf"]) <= 100.0 for r in scored)
    assert "Residents left their houses before the dawn." in by_b
    _settle(page)

    # one pair up close: its scores, the word-level differences, its neighbours
    panel = _tab(page, "Pair up close")
    target = next(i for i, r in enumerate(table) if r["b_text"].startswith("Residents"))
    panel.get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=re.compile(rf"^#{target} ")).click()
    _settle(page)
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    expect(panel.get_by_test_id("stMetric").filter(has_text="chrF").first).to_contain_text(
        f"{float(table[target]['chrf']):.1f}")
    expect(panel.locator("ins").filter(has_text="houses")).to_be_visible()
    expect(panel.locator("del").filter(has_text="homes")).to_be_visible()
    expect(panel.get_by_text("Neighbours")).to_be_visible()
    panel.get_by_role("button", name="next →").click()
    _settle(page)
    panel = page.get_by_role("tabpanel").filter(visible=True).first
    expect(panel.get_by_role("combobox", name=re.compile("^Pair"))).to_have_value(re.compile(rf"^#{target + 1} "))
