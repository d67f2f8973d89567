"""The catalogue of bad and odd input, dashboard half (the scripted half is tests/test_bad_input.py).

Every case is uploaded (or pasted) through Streamlit's AppTest with the fast 'hash' model and must end in
a shown result, with every sentence of both sides in the table, or in one readable one-line st.error;
never an exception or a stack trace. Also: uploads are never written to disk, and the upload size limit
is set in .streamlit/config.toml to comparator.core.documents.MAX_BYTES.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import json

import pytest
import streamlit as st
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as hyp_st
from streamlit.testing.v1 import AppTest

from comparator import compare
from comparator.dashboard import views
from comparator.core.documents import MAX_BYTES, decode

from apphelpers import APP, ROOT, app_test, raw_tag as _raw_tag, run  # noqa: E402,F401
from mutations import as_bytes, mutate  # noqa: E402

TIMEOUT = 120  # one script run with the hash model; generous for a busy 2-core machine

GOOD = "The council approved the plan on Monday. Work starts in May.\n\nResidents were pleased.\n"
OTHER = "The council approved the budget on Tuesday. Work begins in June.\n\nResidents were unhappy.\n"


@pytest.fixture(autouse=True)
def _fresh_caches():
    st.cache_data.clear()
    yield


def _app() -> AppTest:
    return app_test("hash", TIMEOUT)


def _run(at: AppTest) -> AppTest:
    return run(at, TIMEOUT)


def _texts(at: AppTest) -> list[str]:
    """Everything the app rendered as markdown or HTML (where a raw tag would become live markup)."""
    out = [m.value for m in at.markdown]
    for kind in ("caption", "info", "warning", "error", "success", "html", "text", "code"):
        out += [str(e.value) for e in at.get(kind)]
    out += [m.help or "" for m in at.metric]
    return out


def _no_traceback(at: AppTest) -> None:
    joined = "\n".join(_texts(at))
    assert "Traceback" not in joined and 'File "' not in joined


def _upload(at: AppTest, a: bytes, b: bytes, name_a: str = "a.txt", name_b: str = "b.txt") -> AppTest:
    at.file_uploader(key="up_a").upload(name_a, a, "text/plain")
    at.file_uploader(key="up_b").upload(name_b, b, "text/plain")
    return _run(at)


def _shown(at: AppTest, a: bytes, b: bytes, mode: str = "text"):
    """A result is shown, and it is the engine's result for these bytes: every pair, every sentence."""
    _no_traceback(at)
    assert not at.error, [e.value for e in at.error]
    assert not any("bundled sample" in i.value for i in at.info)
    expected = compare(decode(a, "a.txt"), decode(b, "b.txt"), mode=mode, model="hash")
    table = at.dataframe[0].value
    assert len(table) == len(expected.pairs)
    assert table["A (reference)"].tolist() == [p.a_text for p in expected.pairs]
    assert table["B (rendering)"].tolist() == [p.b_text for p in expected.pairs]
    metric = {m.label: m.value for m in at.metric}
    assert metric["Corpus chrF"] == views.fmt(expected.corpus["chrf"], digits=2)
    # nothing lost: every sentence of both sides is in exactly one row, in order
    assert [i for p in expected.pairs for i in p.a] == list(range(len(expected.a_sentences)))
    assert [j for p in expected.pairs for j in p.b] == list(range(len(expected.b_sentences)))
    return expected, table


def _all_tabs(at: AppTest) -> AppTest:
    """Open each tab in turn (the plots are drawn only when their tab is open); none may fail."""
    for tab in ("Plots", "Pair up close", "Table", "Export", "Side by side"):
        at.session_state["tab"] = tab
        _run(at)
        assert not any("Something went wrong" in e.value for e in at.error), (tab, [e.value for e in at.error])
    return at


def _one_line_error(at: AppTest, words: str) -> str:
    _no_traceback(at)
    assert len(at.error) == 1, [e.value for e in at.error]
    msg = at.error[0].value
    assert not msg.startswith("Something went wrong"), msg  # the catch-all for bugs, not a readable refusal
    assert "\n" not in msg and len(msg) < 300 and words in msg, msg
    assert not at.dataframe  # no stale result under the error
    return msg


# ---- cases that end in a shown result ------------------------------------------------------------------

RESULT_CASES = {
    "one side empty": (GOOD.encode(), b""),
    "whitespace only": (b"  \n\t\n   \n", GOOD.encode()),
    "latin-1": ("Café crème, naïve façade. Ærø is an island.".encode("latin-1"),
                "Café crème, naive façade. Ærø is an island.".encode()),
    "cp1252": ("“Smart quotes” – and a € sign. The end.".encode("cp1252"),
               "“Smart quotes” - and a € sign. The end.".encode()),
    "utf-16 with bom": (GOOD.encode("utf-16"), GOOD.encode("utf-8")),
    "crlf nbsp zero-width": (GOOD.replace("\n", "\r\n").replace(" ", "\u00a0", 3).encode(),
                             GOOD.replace("plan", "pl\u200ban").replace("Work", "\ufeffWork").encode()),
    "control characters": (b"Bell\x07 and\x1b escape. Form\x0cfeed here.\x7f Done\x08.\n",
                           b"Bell and escape. Formfeed here. Done.\n"),
    "cjk rtl emoji": ("東京は日本の首都です。人口は多い。\n\nمرحبا بالعالم. هذا اختبار.\n\nParty time 🎉🎉! 👩‍👩‍👧 family.".encode(),
                      "東京は日本の首都である。\n\nمرحبا بالعالم.\n\nParty 🎉! 👩‍👩‍👧 family.".encode()),
    "unrelated renderings": (GOOD.encode(),
                             b"Quantum chromodynamics describes the strong force. Gluons bind quarks.\n"),
}


@pytest.mark.parametrize("name", list(RESULT_CASES))
def test_odd_upload_gives_a_result(name):
    a, b = RESULT_CASES[name]
    at = _upload(_run(_app()), a, b)
    expected, table = _shown(at, a, b)
    _all_tabs(at)
    shown = " ".join(table["A (reference)"]) + " " + " ".join(table["B (rendering)"])
    if name in ("latin-1", "cp1252"):
        assert ("Café" in shown) if name == "latin-1" else ("“Smart quotes” – and a € sign." in shown)
        # the fallback is said, not hidden (markdown-escaped: "not UTF\\-8; read as cp1252")
        assert any("not UTF" in w.value and "read as" in w.value for w in at.warning), [w.value for w in at.warning]
    if name == "utf-16 with bom":
        assert expected.a_sentences == expected.b_sentences
        assert table["chrF"].dropna().tolist() == pytest.approx([100.0] * len(table["chrF"].dropna()))
    if name == "crlf nbsp zero-width":
        assert "\r" not in shown
        assert table["BLEU"].iloc[0] == pytest.approx(100.0)  # NBSP and zero-width match plain text
    if name == "control characters":
        assert not any(ch in shown for ch in "\x07\x1b\x0c\x7f\x08")
    if name == "cjk rtl emoji":
        for piece in ("東京", "مرحبا", "🎉", "👩‍👩‍👧"):
            assert piece in shown
    if name == "one side empty":
        assert set(table["alignment"]) <= {views.ONLY_A, views.ONLY_B, views.FURNITURE}
    if name == "unrelated renderings":
        assert "Gluons bind quarks." in shown and "Residents were pleased." in shown


EMPTY_BOTH = {"empty files": (b"", b""), "byte-order marks only": (b"\xff\xfe", b"\xef\xbb\xbf"),
              "blank both": (b" \n\n\t ", "\r\n\u00a0\n\u3000\n".encode())}


@pytest.mark.parametrize("name", list(EMPTY_BOTH))
def test_both_sides_without_a_sentence(name):
    a, b = EMPTY_BOTH[name]
    at = _upload(_run(_app()), a, b)
    _all_tabs(at)
    _no_traceback(at)
    if at.error:  # a readable refusal would do as well as an empty result
        _one_line_error(at, "")
    else:
        _, table = _shown(at, a, b)
        assert len(table) == 0


def test_zero_width_only_paragraph_is_not_a_sentence():
    a = "Hello there.\n\n\u200b\u200b\n\nBye now.\n".encode()
    b = b"Hello there.\n\nBye now.\n"
    at = _upload(_run(_app()), a, b)
    _, table = _shown(at, a, b)
    from comparator.core.documents import normalise

    for col in ("A (reference)", "B (rendering)"):
        assert all(normalise(t) or not t for t in table[col]), "an invisible sentence is shown as a row"
    assert set(table["alignment"]) == {"1-1"}


def test_identical_renderings():
    at = _upload(_run(_app()), GOOD.encode(), GOOD.encode())
    _, table = _shown(at, GOOD.encode(), GOOD.encode())
    assert set(table["alignment"]) == {"1-1"}
    assert table["BLEU"].tolist() == pytest.approx([100.0] * len(table))
    metric = {m.label: m.value for m in at.metric}
    assert metric["Corpus chrF"] == "100.00" and metric["Corpus BLEU"] == "100.00"


def test_long_single_line_without_punctuation():
    # 200 KB on one line; the scripted test does 2 MB. Cut at spaces into units, nothing lost.
    words = [f"w{i % 997}" for i in range(40_000)]
    line = " ".join(words)[:200_000].rsplit(" ", 1)[0].encode()
    at = _upload(_run(_app()), line, GOOD.encode())
    _, table = _shown(at, line, GOOD.encode())
    assert len(table) > 10  # cut into readable units
    assert " ".join(t for t in table["A (reference)"] if t).split() == line.decode().split()


# ---- cases that end in a one-line error ---------------------------------------------------------------

def test_binary_upload():
    data = bytes(range(256)) * 100
    at = _upload(_run(_app()), data, GOOD.encode(), name_a="blob.bin")
    msg = _one_line_error(at, "binary")
    assert "blob.bin" in msg


def test_upload_over_the_size_limit_is_refused_quickly():
    big = b"word " * (MAX_BYTES // 5) + b"x"  # MAX_BYTES + 1 bytes of text
    assert len(big) == MAX_BYTES + 1
    at = _run(_app())
    start = time.monotonic()
    _upload(at, big, GOOD.encode(), name_a="huge.txt")
    elapsed = time.monotonic() - start
    msg = _one_line_error(at, "limit")
    assert "huge.txt" in msg and f"{MAX_BYTES // (1024 * 1024)} MB" in msg
    assert elapsed < 60, f"refusing an oversized upload took {elapsed:.0f} s"


def test_paste_over_the_size_limit_is_refused():
    at = _run(_app())
    at.text_area(key="paste_a").input("word " * (MAX_BYTES // 5) + "x")
    at.text_area(key="paste_b").input(GOOD)
    _run(at)
    _one_line_error(at, "limit")


def test_aligned_mode_with_unequal_line_counts():
    at = _run(_app())
    at.radio(key="mode").set_value("aligned")
    _upload(at, b"one\ntwo\nthree\n", b"uno\ndos\n")
    _one_line_error(at, "equal line counts")


def test_aligned_mode_with_equal_line_counts_and_blank_lines():
    a, b = b"one line here\n\nthree lines\n", b"una linea\n\ntres lineas\n"
    at = _run(_app())
    at.radio(key="mode").set_value("aligned")
    _upload(at, a, b)
    _shown(at, a, b, mode="aligned")


def test_bad_input_then_good_input_recovers():
    at = _upload(_run(_app()), bytes(range(256)) * 10, GOOD.encode())
    _one_line_error(at, "binary")
    _upload(at, OTHER.encode(), GOOD.encode())
    _shown(at, OTHER.encode(), GOOD.encode())


# ---- hostile markup: text stays text ----------------------------------------------------------------------

PAYLOADS = ('<script>alert("a")</script>', "<img src=x onerror=alert(1)>", "<IMG SRC=x OnError=alert(2)>",
            "<svg onload=alert(3)>", '<iframe src="javascript:alert(4)"></iframe>', "<a href=javascript:alert(5)>x</a>",
            "<style>body{display:none}</style>", '"><script>alert(6)</script>', "</td></tr></table><b>out</b>")
# Tags the app's own markup never uses (its one <style> block is fixed text, removed before looking), and the
# payloads' own <b> elements (the app bolds pair numbers itself): any of them unescaped in a rendered text
# would be the user's markup come alive.
HOSTILE = re.compile(r"(?<!\\)<\s*/?\s*(script|img|svg|iframe|a|style|p)\b|<b>(world|out)</b>", re.IGNORECASE)
OWN_MARKUP = re.compile(r"<style>\[data-testid=stMainBlockContainer\].*?</style>", re.S)


def _live_markup(at: AppTest) -> list[str]:
    return [m.group(0) for t in _texts(at) for m in HOSTILE.finditer(OWN_MARKUP.sub("", t))]


def test_html_and_script_payloads_come_out_inert():
    a = ("<p>Hello <b>world</b>.</p> The report was published. " + " ".join(
        f"Sentence {i} carries {p} here." for i, p in enumerate(PAYLOADS))).encode()
    b = ("<p>Hello world.</p> The report was released. " + " ".join(
        f"Sentence {i} holds {p} here." for i, p in enumerate(PAYLOADS))).encode()
    name_a, name_b = '<img src=x onerror=alert("name")>.txt', "<script>b</script>.txt"
    at = _upload(_run(_app()), a, b, name_a=name_a, name_b=name_b)
    at_names = (name_a, name_b)
    expected = compare(decode(a, name_a), decode(b, name_b), model="hash")
    assert at.dataframe[0].value["B (rendering)"].tolist() == [p.b_text for p in expected.pairs]
    _no_traceback(at)
    assert not at.error and not _live_markup(at), _live_markup(at)
    joined = "\n".join(_texts(at))
    assert "&lt;script&gt;" in joined and "onerror" in joined  # shown as text, not stripped
    assert all(views.md_escape(n) in joined for n in at_names)
    # every pair up close, where the text is rendered again with a word diff and its neighbours
    for n in range(len(expected.pairs)):
        at.selectbox(key="closeup").select(n)
        _run(at)
        assert not _live_markup(at), (n, _live_markup(at))


# ---- private: uploads are read in memory, never written to disk ---------------------------------------

_WRITES: list | None = None


def _audit(event: str, args) -> None:
    if _WRITES is None or event not in ("open", "os.mkdir", "os.rename", "shutil.copyfile", "tempfile.mkstemp",
                                        "tempfile.mkdtemp"):
        return
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
        if not writing:
            return
    _WRITES.append((event, args))


_HOOKED = False


def _hook() -> None:
    global _HOOKED
    if not _HOOKED:  # audit hooks cannot be removed: installed once, it records only while _WRITES is a list
        sys.addaudithook(_audit)
        _HOOKED = True


def _files_under(path: Path) -> dict[str, float]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if d not in (".venv", ".git", "__pycache__", ".hypothesis")]
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                st_ = os.stat(p)
            except OSError:
                continue
            if st_.st_size < 50_000_000:  # an upload here is 100 bytes; big files are other processes'
                out[p] = st_.st_mtime
    return out


def test_uploads_are_never_written_to_disk():
    global _WRITES
    import tempfile

    marker = "Zqxuploadmarker"
    a = f"The {marker} council met on Monday. Work starts in May.\n".encode()
    b = f"The {marker} council met Monday. Work begins in May.\n".encode()
    _hook()
    at = _run(_app())  # the sample and the model first: what is written there is not an upload
    tmp = Path(tempfile.gettempdir())
    before = {**_files_under(ROOT), **_files_under(tmp)}
    _WRITES = []
    try:
        _upload(at, a, b, name_a="private-a.txt", name_b="private-b.txt")
        writes = list(_WRITES)
    finally:
        _WRITES = None
    _shown(at, a, b)
    assert any(marker in t for t in at.dataframe[0].value["A (reference)"])
    assert not writes, f"the upload run opened files for writing: {writes[:5]}"
    after = {**_files_under(ROOT), **_files_under(tmp)}
    changed = [p for p, m in after.items() if before.get(p) != m]
    for p in changed:  # whatever else changed meanwhile (other processes) must not hold the upload
        try:
            assert marker.encode() not in Path(p).read_bytes(), p
        except OSError:
            pass


def test_upload_size_limit_is_set_to_max_bytes():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text("utf-8"))
    limit = config["server"]["maxUploadSize"]
    assert isinstance(limit, int) and limit * 1024 * 1024 == MAX_BYTES
    # and Streamlit reads it from there when the server starts in the project folder
    code = ("from streamlit import config; config.get_config_options(force_reparse=True); "
            "print(config.get_option('server.maxUploadSize'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(limit)


# ---- saved results: checked before anything is drawn (issue 16) --------------------------------------

def _saved_json() -> dict:
    return json.loads(compare(GOOD, OTHER, model="hash").to_json())


def _open_json(at: AppTest, data: bytes, name: str = "saved.json") -> AppTest:
    at.file_uploader(key="up_json").upload(name, data, "application/json")
    return _run(at)


@pytest.mark.parametrize("change,words", [
    (lambda d: d["pairs"][1].__setitem__("flag", "high"), "pairs[1].flag: expected a number, got 'high'"),
    (lambda d: d["pairs"][0]["b_spans"].append(["x", "y", "omission"]), "pairs[0].b_spans"),
    (lambda d: d["pairs"][0]["b_spans"].append([0, 9999, "omission"]), "not inside b_text"),
    (lambda d: d["pairs"][0]["b_spans"].append([0, 1, "made-up kind"]), "expected one of"),
    (lambda d: d["pairs"][0].__setitem__("a", [99]), "out of range"),
    (lambda d: d["pairs"].pop(0), "in no pair"),
    (lambda d: d["corpus"].__setitem__("chrf", "78"), "corpus.chrf: expected a number or null"),
    (lambda d: d["pairs"][0].__setitem__("cosine", float("nan")), "expected a finite number, got NaN"),
])
def test_a_saved_result_with_a_bad_field_is_one_line_and_nothing_else(change, words):
    d = _saved_json()
    change(d)
    at = _open_json(_run(_app()), as_bytes(d))
    msg = _one_line_error(at, words)
    assert not at.metric and not at.get("download_button")  # nothing of the result half-drawn
    assert "saved.json" not in " ".join(i.value for i in at.info) or msg


def test_a_saved_result_with_four_element_spans_and_extra_fields_is_shown():
    d = _saved_json()
    for p in d["pairs"]:
        p["b_spans"] = [[*s[:3], 0.9] for s in p["b_spans"]]
        p["later_field"] = [1, 2, 3]
    d["corpus"]["bleu_reason"] = "why BLEU is missing, when it is"
    at = _open_json(_run(_app()), as_bytes(d))
    assert not at.error, [e.value for e in at.error]
    assert len(at.dataframe[0].value) == len(d["pairs"])
    _all_tabs(at)


def test_the_saved_runs_page_says_a_damaged_history_in_one_line(tmp_path, monkeypatch):
    db = tmp_path / "history.sqlite"
    db.write_bytes(b"not a database " * 300)
    monkeypatch.setenv("MT_COMPARATOR_HISTORY", str(db))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "hash"
    at.switch_page("pages/2_Saved_runs.py")
    _run(at)
    _no_traceback(at)
    assert len(at.error) == 1, [e.value for e in at.error]
    msg = at.error[0].value  # one line, however long the path: it says which file and how to recover
    assert "\n" not in msg and str(db) in msg and "recover" in msg and not msg.startswith("Something went wrong")
    assert db.read_bytes() == b"not a database " * 300 and sorted(os.listdir(tmp_path)) == ["history.sqlite"]


@hyp_settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=hyp_st.data())
def test_a_mutated_saved_result_is_shown_or_refused_in_one_line(data):
    """The property of tests/test_hostile_input.py through the dashboard (few examples: each is several runs)."""
    st.cache_data.clear()
    mutated = mutate(_saved_json(), data.draw)
    at = _open_json(_run(_app()), as_bytes(mutated))
    _no_traceback(at)
    if at.error:
        _one_line_error(at, "")
        return
    assert len(at.dataframe[0].value) == len(mutated["pairs"])
    _all_tabs(at)


def test_a_saved_systems_result_with_a_bad_field_is_one_line_on_its_page():
    from comparator.analysis.systems import compare_systems

    sc = compare_systems(GOOD, [("one", OTHER), ("two", GOOD)], model="hash", n_samples=20)
    d = json.loads(sc.to_json())
    d["table"][1]["chrf"] = "best"
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "hash"
    at.session_state["sys_model"] = "hash"
    at.switch_page("pages/1_Several_systems.py")
    _run(at)
    at.file_uploader(key="sys_json").upload("systems.json", as_bytes(d), "application/json")
    _run(at)
    _no_traceback(at)
    assert [e.value for e in at.error] == ["table[1].chrf: expected a number or null, got 'best'"]
    assert not at.dataframe and not at.get("download_button")
