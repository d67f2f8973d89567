"""The span model (comparator.core.marks.model): the packaged file, the tree evaluation, p on every span,
the flag as expected severity, and a missing or unreadable model file. No encoder model needed."""
import json
import os

import numpy as np
import pytest

from comparator.core import metrics
from comparator.core.errors import InputError
from comparator.core.marks import MARK_THRESHOLD, model, phrasing


def _score(a, b, tokens=None, cosine=0.9):
    s = metrics.sentence_scores(a, b)
    sa, sb = phrasing.spans(a, b)
    return phrasing.score_pairs([(a, b, sa, sb, s.chrf, cosine, tokens)])[0][:3]


def test_packaged_model_is_small_and_says_where_it_comes_from():
    path = model.model_path()
    assert os.path.getsize(path) < 1_000_000
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    assert data["features"] == list(model.FEATURES)
    assert "Apache 2.0" in data["meta"]["data"] and data["meta"]["script"] == "bench/train_marks.py"
    m = model.load()
    assert 0.0 < m.rule.span < 1.0 and 0.0 <= m.rule.gate < 1.0 and m.rule.widen >= -1
    assert set(m.severity) == set(model.KINDS) and all(1.0 <= v <= 5.0 for v in m.severity.values())


def _tiny(threshold=0.5):
    # one tree: feature 0 <= 0.5 -> leaf value -2, else +2; init 0, rate 1
    n = len(model.FEATURES)
    return model.SpanModel({
        "features": list(model.FEATURES), "init": 0.0, "learning_rate": 1.0,
        "trees": {"feature": [[0, -1, -1]], "threshold": [[0.5, 0, 0]], "left": [[1, 1, 2]],
                  "right": [[2, 1, 2]], "value": [[0.0, -2.0, 2.0]], "depth": 3},
        "severity": {k: 1.0 for k in model.KINDS}, "pair": {"spans": 1.0}, "threshold": threshold,
    }), n


def test_tree_evaluation():
    m, n = _tiny()
    x = np.zeros((3, n))
    x[1, 0] = 1.0
    x[2, 0] = 0.5
    p = m.p(x)
    assert p[0] == pytest.approx(1 / (1 + np.exp(2))) and p[1] == pytest.approx(1 / (1 + np.exp(-2)))
    assert p[2] == pytest.approx(p[0])  # <= goes left, as in scikit-learn
    assert len(m.p(np.zeros((0, n)))) == 0


def test_every_span_gets_p_and_nothing_is_dropped():
    a = "The company sold 2,500 cars in March, its best month."
    b = "The company sold 2,050 car in March ,, its most good month."
    sa, sb = phrasing.spans(a, b)
    a4, b4, f = _score(a, b)
    # every difference keeps its span and kind; a mark may grow over the words around it (rule.py), a change not
    for got, given in zip(a4 + b4, sa + sb, strict=True):
        assert len(got) == 4 and 0.0 <= got[3] <= 1.0 and got[2] == given[2]
        if got[3] >= MARK_THRESHOLD:
            assert got[0] <= given[0] and got[1] >= given[1]
        else:
            assert got[:2] == given[:2]
    assert len(a4) == len(sa) and len(b4) == len(sb)
    assert 0.0 < f < 1.0
    # a changed number and doubled punctuation are likelier errors than a light rewording
    _, light, f_light = _score(a, "The company sold 2,500 cars in March, its strongest month.")
    assert max(sp[3] for sp in b4) > max(sp[3] for sp in light) and f > f_light


def test_flag_grows_with_what_is_wrong():
    a = "The minister said on Tuesday that the talks would resume next week."
    same = _score(a, a, cosine=1.0)
    one = _score(a, "The minister said on Tuesday that the talks would resume next month.")
    many = _score(a, "Minister say Tuesday talk will not resume the the week next , .")
    assert same[0] == [] and same[1] == []
    assert same[2] < one[2] < many[2]
    assert same[2] == 0.0  # nothing differs: no expected error
    assert phrasing.flag(a, "", [], [], None) == 1.0


def test_one_sided_sentences_are_whole_marks():
    a4, _, f, sev = phrasing.score_pairs([("Only here.", "", [[0, 10, "omission"]], [], None, None, None)])[0]
    assert f == 1.0 and a4 == [[0, 10, "omission", 1.0]] and sev is None


def test_spans_with_p_keep_it():
    a, b = "One two three.", "One two four."
    sa, sb = phrasing.spans(a, b)
    a4 = [[*sp, 0.01] for sp in sa]
    b4 = [[*sp, 0.99] for sp in sb]
    got = phrasing.score_pairs([(a, b, a4, b4, 50.0, 0.9, None)])[0]
    assert got[0] == a4 and got[1] == b4


def test_without_english_evidence_p_still_comes():
    a = "Le ministre a dit mardi que les négociations reprendraient la semaine prochaine."
    b = "Le ministre a dit mercredi que les négociations reprendront la semaine prochaine."
    _, b4, f = _score(a, b)
    assert b4 and all(0.0 <= sp[3] <= 1.0 for sp in b4) and 0.0 < f < 1.0
    notes = phrasing.evidence_notes([a, "The talks resume next week, the minister said."])
    assert len(notes) == 1 and "1 of 2 pairs" in notes[0] and "English word evidence" in notes[0]
    assert phrasing.evidence_notes(["The talks resume next week, the minister said."]) == []


def test_missing_or_unreadable_model_file(tmp_path):
    gone = tmp_path / "none.json"
    bad = tmp_path / "bad.json"
    bad.write_text('{"features": ["x"]}', encoding="utf-8")
    try:
        for path in (gone, bad):
            model.use_model_file(str(path))
            with pytest.raises(InputError) as e:
                phrasing.flag("One two.", "One three.", *phrasing.spans("One two.", "One three."), 50.0)
            assert str(path) in str(e.value) and "\n" not in str(e.value)
    finally:
        model.use_model_file(None)
    assert MARK_THRESHOLD == 0.5  # the scripted-run contract: p >= 0.5 are marks (rule.py maps q onto it)


def test_engine_spans_carry_p_and_old_files_still_open():
    from comparator.core.pipeline import compare
    from comparator.core.result import Comparison

    r = compare("The talks resume next week. The minister said so.",
                "The talks resume next month. The minister said so so.", model="hash")
    two = [p for p in r.pairs if p.a and p.b]
    assert two and all(len(sp) == 4 for p in two for sp in p.a_spans + p.b_spans)
    assert all(p.severity is not None and p.flag == pytest.approx(p.severity / (p.severity + 5), abs=1e-3)
               for p in two)
    back = Comparison.from_json(r.to_json())
    assert [p.b_spans for p in back.pairs] == [p.b_spans for p in r.pairs]
    old = json.loads(r.to_json())
    for p in old["pairs"]:
        p.pop("severity", None)
        p["a_spans"] = [sp[:3] for sp in p["a_spans"]]
        p["b_spans"] = [sp[:3] for sp in p["b_spans"]]
    loaded = Comparison.from_dict(old)
    assert all(len(sp) == 3 for p in loaded.pairs for sp in p.b_spans) and loaded.pairs[0].severity is None


def test_word_evidence_agrees_with_fluency():
    from comparator.core.marks import fluency

    toks = phrasing.tokens("the cat sat on the mat")
    logp, pmi = model._side_tables(toks, english=True)
    if fluency.tables() is None:
        pytest.skip("no word tables")
    assert all(x is not None for x in logp)
    for (_, _, x), (_, _, y), got in zip(toks, toks[1:], pmi):
        assert got == pytest.approx(fluency.pmi(x, y))
