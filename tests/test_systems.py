"""Several systems against one reference: shared reference segments, paired bootstrap significance,
the `compare` command's JSON contract, formats and errors. The hash encoder keeps these fast."""
from __future__ import annotations

import csv
import io
import json

import pytest

from comparator.core.documents import read_path
from comparator.core.result import Comparison, Pair
from comparator.analysis.systems import (SystemsComparison, compare_systems, flagged, paired_bootstrap, rank_systems,
                                reference_segments)
from conftest import EXAMPLES, run_cli

REF, SYS1, SYS2 = EXAMPLES / "reference.txt", EXAMPLES / "machine.txt", EXAMPLES / "machine2.txt"


@pytest.fixture(autouse=True)
def _private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_COMPARATOR_HISTORY", str(tmp_path / "history.sqlite"))


@pytest.fixture(scope="module")
def sample():
    ref = read_path(str(REF))
    return compare_systems(ref, [("machine", read_path(str(SYS1))), ("machine2", read_path(str(SYS2)))],
                           model="hash", n_samples=200)


@pytest.fixture(scope="module")
def cli_json():
    r = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "200")
    assert r.returncode == 0, r.stderr
    return r.stdout


def _pair(a, b, flag=0.2, furniture=False, chrf=50.0):
    return Pair(a=a, b=b, a_text=" ".join(f"A{i}." for i in a), b_text=" ".join(f"B{j}." for j in b),
                cosine=None, bleu=None, chrf=chrf if a and b else None, flag=1.0 if (not a or not b) and not furniture
                else flag, type="furniture" if furniture else f"{len(a)}-{len(b)}", furniture=furniture)


def _comparison(pairs, n_a, furniture_a=()):
    n_b = 1 + max((j for p in pairs for j in p.b), default=-1)
    return Comparison(a_sentences=[f"A{i}." for i in range(n_a)], b_sentences=[f"B{j}." for j in range(n_b)],
                      pairs=pairs, corpus={"bleu": None, "chrf": None, "mean_cosine": None, "pairs_scored": 0},
                      settings={"mode": "text", "model": "hash"}, a_furniture=list(furniture_a))


def test_segments_join_what_any_system_merged():
    # system 1 merges reference sentences 1 and 2; system 2 merges 3 and 4 and drops 5; 0 is furniture-free
    s1 = _comparison([_pair([0], [0]), _pair([1, 2], [1]), _pair([3], [2]), _pair([4], [3]), _pair([5], [4])], 6)
    s2 = _comparison([_pair([0], [0]), _pair([1], [1]), _pair([2], [2]), _pair([3, 4], [3]), _pair([5], [])], 6)
    assert reference_segments([s1, s2]) == [[0], [1, 2], [3, 4], [5]]
    sc = rank_systems("ref", ["one", "two"], [s1, s2], n_samples=50)
    assert [s.a for s in sc.segments] == [[0], [1, 2], [3, 4], [5]]
    seg = sc.segments[1]
    assert seg.hypotheses == ["B1.", "B1. B2."]  # both systems' text for reference sentences 1-2
    assert sc.segments[3].hypotheses == ["B4.", ""]  # the dropped sentence is an empty hypothesis
    assert sc.segments[3].flag[1] == 1.0 and sc.segments[3].chrf[1] == 0.0


def test_additions_join_the_segment_before_and_furniture_is_left_out():
    pairs = [_pair([], [0]), _pair([0], [1]), _pair([], [2]), _pair([1], [3]), _pair([2], [], furniture=True),
             _pair([], [4], furniture=True)]
    s = _comparison(pairs, 3, furniture_a=[2])
    sc = rank_systems("ref", ["one", "two"], [s, s], n_samples=20)
    assert [seg.a for seg in sc.segments] == [[0], [1]]
    # the headline-like addition before any reference sentence joins the first segment, the other the one before it
    assert sc.segments[0].hypotheses[0] == "B0. B1. B2."
    assert sc.segments[0].pairs[0] == [0, 1, 2]
    assert sc.segments[1].hypotheses[0] == "B3."
    assert flagged(s) == 2  # the two additions (flag 1.0); furniture never counts


def test_nothing_is_lost_from_any_system(sample):
    for k, result in enumerate(sample.systems):
        used = sorted(n for seg in sample.segments for n in seg.pairs[k])
        content = [n for n, p in enumerate(result.pairs) if not p.furniture]
        assert used == content
        joined = " ".join(h for seg in sample.segments for h in [seg.hypotheses[k]] if h)
        assert joined == " ".join(result.pairs[n].b_text for n in content if result.pairs[n].b)


def test_significance_from_sacrebleu(sample):
    s = sample.significance
    assert s["test"] == "paired bootstrap resampling" and s["n_samples"] == 200 and s["seed"] == "12345"
    assert s["baseline"] == "machine" and s["segments"] == len(sample.segments)
    assert "bs:200" in s["bleu_signature"] and "bs:200" in s["chrf_signature"]
    base, other = s["systems"]
    assert base["bleu"]["p_value"] is None and base["chrf"]["p_value"] is None
    assert 0 < other["chrf"]["p_value"] <= 1 and other["bleu"]["ci"] > 0
    # machine2 is the cleaner rendering: it ranks first and the difference is significant
    by_name = {r["system"]: r for r in sample.table}
    assert by_name["machine2"]["rank"] == 1 and by_name["machine"]["rank"] == 2
    assert by_name["machine2"]["chrf"] > by_name["machine"]["chrf"]
    assert by_name["machine2"]["chrf_significant"] is True
    assert by_name["machine"]["flagged"] > by_name["machine2"]["flagged"]
    assert by_name["machine"]["corpus_chrf"] == sample.systems[0].corpus["chrf"]


def test_segment_scores_match_sacrebleu_directly(sample):
    from sacrebleu.metrics import BLEU, CHRF

    from comparator.core.documents import normalise

    refs = [normalise(seg.reference) for seg in sample.segments]
    for k, name in enumerate(sample.names):
        hyps = [normalise(seg.hypotheses[k]) for seg in sample.segments]
        row = next(r for r in sample.table if r["system"] == name)
        assert row["bleu"] == pytest.approx(BLEU().corpus_score(hyps, [refs]).score, abs=1e-4)
        assert row["chrf"] == pytest.approx(CHRF().corpus_score(hyps, [refs]).score, abs=1e-4)


def test_a_system_identical_to_the_baseline_is_not_significant():
    out = paired_bootstrap(["a", "b", "c"], [["x y z", "p q"], ["x y z", "p q"], ["x y", "r s"]],
                           ["x y z", "p q"], n_samples=100)
    b = out["systems"][1]
    assert b["identical_to_baseline"] and b["chrf"]["p_value"] == 1.0 and b["bleu"]["p_value"] == 1.0
    assert out["systems"][2]["identical_to_baseline"] is False


def test_most_disputed_segment_is_the_dropped_sentence(sample):
    top = sample.segments[sample.most_disputed(1)[0]]
    assert "Construction could begin" in top.reference  # machine.txt dropped it; machine2 kept it
    assert top.hypotheses[0] == "" and top.hypotheses[1]
    assert top.disagreement == max(s.disagreement for s in sample.segments)


def test_json_contract_per_system(cli_json):
    d = json.loads(cli_json)
    assert {"systems", "significance", "table", "segments", "settings"} <= set(d)
    assert [s["name"] for s in d["systems"]] == ["machine", "machine2"]
    for s in d["systems"]:
        assert {"name", "corpus", "pairs", "a_sentences", "b_sentences"} <= set(s)
        assert {"bleu", "chrf"} <= set(s["corpus"])
        assert [i for p in s["pairs"] for i in p["a"]] == list(range(len(s["a_sentences"])))
        assert [j for p in s["pairs"] for j in p["b"]] == list(range(len(s["b_sentences"])))
        # each system is exactly what `score` writes for it
        one = run_cli("score", REF, SYS1 if s["name"] == "machine" else SYS2, "--model", "hash")
        assert json.loads(one.stdout) == {k: v for k, v in s.items() if k != "name"}
    assert SystemsComparison.from_json(cli_json).to_json() == cli_json


def test_same_input_same_output(cli_json):
    again = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "200")
    assert again.stdout == cli_json


def test_names_formats_and_output_file(tmp_path):
    r = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "100", "--format", "tsv",
                "--names", "old MT", "new MT")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout), delimiter="\t"))
    assert [x["system"] for x in rows] == ["old MT", "new MT"]
    assert {"rank", "bleu", "bleu_ci", "bleu_p", "chrf", "chrf_ci", "chrf_p", "mean_cosine", "flagged"} <= set(rows[0])
    assert rows[0]["bleu_p"] == "" and float(rows[1]["chrf_p"]) < 0.05
    r = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "100", "--format", "text")
    assert "baseline" in r.stdout and "p=" in r.stdout and "Paired bootstrap resampling" in r.stdout
    out = tmp_path / "systems.html"
    r = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "100", "--format", "html", "-o", out)
    assert r.returncode == 0 and r.stdout == ""
    page = out.read_text("utf-8")
    assert page.startswith("<!doctype html>") and "Where the systems disagree most" in page


def test_user_text_is_escaped_in_html(tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("The cat sat on the mat. It rained all day.", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_text("The cat <script>alert(1)</script> sat. It rained.", encoding="utf-8")
    r = run_cli("compare", ref, bad, ref, "--model", "hash", "--format", "html", "--names", "<b>x</b>", "y")
    assert r.returncode == 0, r.stderr
    assert "<script>" not in r.stdout and "&lt;script&gt;" in r.stdout and "<b>x</b>" not in r.stdout


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    ["compare", str(REF), str(SYS1)],
    ["compare", str(REF), str(SYS1), str(SYS2), "--names", "one"],
    ["compare", str(REF), str(SYS1), "missing.txt"],
    ["compare", str(REF), str(SYS1), str(SYS2), "--bootstrap", "0"],
    ["compare", str(REF), str(SYS1), str(SYS2), "--format", "xml"],
])
def test_bad_usage_is_one_line_exit_2(args):
    _one_line_error(run_cli(*args, "--model", "hash"))
