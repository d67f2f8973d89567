import csv
import io
import json

import pytest

from conftest import EXAMPLES, run_cli

A, B = EXAMPLES / "reference.txt", EXAMPLES / "machine.txt"


@pytest.fixture(scope="module")
def sample_json():
    r = run_cli("score", A, B)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_contract(sample_json):
    d = sample_json
    assert set(d) >= {"a_sentences", "b_sentences", "pairs", "corpus"}
    assert {"bleu", "chrf"} <= set(d["corpus"])
    seen_a = [i for p in d["pairs"] for i in p["a"]]
    seen_b = [j for p in d["pairs"] for j in p["b"]]
    assert seen_a == list(range(len(d["a_sentences"])))
    assert seen_b == list(range(len(d["b_sentences"])))
    for p in d["pairs"]:
        assert p["a_text"] == " ".join(d["a_sentences"][i] for i in p["a"])
        assert p["b_text"] == " ".join(d["b_sentences"][j] for j in p["b"])
        assert isinstance(p["flag"], (int, float))
        if not p["a"] or not p["b"]:
            assert p["cosine"] is None and p["bleu"] is None and p["chrf"] is None
        for side in ("a", "b"):
            for s, e, kind, prob in p[f"{side}_spans"]:
                assert 0 <= s < e <= len(p[f"{side}_text"]) and isinstance(kind, str) and 0.0 <= prob <= 1.0


def test_formats_and_output_file(tmp_path, sample_json):
    for fmt in ("csv", "tsv"):
        r = run_cli("score", A, B, "--format", fmt, "--model", "hash")
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(io.StringIO(r.stdout), delimiter="," if fmt == "csv" else "\t"))
        assert len(rows) == len(sample_json["pairs"])
        assert {"a_text", "b_text", "cosine", "bleu", "chrf", "flag", "a_spans", "b_spans"} <= set(rows[0])
    out = tmp_path / "report.html"
    r = run_cli("score", A, B, "--format", "html", "-o", out, "--model", "hash")
    assert r.returncode == 0 and r.stdout == ""
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Harlow Falls" in html


def test_modes(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("First line. Still first.\nSecond line.\n", encoding="utf-8")
    b.write_text("First line, still first.\nSecond line.\n", encoding="utf-8")
    for mode in ("text", "lines", "aligned"):
        r = run_cli("score", a, b, "--mode", mode, "--model", "hash")
        assert r.returncode == 0, (mode, r.stderr)
        d = json.loads(r.stdout)
        assert d["settings"]["mode"] == mode
    d = json.loads(run_cli("score", a, b, "--mode", "aligned", "--model", "hash").stdout)
    assert [(p["a"], p["b"]) for p in d["pairs"]] == [([0], [0]), ([1], [1])]


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [
    ["score", "missing-file.txt", str(B)],
    ["score", str(A)],
    ["score", str(A), str(B), "--mode", "words"],
    ["score", str(A), str(B), "--format", "xml"],
    ["frobnicate"],
    [],
    ["score", str(EXAMPLES), str(B)],
])
def test_usage_and_input_errors_exit_2(args):
    _one_line_error(run_cli(*args))


def test_unequal_lines_in_aligned_mode(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n")
    b.write_text("one\n")
    r = run_cli("score", a, b, "--mode", "aligned", "--model", "hash")
    _one_line_error(r)
    assert "equal line counts" in r.stderr


def test_binary_input(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(bytes(range(256)) * 8)
    _one_line_error(run_cli("score", p, B, "--model", "hash"))


def test_bad_model_is_one_line(tmp_path):
    r = run_cli("score", A, B, "--model", str(tmp_path / "no-such-model"), env={"HF_HUB_OFFLINE": "1"})
    _one_line_error(r)
    assert "cannot load model" in r.stderr


def test_progress_bar_on_stderr():
    r = run_cli("score", A, B, "--model", "hash", "--progress")
    assert r.returncode == 0
    assert "score" in r.stderr and "[" in r.stderr and "Traceback" not in r.stderr


def test_stdin_input():
    r = run_cli("score", "-", B, "--model", "hash", stdin=A.read_text(encoding="utf-8"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["a_sentences"][0].startswith("The river town")


def test_result_records_the_mark_threshold(sample_json):
    # scripts tell marks from changes by this line (the contract's 0.5), and the rule that drew it
    from comparator.core.marks import MARK_THRESHOLD, model

    assert sample_json["settings"]["mark_threshold"] == MARK_THRESHOLD == 0.5
    rule = model.load().rule
    assert sample_json["settings"]["mark_rule"] == {"gate": rule.gate, "span": rule.span, "widen": rule.widen,
                                                    "mark_threshold": MARK_THRESHOLD}
    spans = [sp for pair in sample_json["pairs"] for sp in pair["a_spans"] + pair["b_spans"]]
    assert any(sp[3] >= MARK_THRESHOLD for sp in spans) and any(sp[3] < MARK_THRESHOLD for sp in spans)


def test_token_vectors_are_the_default_and_can_be_skipped(sample_json):
    assert sample_json["settings"]["token_flag"] is True
    from comparator.cli.main import build_parser

    p = build_parser()
    assert p.parse_args(["score", "a", "b"]).token_flag is True
    assert p.parse_args(["score", "a", "b", "--token-flag"]).token_flag is True  # the old switch still works
    for cmd in (["score", "a", "b"], ["compare", "r", "s1", "s2"], ["batch", "m.tsv"]):
        assert p.parse_args([*cmd, "--no-token-vectors"]).token_flag is False


@pytest.mark.parametrize("which", ["a", "b", "b-other-spelling"])
def test_output_path_naming_an_input_is_refused(tmp_path, which):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("The river rose in the night.\n", encoding="utf-8")
    b.write_text("The river rose during the night.\n", encoding="utf-8")
    target = {"a": a, "b": b, "b-other-spelling": tmp_path / "." / "b.txt"}[which]
    before = (a.read_bytes(), b.read_bytes())
    for cmd in (["score", a, b], ["compare", a, b, a]):
        r = run_cli(*cmd, "--model", "hash", "-o", target)
        assert r.returncode == 2, (cmd, r.stderr)
        assert r.stderr.count("\n") == 1 and "input" in r.stderr and "Traceback" not in r.stderr
        assert (a.read_bytes(), b.read_bytes()) == before


def test_missing_span_model_is_one_line(tmp_path):
    gone = tmp_path / "no-such-span-model.json"
    r = run_cli("score", A, B, "--model", "hash", env={"COMPARATOR_SPAN_MODEL": str(gone)})
    _one_line_error(r)
    assert str(gone) in r.stderr and "span model" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    r = run_cli("score", A, B, "--model", "hash", env={"COMPARATOR_SPAN_MODEL": str(bad)})
    _one_line_error(r)
    assert str(bad) in r.stderr
