"""The dashboard's Several systems and Saved runs pages, and saving from the main page, through AppTest.
The hash model keeps them fast; the history lives under tmp_path."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from comparator import compare
from comparator.dashboard import history as dashboard_history, systems as dashboard_systems
from comparator.analysis import history as hist
from comparator.core.documents import decode
from comparator.analysis.systems import SystemsComparison, compare_systems

from apphelpers import APP, ROOT  # noqa: E402
SYSTEMS = "pages/1_Several_systems.py"
SAVED = "pages/2_Saved_runs.py"
EX = ROOT / "examples"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_COMPARATOR_HISTORY", str(tmp_path / "history.sqlite"))
    st.cache_data.clear()
    yield


def _run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "hash"
    at.session_state["sys_model"] = "hash"
    at.switch_page(page)
    return at


def _sample_systems(n_samples=1000) -> SystemsComparison:
    ref = decode((EX / "reference.txt").read_bytes(), "examples/reference.txt")
    docs = [decode((EX / f).read_bytes(), f"examples/{f}") for f in ("machine.txt", "machine2.txt")]
    return compare_systems(ref, list(zip(["machine", "machine2"], docs)), model="hash", n_samples=n_samples)


def test_systems_page_ranks_the_sample_with_significance():
    at = _run(_page(SYSTEMS))
    expected = _sample_systems()
    assert not at.error
    assert "bundled sample" in at.info[0].value
    table = at.dataframe[0].value
    assert table["system"].tolist() == ["machine2", "machine"]
    assert table["chrF"].tolist() == [r["chrf"] for r in expected.ranked()]
    assert table["BLEU p"].tolist() == [dashboard_systems.p_text(r["bleu_p"]) for r in expected.ranked()]
    assert table["BLEU p"].tolist()[1] == "–" and table["chrF p"].tolist()[0].endswith(" *")
    assert table["vs baseline"].tolist() == ["chrF better, BLEU better (p < 0.05)", "baseline"]
    captions = " ".join(c.value for c in at.caption)
    assert "Paired bootstrap resampling" in captions and "bs:1000" in captions
    assert len(at.get("vega_lite_chart")) == 2
    # the most disputed reference sentence is shown first, each system beside the other
    top = expected.most_disputed(1)[0]
    assert at.selectbox(key="sys_segment").value == top
    md = "\n".join(m.value for m in at.markdown)
    assert "Construction could begin" in md and "left out" in md
    assert dashboard_systems.segment_system_html(expected, top, 1) in md


def test_choosing_another_sentence_shows_it():
    at = _run(_page(SYSTEMS))
    expected = _sample_systems()
    second = expected.most_disputed()[1]
    at.selectbox(key="sys_segment").select(second)
    _run(at)
    assert at.selectbox(key="sys_segment").value == second
    shown = next(m.value for m in at.markdown if m.value.startswith('<div style="padding'))
    assert html.escape(expected.segments[second].reference) in shown
    md = "\n".join(m.value for m in at.markdown)
    assert all(dashboard_systems.segment_system_html(expected, second, k) in md for k in range(2))


def test_systems_page_draws_marks_and_hides_changes_on_request():
    sc = _sample_systems(10)
    for r in sc.systems:  # p as the engine of issue 12 gives it: every other span a mark
        for p in r.pairs:
            p.b_spans = [[*sp[:3], 0.9 if n % 2 else 0.1] for n, sp in enumerate(p.b_spans)]
    both = "".join(dashboard_systems.segment_system_html(sc, i, k) for i in range(len(sc.segments)) for k in (0, 1))
    marks = "".join(dashboard_systems.segment_system_html(sc, i, k, show_changes=False)
                    for i in range(len(sc.segments)) for k in (0, 1))
    assert "<mark" in both and 'change"' in both
    assert 'change"' not in marks and marks.count("<mark") == both.count("<mark")


def test_systems_page_has_the_toggle_and_the_legend():
    at = _run(_page(SYSTEMS))
    assert at.checkbox(key="sys_show_changes").value is True
    assert any("<b>Marks</b>" in m.value and "<b>Changes</b>" in m.value for m in at.markdown)
    at.checkbox(key="sys_show_changes").uncheck()
    _run(at)
    md = "\n".join(m.value for m in at.markdown)
    assert 'change"' not in md and "changes hidden" in md


def test_uploaded_systems_are_scored_and_escaped():
    at = _run(_page(SYSTEMS))
    ref = "The cat sat on the mat. It was a sunny day. Everyone was happy."
    at.file_uploader(key="sys_ref").upload("ref.txt", ref.encode(), "text/plain")
    at.file_uploader(key="sys_files").upload("one.txt", b"The cat sat on a mat. It was sunny. Everyone was happy.",
                                             "text/plain")
    _run(at)
    assert any("at least two systems" in w.value for w in at.warning)
    at.file_uploader(key="sys_files").set_value(
        [("one.txt", b"The cat sat on a mat. It was sunny. Everyone was happy.", "text/plain"),
         ("<img src=x onerror=alert(1)>.txt", b"<script>alert(1)</script> The cat sat. Nobody was happy.",
          "text/plain")])
    _run(at)
    table = at.dataframe[0].value
    assert set(table["system"]) == {"one", "<img src=x onerror=alert(1)>"}
    joined = "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)
    assert re.search(r"(?<!\\)<(img|script)", joined) is None


def test_cli_compare_json_opens_on_the_page(tmp_path):
    out = tmp_path / "c.json"
    subprocess.run([sys.executable, "-m", "comparator", "compare", str(EX / "reference.txt"),
                    str(EX / "machine.txt"), str(EX / "machine2.txt"), "--model", "hash", "--bootstrap", "100",
                    "-o", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    at = _run(_page(SYSTEMS))
    at.file_uploader(key="sys_json").upload("c.json", out.read_bytes(), "application/json")
    _run(at)
    data = json.loads(out.read_text("utf-8"))
    assert at.dataframe[0].value["chrF"].tolist() == [r["chrf"] for r in sorted(data["table"], key=lambda r: r["rank"])]
    assert "bs:100" in " ".join(c.value for c in at.caption)


def test_saving_from_the_systems_page(tmp_path):
    at = _run(_page(SYSTEMS))
    at.button(key="sys_save").click()
    _run(at)
    assert "Saved as run 1" in at.success[0].value
    with hist.History(str(tmp_path / "history.sqlite")) as h:
        run = h.get(1)
    assert run["kind"] == "compare" and run["source"] == "dashboard"
    assert [s["name"] for s in run["result"]["systems"]] == ["machine", "machine2"]


def test_saving_from_the_main_page(tmp_path):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "hash"
    _run(at)
    at.button(key="save_run").click()
    _run(at)
    assert any("Saved as run 1" in s.value for s in at.success)
    with hist.History(str(tmp_path / "history.sqlite")) as h:
        run = h.get(1)
    assert run["kind"] == "score" and run["source"] == "dashboard" and run["settings"]["model"] == "hash"


def _save_two_runs(path):
    ref = (EX / "reference.txt").read_text("utf-8")
    one = compare(ref, (EX / "machine.txt").read_text("utf-8"), model="hash")
    two = compare(ref, (EX / "machine2.txt").read_text("utf-8"), model="hash")
    with hist.History(str(path)) as h:
        h.save("score", one.to_dict())
        h.save("score", two.to_dict())
        h.save("compare", _sample_systems(100).to_dict())
    return one, two


def test_saved_runs_page_without_a_database():
    at = _run(_page(SAVED))
    assert "No saved runs yet" in at.info[0].value


def test_saved_runs_page_lists_and_compares(tmp_path):
    one, two = _save_two_runs(tmp_path / "history.sqlite")
    at = _run(_page(SAVED))
    runs = at.dataframe[0].value
    assert runs["id"].tolist() == [3, 2, 1] and runs["kind"].tolist() == ["compare", "score", "score"]
    # by default: the newest run against the one before; pick the two score runs
    at.selectbox(key="hist_old").select(1)
    at.selectbox(key="hist_new").select(2)
    _run(at)
    d = hist.diff_results(one, two)
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["Corpus chrF"] == (f"{two.corpus['chrf']:.2f}", f"{d['corpus']['chrf']['delta']:+.2f}")
    assert metrics["Flagged pairs"][1] == f"{d['corpus']['flagged']['delta']:+d}"
    frame = at.dataframe[1].value
    assert len(frame) == sum(1 for s in d["sentences"] if s["change"] != "same")
    assert f"**{d['counts']['better']} better**" in " ".join(c.value for c in at.caption)
    # a system of the compare run against a score run
    at.selectbox(key="hist_new").select(3)
    _run(at)
    at.selectbox(key="hist_new_system").select("machine2")
    _run(at)
    assert len(at.dataframe[1].value) == len(frame)


def test_runs_of_different_texts_are_not_compared(tmp_path):
    _save_two_runs(tmp_path / "history.sqlite")
    with hist.History(str(tmp_path / "history.sqlite")) as h:
        h.save("score", compare("Some other text. Quite different.", "Other text.", model="hash").to_dict())
    at = _run(_page(SAVED))
    assert any("not of the same reference" in w.value for w in at.warning)


def test_reopening_runs(tmp_path):
    one, two = _save_two_runs(tmp_path / "history.sqlite")
    at = _run(_page(SAVED))
    at.selectbox(key="hist_open").select(1)
    _run(at)
    at.button(key="hist_open_btn").click()
    _run(at)  # now on the main page, showing the saved run
    assert any("run 1" in i.value and "run history" in i.value for i in at.info)
    table = at.dataframe[0].value
    assert table["flag"].tolist() == pytest.approx([p.flag for p in one.pairs])
    at = _run(_page(SAVED))
    at.selectbox(key="hist_open").select(3)
    _run(at)
    at.button(key="hist_open_btn").click()
    _run(at)  # a compare run opens on the Several systems page
    assert any("run 3" in i.value for i in at.info)
    assert at.dataframe[0].value["system"].tolist() == ["machine2", "machine"]


def test_pure_helpers():
    sc = _sample_systems(100)
    frame = dashboard_systems.ranking_frame(sc)
    assert frame["rank"].tolist() == [1, 2]
    labels = dashboard_systems.segment_labels(sc)
    assert list(labels) == sc.most_disputed()
    d = hist.diff_results(sc.systems[0], sc.systems[1])
    assert len(dashboard_history.diff_frame(d, changed_only=False)) == len(d["sentences"])
    assert [m[0] for m in dashboard_history.corpus_metrics(d)][:2] == ["Corpus BLEU", "Corpus chrF"]


def test_the_pages_share_one_model_per_server(monkeypatch):
    """The main page and the Several systems page load the model through one cached function."""
    from comparator.dashboard import cache as dashboard_cache
    from comparator.core.embed import encoder

    dashboard_cache.load_encoder.clear()
    loads = []
    real = encoder.get_encoder
    monkeypatch.setattr(encoder, "get_encoder", lambda model, *a, **k: loads.append(model) or real(model, *a, **k))
    main = AppTest.from_file(APP, default_timeout=TIMEOUT)
    main.session_state["model"] = "hash"
    _run(main)
    _run(_page(SYSTEMS))
    assert loads == ["hash"]
    dashboard_cache.load_encoder.clear()
