"""Batch runs: manifests (TSV, JSONL, folder), one result per pair and a summary, bad pairs reported
without stopping the others, re-runs that skip finished pairs, and the Ray engine against the local one."""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import socket

import pytest

from comparator.analysis.batch import EXIT_SOME_FAILED, read_manifest, safe_name
from comparator.core.errors import InputError
from conftest import EXAMPLES, ROOT, run_cli

ENV = {"PYTHONPATH": str(ROOT)}


@pytest.fixture(autouse=True)
def _private_history(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_COMPARATOR_HISTORY", str(tmp_path / "history.sqlite"))


@pytest.fixture
def texts(tmp_path):
    """A folder with the sample reference, its two renderings and a few small texts."""
    d = tmp_path / "texts"
    d.mkdir()
    for name in ("reference.txt", "machine.txt", "machine2.txt"):
        shutil.copy(EXAMPLES / name, d / name)
    (d / "small_a.txt").write_text("The cat sat on the mat. It was a sunny day. Everyone was happy.\n", "utf-8")
    (d / "small_b.txt").write_text("The cat sat on a mat. It was a sunny day. Nobody was happy.\n", "utf-8")
    (d / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300))
    return d


def _manifest(texts, rows, name="pairs.tsv", header=True):
    path = texts / name
    lines = (["name\ta\tb"] if header else []) + ["\t".join(r) for r in rows]
    path.write_text("# a comment line\n" + "\n".join(lines) + "\n", "utf-8")
    return path


GOOD = [("sample", "reference.txt", "machine.txt"), ("sample2", "reference.txt", "machine2.txt"),
        ("small", "small_a.txt", "small_b.txt")]


def _summary(outdir):
    with open(outdir / "summary.tsv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_tsv_batch_writes_one_result_per_pair_and_a_summary(texts, tmp_path):
    man = _manifest(texts, GOOD)
    out = tmp_path / "out"
    r = run_cli("batch", man, "-o", out, "--model", "hash")
    assert r.returncode == 0, r.stderr
    rows = _summary(out)
    assert [x["name"] for x in rows] == ["sample", "sample2", "small"]
    assert all(x["status"] == "done" for x in rows)
    for x in rows:
        data = json.loads((out / x["result"]).read_text("utf-8"))
        assert float(x["chrf"]) == data["corpus"]["chrf"] and float(x["bleu"]) == data["corpus"]["bleu"]
        assert int(x["a_sentences"]) == len(data["a_sentences"])
    # a pair's result is exactly what `score` writes for the same files and names
    score = run_cli("score", "reference.txt", "machine.txt", "--model", "hash", cwd=texts, env=ENV)
    assert (out / "pairs" / "sample.json").read_text("utf-8") == score.stdout
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    assert summary["counts"] == {"done": 3} and summary["engine"] == "local"
    assert len(summary["pairs"][0]["a_sha256"]) == 64
    assert "3 done, 0 skipped" in r.stderr


def test_one_bad_pair_does_not_stop_the_batch(texts, tmp_path):
    rows = [GOOD[0], ("missing", "reference.txt", "nowhere.txt"), ("binary", "reference.txt", "photo.png"),
            ("sample", "small_a.txt", "small_b.txt"), GOOD[2]]
    man = _manifest(texts, rows)
    with open(man, "a", encoding="utf-8") as fh:
        fh.write("two\tcolumns\n")
    out = tmp_path / "out"
    r = run_cli("batch", man, "-o", out, "--model", "hash")
    assert r.returncode == EXIT_SOME_FAILED == 3, r.stderr
    got = {(x["name"], x["status"]) for x in _summary(out)}
    assert got == {("sample", "done"), ("missing", "failed"), ("binary", "failed"), ("sample", "failed"),
                   ("small", "done"), ("two", "failed")}
    errors = {x["name"] + x["status"]: x["error"] for x in _summary(out)}
    assert "nowhere.txt: no such file" in errors["missingfailed"]
    assert "binary" in errors["binaryfailed"]
    assert "duplicate name" in errors["samplefailed"]
    assert "expected 3 tab-separated columns" in errors["twofailed"]
    assert "failed: missing: nowhere.txt: no such file" in r.stderr
    assert "2 done, 0 skipped (already done), 4 failed" in r.stderr


def test_rerun_skips_finished_pairs_and_redoes_changed_ones(texts, tmp_path):
    man = _manifest(texts, GOOD)
    out = tmp_path / "out"
    assert run_cli("batch", man, "-o", out, "--model", "hash").returncode == 0
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "pairs").iterdir()}
    again = run_cli("batch", man, "-o", out, "--model", "hash")
    assert again.returncode == 0
    assert [x["status"] for x in _summary(out)] == ["skipped"] * 3
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in (out / "pairs").iterdir()} == before
    assert [x["chrf"] for x in _summary(out)] != ["", "", ""]  # skipped rows keep their scores
    # a changed input is redone, the others stay skipped
    with open(texts / "small_b.txt", "a", encoding="utf-8") as fh:
        fh.write("A sentence added later.\n")
    r = run_cli("batch", man, "-o", out, "--model", "hash")
    assert [x["status"] for x in _summary(out)] == ["skipped", "skipped", "done"]
    assert "A sentence added later." in (out / "pairs" / "small.json").read_text("utf-8")
    # other settings are other results: everything is redone
    r = run_cli("batch", man, "-o", out, "--model", "hash", "--mode", "lines")
    assert r.returncode == 0 and [x["status"] for x in _summary(out)] == ["done"] * 3
    r = run_cli("batch", man, "-o", out, "--model", "hash", "--mode", "lines", "--force")
    assert [x["status"] for x in _summary(out)] == ["done"] * 3


def test_jsonl_and_folder_manifests(texts, tmp_path):
    jl = texts / "pairs.jsonl"
    jl.write_text("\n".join(json.dumps({"name": n, "a": a, "b": b}) for n, a, b in GOOD[1:]) + "\n{not json}\n",
                  "utf-8")
    r = run_cli("batch", jl, "-o", tmp_path / "j", "--model", "hash")
    assert r.returncode == 3
    assert [(x["name"], x["status"]) for x in _summary(tmp_path / "j")] == [
        ("sample2", "done"), ("small", "done"), ("line 3", "failed")]
    folder = tmp_path / "folder"
    folder.mkdir()
    shutil.copy(texts / "small_a.txt", folder / "one.a.txt")
    shutil.copy(texts / "small_b.txt", folder / "one.b.txt")
    shutil.copy(texts / "reference.txt", folder / "two.a.txt")
    shutil.copy(texts / "machine2.txt", folder / "two.b.txt")
    shutil.copy(texts / "reference.txt", folder / "lonely.a.txt")
    (folder / "notes.md").write_text("ignored", "utf-8")
    r = run_cli("batch", folder, "--model", "hash")  # default output folder: MANIFEST-results
    assert r.returncode == 3
    rows = _summary(tmp_path / "folder-results")
    assert [(x["name"], x["status"]) for x in rows] == [("lonely", "failed"), ("one", "done"), ("two", "done")]
    assert rows[0]["error"] == "lonely.b.txt is missing"


def test_manifest_reader_resolves_paths_relative_to_the_manifest(texts):
    items = read_manifest(str(_manifest(texts, GOOD, header=False)))
    assert [i.name for i in items] == ["sample", "sample2", "small"]
    assert all(os.path.isabs(i.a_path) and os.path.exists(i.b_path) for i in items)
    assert safe_name("../../etc/passwd") == "etc_passwd" and safe_name("a b/c") == "a_b_c"
    with pytest.raises(InputError):
        read_manifest(str(texts / "nope.tsv"))
    empty = texts / "empty.tsv"
    empty.write_text("# nothing\n\n", "utf-8")
    with pytest.raises(InputError, match="no pairs"):
        read_manifest(str(empty))


def test_names_cannot_escape_the_output_folder(texts, tmp_path):
    man = _manifest(texts, [("../../escape", "small_a.txt", "small_b.txt")])
    out = tmp_path / "out"
    assert run_cli("batch", man, "-o", out, "--model", "hash").returncode == 0
    assert [p.name for p in (out / "pairs").iterdir()] == ["escape.json"]
    assert not (tmp_path / "escape.json").exists()


def test_progress_bar_on_stderr(texts, tmp_path):
    r = run_cli("batch", _manifest(texts, GOOD), "-o", tmp_path / "out", "--model", "hash", "--progress")
    assert r.returncode == 0
    assert "batch" in r.stderr and "3/3" in r.stderr and "#" in r.stderr


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_usage_errors(texts, tmp_path):
    man = _manifest(texts, GOOD)
    _one_line_error(run_cli("batch", texts / "nope.tsv"))
    _one_line_error(run_cli("batch", man, "--workers", "2", "--model", "hash"))
    _one_line_error(run_cli("batch", man, "--engine", "spark"))
    _one_line_error(run_cli("batch", man, "-o", tmp_path / "x", "--model", "/no/such/model"))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")


@needs_ray
def test_ray_that_cannot_start_is_one_line_exit_2(texts, tmp_path):
    r = run_cli("batch", _manifest(texts, GOOD), "-o", tmp_path / "out", "--model", "hash", "--engine", "ray",
                "--ray-address", f"127.0.0.1:{_closed_port()}")
    _one_line_error(r)
    assert "cannot start Ray" in r.stderr


@needs_ray
def test_ray_engine_gives_the_local_engines_results(texts, tmp_path):
    rows = GOOD + [("swapped", "machine.txt", "reference.txt"), ("between", "machine.txt", "machine2.txt"),
                   ("bad", "reference.txt", "photo.png")]
    man = _manifest(texts, rows)
    local, ray = tmp_path / "local", tmp_path / "ray"
    r1 = run_cli("batch", man, "-o", local, "--model", "hash")
    r2 = run_cli("batch", man, "-o", ray, "--model", "hash", "--engine", "ray", "--workers", "2")
    assert r1.returncode == r2.returncode == 3, r2.stderr
    assert "with the ray engine" in r2.stderr
    files = sorted(p.name for p in (local / "pairs").iterdir())
    assert files == sorted(p.name for p in (ray / "pairs").iterdir()) and len(files) == 5
    for name in files:
        assert (local / "pairs" / name).read_bytes() == (ray / "pairs" / name).read_bytes()
    drop = {"seconds"}
    assert [{k: v for k, v in x.items() if k not in drop} for x in _summary(local)] == \
        [{k: v for k, v in x.items() if k not in drop} for x in _summary(ray)]
    # the local engine scored in one process; on Ray both workers took pairs
    workers = [{x.get("worker") for x in json.loads((d / "summary.json").read_text("utf-8"))["pairs"]
                if x["status"] == "done"} for d in (local, ray)]
    assert len(workers[0]) == 1 and len(workers[1]) == 2


def test_loopback_cluster_addresses_stay_on_loopback():
    from comparator.analysis.batch import _is_loopback

    assert _is_loopback("127.0.0.1:6379") and _is_loopback("ray://localhost:10001") and _is_loopback("[::1]:6379")
    assert not _is_loopback("10.0.0.5:6379") and not _is_loopback("ray://head.example:10001")
