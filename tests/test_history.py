"""Run history: where the database is, saving from score / compare / batch, listing, showing, and the
comparison of two runs of the same texts. Every test uses a database under tmp_path, never the user's."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from comparator import compare
from comparator.analysis import history as hist
from comparator.core.errors import InputError
from conftest import EXAMPLES, run_cli

REF, SYS1, SYS2 = EXAMPLES / "reference.txt", EXAMPLES / "machine.txt", EXAMPLES / "machine2.txt"


@pytest.fixture(autouse=True)
def db(tmp_path, monkeypatch):
    """The history path for this test: in tmp_path, set through the environment for in-process and CLI runs."""
    path = tmp_path / "history.sqlite"
    monkeypatch.setenv("MT_COMPARATOR_HISTORY", str(path))
    return path


@pytest.fixture(scope="module")
def results(sample_texts):
    ref = sample_texts[0]
    return (compare(ref, sample_texts[1], model="hash"),
            compare(ref, (EXAMPLES / "machine2.txt").read_text("utf-8"), model="hash"))


def test_where_the_database_is(tmp_path, monkeypatch, db):
    assert hist.resolve_path() == str(db)
    assert hist.resolve_path(str(tmp_path / "x.sqlite")) == str(tmp_path / "x.sqlite")  # --history wins
    monkeypatch.delenv("MT_COMPARATOR_HISTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if os.name == "posix" and not hist.sys.platform == "darwin":
        assert hist.resolve_path() == str(tmp_path / "data" / "mt-comparator" / "history.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hist.default_path().startswith(str(tmp_path / "home"))


def test_save_list_get_and_no_duplicates(db, results):
    one, two = results
    with hist.History() as h:
        id1, new1 = h.save("score", one.to_dict(), [{"role": "reference", "name": "r", "sha256": "x"}])
        id2, new2 = h.save("score", two.to_dict())
        again, new3 = h.save("score", one.to_dict())
        assert (new1, new2, new3) == (True, True, False) and again == id1
        runs = h.runs()
        assert [r["id"] for r in runs] == [id2, id1]  # newest first
        assert runs[1]["corpus"]["chrf"] == one.corpus["chrf"] and runs[1]["inputs"][0]["sha256"] == "x"
        assert runs[0]["reference_key"] == runs[1]["reference_key"]
        assert h.result_text(id1) == one.to_json()  # the JSON exactly as written
        assert h.get(id2)["result"] == json.loads(two.to_json())
        with pytest.raises(InputError, match="no run 99"):
            h.get(99)
    assert os.path.exists(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA user_version").fetchone()[0] == hist.SCHEMA


def test_a_file_that_is_not_a_database_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError, match="not a history database"):
        hist.History(str(bad))


def test_diff_of_two_runs_of_the_same_text(results):
    one, two = results
    d = hist.diff_results(one, two, "run 1", "run 2")
    content = [i for i in range(len(one.a_sentences)) if i not in set(one.a_furniture)]
    assert [s["a"] for s in d["sentences"]] == content  # one row per reference sentence
    assert sum(d["counts"].values()) == len(content)
    assert d["corpus"]["chrf"]["delta"] == pytest.approx(two.corpus["chrf"] - one.corpus["chrf"], abs=1e-4)
    assert d["corpus"]["flagged"]["new"] < d["corpus"]["flagged"]["old"]
    dropped = next(s for s in d["sentences"] if "Construction could begin" in s["reference"])
    assert dropped["old_text"] == "" and dropped["old_chrf"] == 0.0 and dropped["change"] == "better"
    assert d["counts"]["better"] > d["counts"]["worse"]
    assert not d["same_rendering"] and d["same_settings"]
    same = hist.diff_results(one, one)
    assert set(s["change"] for s in same["sentences"]) == {"same"} and same["same_rendering"]
    assert all(v["delta"] == 0 for v in same["corpus"].values())


def test_diff_refuses_runs_of_different_references(results):
    other = compare("A different text. Nothing alike.", "Another text.", model="hash")
    with pytest.raises(InputError, match="not of the same reference"):
        hist.diff_results(results[0], other)


def test_score_compare_and_batch_save_and_history_commands(tmp_path, db):
    out = tmp_path / "one.json"
    r = run_cli("score", REF, SYS1, "--model", "hash", "--save", "-o", out)
    assert r.returncode == 0 and "saved as run 1" in r.stderr and str(db) in r.stderr
    r = run_cli("score", REF, SYS1, "--model", "hash", "--save", "-o", out)
    assert "already saved as run 1" in r.stderr
    r = run_cli("score", REF, SYS2, "--model", "hash", "--save", "--history", db)  # the flag, same file
    assert "saved as run 2" in r.stderr
    r = run_cli("compare", REF, SYS1, SYS2, "--model", "hash", "--bootstrap", "100", "--save", "-o",
                tmp_path / "c.json")
    assert r.returncode == 0 and "saved as run 3" in r.stderr
    texts = tmp_path / "t"
    texts.mkdir()
    for f in (REF, SYS1, SYS2):
        shutil.copy(f, texts / f.name)
    (texts / "m.tsv").write_text("a\treference.txt\tmachine.txt\nb\treference.txt\tmachine2.txt\n", "utf-8")
    r = run_cli("batch", texts / "m.tsv", "--model", "hash", "--save")
    assert r.returncode == 0 and "saved 2 new runs (4..5" in r.stderr
    r = run_cli("batch", texts / "m.tsv", "--model", "hash", "--save")  # skipped pairs are not saved twice
    assert "saved 0 new runs, 2 already saved" in r.stderr

    lst = run_cli("history", "list")
    assert lst.returncode == 0, lst.stderr
    lines = lst.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "created", "kind", "source"]
    assert [ln.split()[0] for ln in lines[1:]] == ["5", "4", "3", "2", "1"]
    assert "best: machine2" in lst.stdout
    js = json.loads(run_cli("history", "list", "--format", "json", "--kind", "batch").stdout)
    assert [x["label"] for x in js] == ["b", "a"] and len(js[0]["inputs"][0]["sha256"]) == 64
    assert run_cli("history").stdout == lst.stdout  # list is the default

    show = run_cli("history", "show", "1", "--format", "json")
    assert show.stdout == out.read_text("utf-8")
    assert run_cli("history", "show", "3", "--format", "json").stdout == (tmp_path / "c.json").read_text("utf-8")
    text = run_cli("history", "show", "1").stdout
    assert "run 1: score from cli" in text and "sha256" in text
    assert "Paired bootstrap resampling" in run_cli("history", "show", "3").stdout

    diff = run_cli("history", "diff", "1", "2")
    assert diff.returncode == 0, diff.stderr
    assert "better" in diff.stdout and "Construction could begin" in diff.stdout
    d = json.loads(run_cli("history", "diff", "1", "2", "--format", "json").stdout)
    assert d["old"] == f"run 1 ({SYS1})" and d["new"] == f"run 2 ({SYS2})"
    # a system of a compare run against a score run, and two systems of the same compare run
    d2 = json.loads(run_cli("history", "diff", "3:machine", "2", "--format", "json").stdout)
    assert d2["counts"]["better"] == d["counts"]["better"]
    d3 = json.loads(run_cli("history", "diff", "3", "3:machine2", "--format", "json").stdout)
    assert d3["counts"] == d["counts"]
    assert json.loads(run_cli("history", "diff", "4", "5", "--format", "json").stdout)["counts"] == d["counts"]


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_history_errors(tmp_path, db):
    _one_line_error(run_cli("history", "list"))  # nothing saved yet: no database
    assert not db.exists()
    other = tmp_path / "o.txt"
    other.write_text("Something else entirely. With two sentences.", "utf-8")
    assert run_cli("score", REF, SYS1, "--model", "hash", "--save", "-o", tmp_path / "x").returncode == 0
    assert run_cli("score", other, SYS1, "--model", "hash", "--save", "-o", tmp_path / "y").returncode == 0
    _one_line_error(run_cli("history", "show", "7"))
    _one_line_error(run_cli("history", "show", "x"))
    r = run_cli("history", "diff", "1", "2")
    _one_line_error(r)
    assert "not of the same reference" in r.stderr
    _one_line_error(run_cli("history", "diff", "1:machine", "1"))
    _one_line_error(run_cli("history", "diff", "1", "2", "--history", tmp_path / "none.sqlite"))
