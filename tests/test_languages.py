"""Two languages: the language check, the multilingual encoder, and what a cross-lingual result holds
(null BLEU/chrF/TER with the reason, no word marks, a flag from what holds) in the engine, the CLI, the
exports, several systems and the dashboard."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from apphelpers import app_test, run
from conftest import run_cli

from comparator import Comparison, Settings, compare
from comparator.analysis.systems import compare_systems
from comparator.core import align, languages
from comparator.core.embed.encoder import MULTILINGUAL_MODEL, get_encoder
from comparator.core.errors import InputError
from comparator.core.marks import phrasing
from comparator.core.validate import check_comparison
from comparator.render import report
from comparator.render import systems as render_systems

ZH = "我二十一岁时，正在云南插队。\n陈清扬当时二十六岁，就在我插队的地方当医生。\n1966年，她在北京住了3个月。\n"
EN = ("At twenty-one, I was sent to work in a village in Yunnan.\n"
      "Chen Qingyang was twenty-six then, a doctor where I worked.\n"
      "In 1967, she lived in Beijing for 3 months.\n")
EN_SAME = ("At twenty-one, I was sent to work in a village in Yunnan.\n"
           "Chen Qingyang was twenty-six then, and a doctor where I worked.\n"
           "In 1966, she lived in Beijing for 3 months.\n")


# ---- the language check -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, code", [
    ("今天天气很好，我们去公园散步吧。", "zh"),
    ("今日は良い天気ですね。散歩に行きましょう。", "ja"),
    ("오늘은 날씨가 좋습니다. 산책하러 갑시다.", "ko"),
    ("Это простой текст на русском языке.", "cyrillic"),
    ("The cat sat on the mat and the dog was in the garden.", "en"),
    ("Le chat est sur la table et il dort dans le salon.", "fr"),
    ("Der Hund ist nicht in dem Haus und die Katze auch nicht.", "de"),
    ("12345 678", None),
    ("ok", None),
])
def test_detect(text, code):
    assert languages.detect(text) == code


def test_mixed_text():
    assert languages.detect("今天天气很好，我们去公园散步吧。 The weather is nice today, so let us go for a walk in the park.") == "mixed"


def test_decide_from_text_and_as_given():
    d = languages.decide(ZH, EN)
    assert d.cross and (d.a, d.b) == ("zh", "en") and not d.given and not d.same_script
    assert not languages.decide(EN, EN_SAME).cross
    # said by the user: that wins over the text, either way
    assert not languages.decide(ZH, EN, "en,en").cross
    assert languages.decide(EN, EN_SAME, "fr,en").cross
    assert languages.decide(EN, EN_SAME, "fr,en").given
    # too little text on one side never makes a pair cross-lingual
    assert not languages.decide("42", EN).cross


@pytest.mark.parametrize("bad", ["zh", "zh,en,fr", "zh;en", "1,2", "chinese,english"])
def test_bad_languages_setting(bad):
    with pytest.raises(InputError):
        Settings(languages=bad)


# ---- spans and flag across languages ------------------------------------------------------------------

def test_cross_spans_numbers_and_names():
    a, b = phrasing.cross_spans("1966年，她在北京住了3个月。", "In 1967, she lived in Beijing for 3 months.")
    assert [k for *_, k in a] == ["number"] and [k for *_, k in b] == ["number"]
    # same script: a name the other side has nowhere is marked, one spelled almost alike is not
    a, b = phrasing.cross_spans("Il est allé à Londres avec Marie.", "He went to London with Peter.",
                                same_script=True)
    marked = {("He went to London with Peter."[s:e], k) for s, e, k in b}
    assert ("Peter", "name") in marked and not any(t == "London" for t, _ in marked)


def test_cross_flag_uses_cosine_and_facts_not_words():
    a, b = "她在北京住了3个月。", "She lived in Beijing for 3 months."
    sa, sb = phrasing.cross_spans(a, b)
    good = phrasing.flag(a, b, sa, sb, None, cosine=0.9, cross=True)
    worse = phrasing.flag(a, b, sa, sb, None, cosine=0.5, cross=True)
    assert 0 < good < worse < 1
    parts = phrasing.cost_parts(a, b, sa, sb, None, cosine=0.9, cross=True)
    assert "surface" not in parts and parts["damage"] == 0 and parts["content"] == 0
    b2 = "She lived in Beijing for 4 months."
    sa2, sb2 = phrasing.cross_spans(a, b2)
    assert phrasing.flag(a, b2, sa2, sb2, None, cosine=0.9, cross=True) > good


# ---- the engine ----------------------------------------------------------------------------------------

def _check_cross(result: Comparison) -> None:
    assert result.cross_lingual and result.languages["a"] == "zh" and result.languages["b"] == "en"
    for name in ("bleu", "chrf"):
        assert result.corpus[name] is None and result.corpus[f"{name}_reason"]
    two_sided = [p for p in result.pairs if p.a and p.b and not p.furniture]
    assert two_sided and all(p.bleu is None and p.chrf is None and p.ter is None for p in two_sided)
    assert all(sp[2] in ("number", "name", "boundary", "punctuation", "repetition")
               for p in two_sided for sp in p.a_spans + p.b_spans)
    assert any("not computed" in n for n in result.notes)
    check_comparison(json.loads(result.to_json()))  # null scores validate
    again = Comparison.from_json(result.to_json())
    assert again.cross_lingual and again.corpus["bleu"] is None


def test_cross_lingual_result_has_null_scores_with_reason():
    r = compare(ZH, EN, mode="aligned", model="hash", ter=True)
    _check_cross(r)
    assert r.corpus["ter"] is None and r.corpus["ter_reason"]
    assert r.settings["token_flag"] is False
    # the numbers still count: 1966 against 1967 is marked on both sides of its pair
    pair = next(p for p in r.pairs if "1966" in p.a_text)
    assert any(sp[2] == "number" for sp in pair.a_spans) and any(sp[2] == "number" for sp in pair.b_spans)
    # the hash encoder cannot read two languages: said
    assert any(n.startswith("warning") and "hash" in n for n in r.notes)


def test_same_language_result_is_unchanged():
    r = compare(EN, EN_SAME, mode="lines", model="hash")
    assert not r.cross_lingual and r.corpus["bleu"] is not None and "bleu_reason" not in r.corpus
    assert all(p.chrf is not None for p in r.pairs if p.a and p.b)
    assert not any("not computed" in n for n in r.notes)


def test_languages_given_override_the_text():
    r = compare(EN, EN_SAME, mode="lines", model="hash", languages="fr,en")
    assert r.cross_lingual and r.languages["given"] and r.corpus["chrf"] is None
    r = compare(ZH, EN, mode="aligned", model="hash", languages="zh,zh")
    assert not r.cross_lingual and r.corpus["chrf"] is not None


def test_english_only_model_warns_on_other_languages():
    class English:  # stands in for the default model without loading it: only the name matters here
        name = "all-MiniLM-L6-v2"

    from comparator.core.pipeline import language_notes

    notes = language_notes(languages.decide(ZH, EN), "all-MiniLM-L6-v2", English())
    assert any(n.startswith("warning") and "English only" in n for n in notes)
    notes = language_notes(languages.decide(ZH, ZH), "all-MiniLM-L6-v2", English())
    assert any("English only" in n for n in notes) and not any("not computed" in n for n in notes)
    assert not language_notes(languages.decide(EN, EN_SAME), "all-MiniLM-L6-v2", English())
    assert not any("English only" in n for n in language_notes(languages.decide(ZH, EN), MULTILINGUAL_MODEL, None))


def test_old_result_without_languages_still_opens():
    r = compare(EN, EN_SAME, mode="lines", model="hash")
    data = json.loads(r.to_json())
    del data["languages"]
    again = Comparison.from_dict(data)
    assert again.languages is None and not again.cross_lingual


def test_exports_show_missing_scores_empty():
    r = compare(ZH, EN, mode="aligned", model="hash")
    rows = list(csv.DictReader(io.StringIO(report.to_csv(r))))
    assert rows and all(row["bleu"] == "" and row["chrf"] == "" for row in rows)
    tsv = list(csv.DictReader(io.StringIO(report.to_tsv(r)), delimiter="\t"))
    assert all(row["chrf"] == "" for row in tsv)
    page = report.to_html(r)
    assert "Corpus BLEU not computed: A and B are in different languages" in page
    assert "<td>0.0</td>" not in page


def test_systems_across_languages_rank_without_bleu():
    sc = compare_systems(ZH, [("good", EN_SAME), ("worse", EN)], mode="aligned", model="hash", n_samples=10)
    assert sc.significance is None and any("different languages" in n for n in sc.notes)
    assert all(row["chrf"] is None and row["bleu"] is None for row in sc.table)
    assert all(c is None for seg in sc.segments for c in seg.chrf)
    assert sorted(row["rank"] for row in sc.table) == [1, 2]
    text = render_systems.to_text(sc)
    rows = {line.split()[1]: line for line in text.splitlines()[1:3]}
    assert "baseline" in rows["good"] and "baseline" not in rows["worse"]  # no test: not a second baseline
    render_systems.to_html(sc)
    from comparator.dashboard.systems import ranking_frame

    frame = ranking_frame(sc)
    assert sorted(frame["vs baseline"]) == ["baseline", "no test"]
    from comparator.core.validate import check_systems

    check_systems(json.loads(sc.to_json()))


# ---- the length prior ---------------------------------------------------------------------------------

def test_length_ratio():
    assert align.length_ratio(np.array([10.0, 20.0]), np.array([30.0, 60.0])) == pytest.approx(3.0)
    assert align.length_ratio(np.array([10.0]), np.array([30.0]), 0.0) == 1.0
    assert align.length_ratio(np.array([1.0]), np.array([1000.0])) == 10.0  # clipped
    assert align.length_ratio(np.array([0.0]), np.array([5.0])) == 1.0


def test_length_normalisation_aligns_texts_of_other_scale():
    """B's sentences are three times A's length in characters (as English is to Chinese): with raw lengths
    the prior pushes 1-1 pairs into merges; normalised by the overall ratio, the 1-1 path is found."""
    rng = np.random.default_rng(0)
    n = 40
    base = rng.normal(size=(n, 32))
    noise = rng.normal(size=(n, 32)) * 0.3
    va = base / np.linalg.norm(base, axis=1, keepdims=True)
    vb = (base + noise) / np.linalg.norm(base + noise, axis=1, keepdims=True)
    la = rng.integers(8, 30, n).astype(float)
    lb = la * 3 * rng.uniform(0.8, 1.2, n)

    def windows(v, lengths):
        return align.Windows({1: v.astype(np.float32)}, lengths, np.zeros(len(lengths), dtype=int))

    def ones(params):
        beads = align.align(windows(va, la), windows(vb, lb), params)
        return sum(1 for bd in beads if len(bd.a) == 1 and len(bd.b) == 1 and bd.a[0] == bd.b[0])

    assert ones(align.AlignParams()) >= ones(align.AlignParams(length_norm=0.0))
    assert ones(align.AlignParams()) >= n - 2


# ---- the multilingual encoder (the installed package, a few short sentences) ---------------------------

def test_multilingual_encoder_pairs_translations():
    enc = get_encoder(MULTILINGUAL_MODEL)
    zh = ["今天天气很好。", "我喜欢吃苹果。", "火车晚点了两个小时。"]
    en = ["The weather is nice today.", "I like eating apples.", "The train was two hours late."]
    v = enc.encode(zh + en + [""])
    assert v.shape == (7, enc.dim)
    assert np.allclose(np.linalg.norm(v[:6], axis=1), 1.0, atol=1e-3) and not v[6].any()
    sim = v[:3] @ v[3:6].T
    assert (sim.argmax(axis=1) == np.arange(3)).all()  # each sentence is closest to its own translation
    assert enc.cache_key != MULTILINGUAL_MODEL  # keyed by what computed the vectors


def test_multilingual_end_to_end():
    r = compare(ZH, EN_SAME, mode="lines", model=MULTILINGUAL_MODEL)
    _check_cross(r)
    assert [p.type for p in r.pairs] == ["1-1", "1-1", "1-1"]
    assert all(p.cosine is not None and p.cosine > 0.5 for p in r.pairs)
    assert r.settings["model"] == MULTILINGUAL_MODEL
    assert not any("English only" in n for n in r.notes)


# ---- the command line ----------------------------------------------------------------------------------

def test_cli_cross_lingual_run(tmp_path):
    a, b = tmp_path / "a.zh", tmp_path / "b.en"
    a.write_text(ZH, encoding="utf-8")
    b.write_text(EN, encoding="utf-8")
    r = run_cli("score", a, b, "--mode", "aligned", "--model", "hash", "--no-progress")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["corpus"]["bleu"] is None and d["corpus"]["chrf_reason"] and d["languages"]["cross_lingual"]
    assert "not computed" in r.stderr  # the notes, on stderr
    r = run_cli("score", a, b, "--mode", "aligned", "--model", "hash", "--languages", "zh,zh", "--no-progress")
    assert r.returncode == 0 and json.loads(r.stdout)["corpus"]["chrf"] is not None
    r = run_cli("score", a, b, "--languages", "zh", "--model", "hash")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "languages" in r.stderr
    assert "Traceback" not in r.stderr


# ---- the dashboard -------------------------------------------------------------------------------------

def test_dashboard_says_it_in_one_line():
    at = run(app_test("hash", 120), 120)
    at.text_area(key="paste_a").input(ZH)
    at.text_area(key="paste_b").input(EN)
    at.radio(key="mode").set_value("lines")
    run(at, 120)
    infos = [i.value for i in at.info if "not computed" in i.value]
    assert len(infos) == 1 and "zh" in infos[0] and "en" in infos[0]
    # the long note is not repeated as a warning; the hash encoder's warning is shown
    warnings = [w.value for w in at.warning]
    assert not any("are not computed" in w for w in warnings)
    assert any("hash" in w for w in warnings)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Corpus BLEU"].value == "–" and "not computed" in (metrics["Corpus BLEU"].help or "")
    assert metrics["Corpus chrF"].value == "–"
