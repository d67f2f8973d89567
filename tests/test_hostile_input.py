"""Hostile and unlucky input, second round: nothing hangs, nothing is overwritten, caches heal, saved
results are checked (issue 16). The scripted cases run the CLI in a subprocess with the hash model; the
caches are under tmp_path; the one case that exports the ONNX model again is marked as the slow one."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from comparator import compare
from comparator.analysis import history as hist
from comparator.analysis.systems import SystemsComparison, compare_systems
from comparator.core import documents, validate
from comparator.core.documents import MAX_BYTES, read_bytes, read_path
from comparator.core.embed.encoder import EmbeddingStore, HashEncoder
from comparator.core.errors import InputError
from comparator.core.marks.phrasing import SPAN_KINDS
from comparator.core.result import Comparison

from conftest import ROOT, run_cli
from mutations import as_bytes, mutate

EX = ROOT / "examples"
REF, SYS1, SYS2 = EX / "reference.txt", EX / "machine.txt", EX / "machine2.txt"
HASH = ("--model", "hash")


def _one_line_error(r, *words: str) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = r.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def texts(tmp_path):
    d = tmp_path / "texts"
    d.mkdir()
    for f in (REF, SYS1, SYS2):
        shutil.copy(f, d / f.name)
    return d


@pytest.fixture
def env(tmp_path):
    """A private history and cache for each test; the package found from any working folder."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"MT_COMPARATOR_HISTORY": str(tmp_path / "history.sqlite"), "MT_COMPARATOR_CACHE": str(tmp_path / "cache"),
            "PYTHONPATH": path}


# ---- reading is bounded --------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null", "/dev/full"])
def test_devices_are_refused_before_reading(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    start = time.monotonic()
    with pytest.raises(InputError, match="is a device") as e:
        read_path(device)
    assert time.monotonic() - start < 1 and "\n" not in str(e.value)


def test_score_from_dev_zero_is_refused_quickly(env):
    start = time.monotonic()
    r = run_cli("score", "/dev/zero", SYS1, *HASH, env=env)
    _one_line_error(r, "/dev/zero", "device")
    assert time.monotonic() - start < 60  # the process start-up; before, it never returned


def test_stdin_that_is_a_device_is_refused(env):
    with open("/dev/zero", "rb") as zero:
        r = subprocess.run([sys.executable, "-m", "comparator", "score", "-", str(SYS1), *HASH], stdin=zero,
                           capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=120)
    _one_line_error(r, "stdin", "device")


def test_an_endless_pipe_on_stdin_is_refused_at_the_limit(env):
    # `yes |`: an endless writer; refused once the limit is passed, not after reading all of it
    writer = subprocess.Popen([sys.executable, "-c", "import sys\nwhile True: sys.stdout.buffer.write(b'y\\n' * 65536)"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        r = subprocess.run([sys.executable, "-m", "comparator", "score", "-", str(SYS1), *HASH], stdin=writer.stdout,
                           capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=120)
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    _one_line_error(r, "stdin", "limit")


def _fifo(tmp_path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    p = tmp_path / "pipe"
    os.mkfifo(p)
    return p


def test_a_named_pipe_with_an_endless_writer_reads_at_most_the_limit(tmp_path):
    fifo = _fifo(tmp_path)
    written = [0]

    def write():
        block = b"word " * 13107  # 64 KiB
        try:
            with open(fifo, "wb", buffering=0) as fh:
                while True:
                    written[0] += fh.write(block)
        except (BrokenPipeError, OSError):
            pass

    t = threading.Thread(target=write, daemon=True)
    t.start()
    with pytest.raises(InputError, match="limit"):
        read_bytes(str(fifo))
    t.join(10)
    assert not t.is_alive()
    # what the writer got rid of: what was read (limit + 1 byte) and at most a pipe buffer or two
    assert MAX_BYTES < written[0] <= MAX_BYTES + 1 + 4 * 65536 * 2


def test_a_named_pipe_nothing_writes_to_does_not_hang(tmp_path, monkeypatch):
    fifo = _fifo(tmp_path)
    monkeypatch.setattr(documents, "PIPE_WAIT", 0.5)
    start = time.monotonic()
    with pytest.raises(InputError, match="a named pipe that nothing writes to"):
        read_path(str(fifo))
    assert time.monotonic() - start < 5


def test_a_named_pipe_with_a_writer_is_read(tmp_path):
    fifo = _fifo(tmp_path)

    def write():
        time.sleep(0.3)  # the writer comes after the reader opened the pipe
        with open(fifo, "wb") as fh:
            fh.write("A short text. Two sentences.\n".encode())

    t = threading.Thread(target=write, daemon=True)
    t.start()
    assert read_path(str(fifo)).text == "A short text. Two sentences.\n"
    t.join(5)


def test_a_file_over_the_limit_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(10 * MAX_BYTES)  # sparse: nothing to read would be quick either, but it is not read
    with pytest.raises(InputError, match="over the 20 MB limit"):
        read_bytes(str(big))


def test_read_bytes_reads_at_most_the_limit_plus_one(monkeypatch):
    asked = []

    class Endless:
        def read(self, n=-1):
            asked.append(n)
            return b"x" * (n if n >= 0 else 10 ** 9)

        def fileno(self):
            raise OSError("no descriptor")

    class Stdin:
        buffer = Endless()

    monkeypatch.setattr(sys, "stdin", Stdin())
    with pytest.raises(InputError, match="stdin: more than the 20 MB limit"):
        read_bytes("-")
    assert asked == [MAX_BYTES + 1]


def test_batch_pairs_from_devices_and_dead_pipes_fail_and_the_others_are_done(tmp_path, texts, monkeypatch, env):
    fifo = _fifo(tmp_path)
    manifest = texts / "m.tsv"
    manifest.write_text(f"good\treference.txt\tmachine.txt\nzero\t/dev/zero\tmachine.txt\n"
                        f"pipe\treference.txt\t{fifo}\n", "utf-8")
    r = run_cli("batch", manifest, *HASH, env=env)  # the dead pipe costs its wait (PIPE_WAIT), once
    assert r.returncode == 3, r.stderr
    summary = json.loads((texts / "m-results" / "summary.json").read_text("utf-8"))
    status = {p["name"]: (p["status"], p["error"]) for p in summary["pairs"]}
    assert status["good"][0] == "done"
    assert status["zero"][0] == "failed" and "device" in status["zero"][1]
    assert status["pipe"][0] == "failed" and "nothing writes to" in status["pipe"][1]


def test_a_terminal_on_standard_input_is_read_as_typed(env):
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "comparator", "score", "-", str(SYS1), *HASH], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **env})
        os.close(slave)
        os.write(master, b"The river town opened a flood wall. It was built fast.\n\x04")  # ^D ends the input
        out, err = p.communicate(timeout=120)
    finally:
        os.close(master)
    assert p.returncode == 0, err
    assert json.loads(out)["a_sentences"] == ["The river town opened a flood wall.", "It was built fast."]


# ---- standard input once -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [("score", "-", "-"), ("compare", "-", "-", str(SYS2)),
                                  ("compare", str(REF), "-", "-"), ("score", "-", "/dev/stdin")])
def test_two_inputs_from_standard_input_are_refused(argv, env):
    r = run_cli(*argv, *HASH, stdin=REF.read_text("utf-8"), env=env)
    _one_line_error(r, "standard input")


def test_one_input_from_standard_input_is_fine(env):
    r = run_cli("score", "-", SYS1, *HASH, stdin=REF.read_text("utf-8"), env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["settings"]["a_name"] == "stdin"


# ---- no output is an input -----------------------------------------------------------------------------

def _links(texts: Path) -> dict[str, Path]:
    (texts / "link.txt").symlink_to(texts / "reference.txt")
    os.link(texts / "reference.txt", texts / "hard.txt")
    (texts / "sub").mkdir()
    return {"same": texts / "reference.txt", "symlink": texts / "link.txt", "hard link": texts / "hard.txt",
            "other spelling": texts / "sub" / ".." / "reference.txt"}


@pytest.mark.parametrize("command", ["score", "compare"])
@pytest.mark.parametrize("how", ["same", "symlink", "hard link", "other spelling", "relative"])
def test_an_output_that_is_an_input_is_refused(texts, env, command, how):
    target = "reference.txt" if how == "relative" else _links(texts)[how]
    before = (texts / "reference.txt").read_bytes()
    inputs = ["reference.txt", "machine.txt"] + (["machine2.txt"] if command == "compare" else [])
    r = run_cli(command, *inputs, *HASH, "-o", target, cwd=texts, env=env)
    _one_line_error(r, "is also an input", "overwritten")
    assert (texts / "reference.txt").read_bytes() == before


def test_compare_output_over_a_system_is_refused(texts, env):
    before = (texts / "machine2.txt").read_bytes()
    r = run_cli("compare", "reference.txt", "machine.txt", "machine2.txt", *HASH, "-o", "machine2.txt",
                cwd=texts, env=env)
    _one_line_error(r, "machine2.txt", "is also an input")
    assert (texts / "machine2.txt").read_bytes() == before


def test_standard_output_appended_to_an_input_is_refused(texts, env):
    before = (texts / "reference.txt").read_bytes()
    with open(texts / "reference.txt", "ab") as out:
        r = subprocess.run([sys.executable, "-m", "comparator", "score", "reference.txt", "machine.txt", *HASH],
                           stdout=out, stderr=subprocess.PIPE, text=True, cwd=texts, env={**os.environ, **env},
                           timeout=120)
    _one_line_error(r, "standard output is also an input")
    assert (texts / "reference.txt").read_bytes() == before


def test_the_run_history_is_neither_an_output_nor_saved_over_an_input(texts, env, tmp_path):
    assert run_cli("score", "reference.txt", "machine.txt", *HASH, "--save", cwd=texts, env=env).returncode == 0
    db = Path(env["MT_COMPARATOR_HISTORY"])
    before = db.read_bytes()
    _one_line_error(run_cli("score", "reference.txt", "machine.txt", *HASH, "-o", db, cwd=texts, env=env),
                    "is the run history")
    _one_line_error(run_cli("score", "reference.txt", "machine.txt", *HASH, "--save", "-o", db, cwd=texts,
                            env=env), "is the run history")
    _one_line_error(run_cli("history", "show", "1", "--format", "json", "-o", db, env=env), "is the run history")
    with open(db, "ab") as out:
        r = subprocess.run([sys.executable, "-m", "comparator", "history", "list"], stdout=out,
                           stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, **env}, timeout=120)
    _one_line_error(r, "standard output is the run history")
    assert db.read_bytes() == before
    ref = (texts / "reference.txt").read_bytes()
    _one_line_error(run_cli("score", "reference.txt", "machine.txt", *HASH, "--save", "--history",
                            "reference.txt", cwd=texts, env=env), "is also an input")
    assert (texts / "reference.txt").read_bytes() == ref


def test_history_exports_go_to_a_file(env, tmp_path):
    assert run_cli("score", REF, SYS1, *HASH, "--save", env=env).returncode == 0
    out = tmp_path / "runs.tsv"
    r = run_cli("history", "list", "--format", "tsv", "-o", out, env=env)
    assert r.returncode == 0 and r.stdout == "" and out.read_text("utf-8").startswith("id\t")


def test_batch_results_that_would_overwrite_an_input_are_refused(texts, env):
    out = texts / "out"
    (out / "pairs").mkdir(parents=True)
    victim = out / "pairs" / "x.json"
    victim.write_text("A text the user keeps here. It is an input.\n", "utf-8")
    manifest = texts / "m.tsv"
    manifest.write_text(f"x\t{victim}\tmachine.txt\ny\treference.txt\tmachine.txt\n", "utf-8")
    before = victim.read_bytes()
    _one_line_error(run_cli("batch", manifest, *HASH, "-o", out, env=env), "x.json", "is also an input")
    assert victim.read_bytes() == before and not (out / "summary.tsv").exists()


def test_batch_summary_over_its_manifest_is_refused(texts, env):
    out = texts / "out"
    out.mkdir()
    manifest = out / "summary.tsv"
    manifest.write_text("a\t../reference.txt\t../machine.txt\n", "utf-8")
    before = manifest.read_bytes()
    _one_line_error(run_cli("batch", manifest, *HASH, "-o", out, env=env), "is also an input")
    assert manifest.read_bytes() == before


def test_batch_into_its_own_input_folder_is_refused(texts, env):
    shutil.copy(texts / "reference.txt", texts / "one.a.txt")
    shutil.copy(texts / "machine.txt", texts / "one.b.txt")
    _one_line_error(run_cli("batch", texts, *HASH, "-o", texts, env=env), "is also an input")
    assert not (texts / "summary.tsv").exists()


def test_batch_saving_into_an_input_is_refused(texts, env):
    manifest = texts / "m.tsv"
    manifest.write_text("a\treference.txt\tmachine.txt\n", "utf-8")
    before = (texts / "machine.txt").read_bytes()
    _one_line_error(run_cli("batch", manifest, *HASH, "--save", "--history", texts / "machine.txt", env=env),
                    "is also an input")
    assert (texts / "machine.txt").read_bytes() == before


# ---- caches heal ---------------------------------------------------------------------------------------

def _score_with_store(path: Path) -> tuple[Comparison, EmbeddingStore | None]:
    enc = HashEncoder()
    enc.use_disk_cache(str(path))
    try:
        result = compare(REF.read_text("utf-8"), SYS1.read_text("utf-8"), encoder=enc, model="hash")
        return result, enc.store
    finally:
        enc.close_disk_cache()


def _without_notes(result: Comparison) -> dict:
    d = result.to_dict()
    d.pop("notes")
    return d


def _damage(path: Path, how: str) -> None:
    if how == "garbage":
        path.write_bytes(b"not a database at all " * 500)
    elif how == "cut short":
        os.truncate(path, 5000)
    elif how == "pages overwritten":
        with open(path, "r+b") as fh:
            fh.seek(100)
            fh.write(os.urandom(8000))
    elif how == "a folder in its place":
        path.unlink()
        (path / "x").mkdir(parents=True)
    elif how == "empty header":
        with open(path, "r+b") as fh:
            fh.write(b"\0" * 100)


@pytest.mark.parametrize("how", ["garbage", "cut short", "pages overwritten", "a folder in its place",
                                 "empty header"])
def test_a_damaged_vector_store_is_moved_aside_and_the_result_is_the_same(tmp_path, how):
    store = tmp_path / "cache" / "embeddings.sqlite"
    good, _ = _score_with_store(store)
    again, _ = _score_with_store(store)
    assert again.to_dict() == good.to_dict()  # warm: the same
    _damage(store, how)
    healed, fresh = _score_with_store(store)
    assert fresh is not None, "the store was turned off instead of healed"
    assert _without_notes(healed) == _without_notes(good)
    asides = [p for p in store.parent.iterdir() if p.name.startswith("embeddings.sqlite.corrupt-")]
    assert len(asides) == 1
    assert any(str(asides[0]) in n and "moved aside" in n for n in healed.notes), healed.notes
    # and the fresh store works: the next run is warm and says nothing
    later, _ = _score_with_store(store)
    assert later.to_dict() == good.to_dict() and not later.notes


def test_stored_values_that_do_not_read_back_are_computed_again(tmp_path):
    store = tmp_path / "embeddings.sqlite"
    good, _ = _score_with_store(store)
    db = sqlite3.connect(store)
    keys = [k for (k,) in db.execute("SELECT k FROM vec")]
    bad_values = [b"\x01\x02\x03", b"", bytes(8), (b"\x00\x00\xc0\x7f") * 512, (b"\x00\x00\x80\x3f") * 512]
    for k, v in zip(keys, bad_values * (len(keys) // len(bad_values) + 1)):
        db.execute("UPDATE vec SET v = ? WHERE k = ?", (v, k))
    db.commit()
    db.close()
    again, _ = _score_with_store(store)
    assert again.to_dict() == good.to_dict()


def _sqlite_error(path: Path) -> sqlite3.DatabaseError:
    try:
        sqlite3.connect(path).execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        return exc
    raise AssertionError("sqlite read garbage")


def test_a_store_another_run_healed_is_not_moved_again(tmp_path):
    path = tmp_path / "embeddings.sqlite"
    path.write_bytes(b"garbage" * 100)
    old = os.stat(path)
    error = _sqlite_error(path)
    first = EmbeddingStore(str(path), "m")  # this run moves the bad file aside and makes a fresh one
    assert len(first.notes) == 1
    first.put_many(["x"], HashEncoder().encode(["x"]))
    # another run that had opened the old, bad file fails later: the file there now is the fresh one
    second = EmbeddingStore(str(path), "m")
    second._opened = (old.st_dev, old.st_ino)
    assert second._heal(error) is True and not second.notes
    second._open()
    assert len(list(tmp_path.glob("embeddings.sqlite.corrupt-*"))) == 1
    assert "x" in second.get_many(["x"])
    first.close()
    second.close()


def test_onnx_export_checks(tmp_path):
    from comparator.core.embed import encoder

    model = tmp_path / "model.onnx"
    model.write_bytes(b"an exported model, as far as this test goes" * 1000)
    encoder._onnx_stamp(str(model))
    assert encoder._onnx_problem(str(model)) is None
    with open(model, "r+b") as fh:  # the same size, other bytes, a new time
        fh.seek(500)
        fh.write(b"\0" * 100)
    assert "SHA-256 differs" in encoder._onnx_problem(str(model))
    os.truncate(model, 1000)
    assert "bytes where" in encoder._onnx_problem(str(model))
    # the same bytes copied (a new time): fine, and remembered
    model.write_bytes(b"an exported model, as far as this test goes" * 1000)
    assert encoder._onnx_problem(str(model)) is None
    # an export from before the stamps that ONNX Runtime cannot load
    os.unlink(str(model) + ".sha256")
    assert "not loadable" in encoder._onnx_problem(str(model))


def test_the_cli_heals_a_damaged_onnx_export_and_vector_store(tmp_path, texts, model_encoder):
    """The one test that exports the model again (about a minute on a busy 2-core machine)."""
    from comparator.core.embed.encoder import _onnx_file, default_model_path

    good_export = Path(_onnx_file(default_model_path()))  # the session's cache, already exported
    cache = tmp_path / "cache"
    target = cache / "onnx" / good_export.parent.name
    target.mkdir(parents=True)
    shutil.copy(good_export, target / "model.onnx")
    env = {"MT_COMPARATOR_CACHE": str(cache), "MT_COMPARATOR_HISTORY": str(tmp_path / "h.sqlite"),
           "PYTHONPATH": str(ROOT)}
    good = run_cli("score", "reference.txt", "machine.txt", cwd=texts, env=env)
    assert good.returncode == 0, good.stderr
    assert (target / "model.onnx.sha256").exists()
    with open(target / "model.onnx", "r+b") as fh:
        fh.seek(2_000_000)
        fh.write(b"\0" * 4096)
    (cache / "embeddings.sqlite").write_bytes(b"junk" * 1000)
    healed = run_cli("score", "reference.txt", "machine.txt", cwd=texts, env=env)
    assert healed.returncode == 0, healed.stderr
    lines = [ln for ln in healed.stderr.splitlines() if "moved aside" in ln]
    assert any("ONNX model" in ln for ln in lines) and any("vector cache" in ln for ln in lines), healed.stderr
    assert list(target.glob("model.onnx.corrupt-*")) and list(cache.glob("embeddings.sqlite.corrupt-*"))
    a, b = json.loads(good.stdout), json.loads(healed.stdout)
    assert len(b["notes"]) == len(a["notes"]) + 1
    a.pop("notes"), b.pop("notes")
    assert a == b


# ---- the run history is the user's: refused, never moved ----------------------------------------------

def _saved_history(env) -> Path:
    assert run_cli("score", REF, SYS1, *HASH, "--save", env=env).returncode == 0
    assert run_cli("score", REF, SYS2, *HASH, "--save", env=env).returncode == 0
    return Path(env["MT_COMPARATOR_HISTORY"])


@pytest.mark.parametrize("how", ["garbage", "pages overwritten", "cut short"])
def test_a_damaged_history_is_refused_in_one_line_and_left_as_it_is(env, how):
    db = _saved_history(env)
    _damage(db, how)
    before, listing = db.read_bytes(), sorted(os.listdir(db.parent))
    for argv in (("history", "list"), ("history", "show", "1"), ("history", "diff", "1", "2")):
        err = _one_line_error(run_cli(*argv, env=env), str(db))
        assert "recover" in err.lower()
    r = run_cli("score", REF, SYS1, *HASH, "--save", env=env)
    _one_line_error(r, str(db))
    assert db.read_bytes() == before
    assert sorted(p for p in os.listdir(db.parent) if not p.endswith(("-wal", "-shm", "-journal"))) == \
        [p for p in listing if not p.endswith(("-wal", "-shm", "-journal"))]


@pytest.mark.parametrize("kind", ["device", "pipe"])
def test_a_history_that_is_not_a_file_is_refused_without_waiting(tmp_path, env, kind):
    path = "/dev/zero" if kind == "device" else str(_fifo(tmp_path))
    for argv in (("history", "list", "--history", path), ("score", REF, SYS1, *HASH, "--save", "--history", path)):
        r = run_cli(*argv, env=env)
        _one_line_error(r, path, "not a regular file")
        assert r.stdout == ""  # refused before the run, not after it


def test_someone_elses_sqlite_database_is_not_changed(tmp_path):
    other = tmp_path / "places.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE bookmarks (url TEXT)")
    db.commit()
    db.close()
    before = other.read_bytes()
    for create in (True, False):
        with pytest.raises(InputError, match="not a run history"):
            hist.History(str(other), create=create)
    assert other.read_bytes() == before


def _set_stored(db: Path, run_id: int, blob: bytes) -> None:
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET result = ? WHERE id = ?", (blob, run_id))
    con.commit()
    con.close()


@pytest.mark.parametrize("blob,words", [
    (b"not zlib", "damaged"),
    (zlib.compress(b"{not json"), "damaged"),
    (zlib.compress(json.dumps({"a_sentences": [], "b_sentences": [], "pairs": [{"a": [0]}],
                               "corpus": {}}).encode()), "pairs[0]: missing field"),
])
def test_a_damaged_stored_result_is_one_line(env, blob, words):
    db = _saved_history(env)
    _set_stored(db, 1, blob)
    for argv in (("history", "show", "1"), ("history", "show", "1", "--format", "json"), ("history", "diff", "1", "2")):
        _one_line_error(run_cli(*argv, env=env), "run 1", words)
    assert run_cli("history", "show", "2", env=env).returncode == 0


def test_a_stored_result_with_a_wrong_field_names_it(env):
    db = _saved_history(env)
    data = json.loads(run_cli("history", "show", "1", "--format", "json", env=env).stdout)
    data["pairs"][3]["flag"] = "high"
    _set_stored(db, 1, zlib.compress(json.dumps(data).encode()))
    _one_line_error(run_cli("history", "show", "1", env=env), "pairs[3].flag: expected a number, got 'high'")


def test_listing_survives_odd_metadata(env):
    db = _saved_history(env)
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET names = '\"one\"', corpus = '[1, 2]', settings = '7', inputs = '{' WHERE id = 1")
    con.execute("UPDATE runs SET corpus = '{\"bleu\": \"high\", \"chrf\": 1e999}' WHERE id = 2")
    con.commit()
    con.close()
    r = run_cli("history", "list", env=env)
    assert r.returncode == 0, r.stderr
    assert run_cli("history", "list", "--format", "json", env=env).returncode == 0


# ---- saved results are checked -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def result() -> Comparison:
    return compare(REF.read_text("utf-8"), SYS1.read_text("utf-8"), model="hash", ter=True)


@pytest.fixture(scope="module")
def systems() -> SystemsComparison:
    return compare_systems(REF.read_text("utf-8"), [("one", SYS1.read_text("utf-8")),
                                                    ("two", SYS2.read_text("utf-8"))], model="hash", n_samples=20)


def test_the_schema_in_docs_is_the_one_the_package_uses():
    assert (ROOT / "docs" / "result.schema.json").read_bytes() == validate.SCHEMA_FILE.read_bytes()
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(validate.schema())
    assert validate.schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_knows_every_span_kind():
    # a new kind in phrasing.SPAN_KINDS must be added to docs/result.schema.json (and its copy) too
    assert validate.schema()["$defs"]["span_kind"]["enum"] == list(SPAN_KINDS)


def test_what_the_cli_writes_passes_the_schema_as_another_tool_reads_it(env):
    import jsonschema

    schema = json.loads((ROOT / "docs" / "result.schema.json").read_text("utf-8"))
    score = run_cli("score", REF, SYS1, *HASH, "--ter", env=env)
    comp = run_cli("compare", REF, SYS1, SYS2, *HASH, "--bootstrap", "20", env=env)
    for r in (score, comp):
        assert r.returncode == 0, r.stderr
        jsonschema.validate(json.loads(r.stdout), schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        bad = json.loads(score.stdout)
        bad["pairs"][0]["flag"] = "high"
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def _d(result: Comparison) -> dict:
    return json.loads(result.to_json())


def _first_two_sided(d: dict) -> int:
    return next(n for n, p in enumerate(d["pairs"]) if p["a"] and p["b"] and p["b_spans"])


def test_spans_with_and_without_p_open(result):
    d = _d(result)
    n = _first_two_sided(d)
    d["pairs"][n]["b_spans"] = [[*s[:3], 0.75] for s in d["pairs"][n]["b_spans"]]
    loaded = Comparison.from_dict(d)
    assert loaded.pairs[n].b_spans[0][3] == 0.75
    from comparator.render import report

    assert "<mark" in report.to_html(loaded)


def test_null_corpus_scores_and_extra_fields_open(result):
    d = _d(result)
    d["corpus"].update(bleu=None, chrf=None, ter=None, bleu_reason="the two sides are in different languages")
    d["pairs"][0]["new_field"] = {"anything": [1, 2]}
    d["extra"] = "later versions may add fields"
    for p in d["pairs"]:
        p.update(cosine=None, bleu=None, chrf=None, ter=None)
    assert Comparison.from_dict(d).corpus["bleu_reason"].startswith("the two")


def test_integral_floats_are_indices(result):
    d = _d(result)
    n = _first_two_sided(d)
    d["pairs"][n]["a"] = [float(i) for i in d["pairs"][n]["a"]]
    d["pairs"][n]["b_spans"][0][:2] = [float(x) for x in d["pairs"][n]["b_spans"][0][:2]]
    loaded = Comparison.from_dict(d)
    assert all(type(i) is int for i in loaded.pairs[n].a)
    assert all(type(x) is int for x in loaded.pairs[n].b_spans[0][:2])


def _problem(d: dict) -> str:
    with pytest.raises(InputError) as e:
        Comparison.from_json(json.dumps(d, allow_nan=True))
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400
    return msg


def test_the_first_problem_is_named(result):
    d = _d(result)
    d["pairs"][3]["flag"] = "high"
    assert _problem(d) == "pairs[3].flag: expected a number, got 'high'"


@pytest.mark.parametrize("change,expected", [
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, ["x", 3, "omission"]), ".b_spans[0][0]: expected an integer"),
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, [0, 10 ** 6, "omission"]), "are not inside b_text"),
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, [5, 2, "omission"]), "are not inside b_text"),
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, [0, 1, "typo"]), "expected one of omission"),
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, [0, 1, "name", 1.5]), "expected a number from 0 to 1"),
    (lambda d, n: d["pairs"][n]["b_spans"].__setitem__(0, [0, 1]), "expected 3 to 4 items"),
    (lambda d, n: d["pairs"][n].__setitem__("cosine", float("nan")), ".cosine: expected a finite number, got NaN"),
    (lambda d, n: d["pairs"][n].__setitem__("chrf", float("inf")), "got Infinity"),
    (lambda d, n: d["pairs"][n].__setitem__("bleu", 1e308), "expected a number from 0 to 100"),
    (lambda d, n: d["pairs"][n].__setitem__("confidence", 10 ** 400), "expected a number from 0 to 1"),
    (lambda d, n: d["pairs"][n].pop("b_text"), "missing field 'b_text'"),
    (lambda d, n: d["pairs"][n].__setitem__("a", [10 ** 30]), "out of range"),
    (lambda d, n: d["pairs"][n].__setitem__("a", [-1]), "expected an integer of at least 0"),
    (lambda d, n: d["pairs"].insert(n, json.loads(json.dumps(d["pairs"][n]))), "in an earlier pair too"),
    (lambda d, n: d["pairs"].pop(n), "is in no pair"),
    (lambda d, n: d["pairs"].__setitem__(n, {**d["pairs"][n], "a": [], "b": []}), "holds no sentence"),
    (lambda d, n: d["a_sentences"].append("one more"), "a_sentences[23]: in no pair"),
    (lambda d, n: d["b_furniture"].append(999), "b_furniture"),
    (lambda d, n: d["a_paragraphs"].pop(), "entries for 23 sentences"),
    (lambda d, n: d.__setitem__("corpus", []), "corpus: expected an object, got a list"),
    (lambda d, n: d["corpus"].pop("chrf"), "corpus: missing field 'chrf'"),
    (lambda d, n: d["settings"].__setitem__("a_name", None), "settings.a_name: expected a string, got null"),
    (lambda d, n: d.__setitem__("notes", [1]), "notes[0]: expected a string"),
])
def test_what_is_wrong_is_said_in_one_line(result, change, expected):
    d = _d(result)
    n = _first_two_sided(d)
    change(d, n)
    assert expected in _problem(d)


@pytest.mark.parametrize("text,words", [("[]", "no 'pairs'"), ("null", "no 'pairs'"), ("{", "not valid JSON"),
                                        ("[" * 100_000, "not valid JSON"), ('{"pairs": 5}', "missing field"),
                                        ('{"pairs": [], "a_sentences": [], "b_sentences": [], "corpus": '
                                         '{"bleu": NaN, "chrf": 1}}', "corpus.bleu: expected a finite number")])
def test_what_is_not_a_result_is_one_line(text, words):
    with pytest.raises(InputError) as e:
        Comparison.from_json(text)
    assert "\n" not in str(e.value) and words in str(e.value), str(e.value)


@pytest.mark.parametrize("depth", [50, 5000])
def test_a_deeply_nested_extra_field_loads_or_is_one_line(result, depth):
    text = result.to_json(indent=None)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    try:
        Comparison.from_json(text)
    except InputError as e:
        assert "\n" not in str(e)


@pytest.mark.parametrize("change,expected", [
    (lambda d: d["segments"][0]["pairs"].__setitem__(1, [9999]), "segments[0].pairs[1][0]: pair 9999 is out of range"),
    (lambda d: d["segments"][0]["chrf"].pop(), "segments[0].chrf: 1 entries for 2 systems"),
    (lambda d: d["table"][0].__setitem__("rank", "first"), "table[0].rank: expected an integer, got 'first'"),
    (lambda d: d["systems"][1]["pairs"][0].__setitem__("flag", 2), "systems[1].pairs[0].flag"),
    (lambda d: d["systems"][1].__setitem__("name", "one"), "names two systems"),
    (lambda d: d["significance"].pop("n_samples"), "significance: missing field 'n_samples'"),
    (lambda d: d.__setitem__("kind", "other"), "kind: expected 'systems'"),
])
def test_systems_results_are_checked_too(systems, change, expected):
    d = json.loads(systems.to_json())
    change(d)
    with pytest.raises(InputError) as e:
        SystemsComparison.from_json(json.dumps(d))
    assert expected in str(e.value)


def test_a_good_systems_result_round_trips(systems):
    again = SystemsComparison.from_json(systems.to_json())
    assert again.to_dict() == systems.to_dict()


def test_a_good_result_round_trips(result):
    assert Comparison.from_json(result.to_json()).to_dict() == result.to_dict()


def test_batch_scores_a_damaged_result_again(texts, env):
    manifest = texts / "m.tsv"
    manifest.write_text("a\treference.txt\tmachine.txt\nb\treference.txt\tmachine2.txt\n", "utf-8")
    assert run_cli("batch", manifest, *HASH, env=env).returncode == 0
    result = texts / "m-results" / "pairs" / "a.json"
    good = result.read_text("utf-8")
    data = json.loads(good)
    data["pairs"][0]["flag"] = "high"
    result.write_text(json.dumps(data), "utf-8")
    r = run_cli("batch", manifest, *HASH, "--save", env=env)
    assert r.returncode == 0, r.stderr
    assert "1 done, 1 skipped" in r.stderr
    assert json.loads(result.read_text("utf-8")) == json.loads(good)


# ---- property: a damaged result loads, or is one InputError; what loads renders ----------------------

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_the_quick_check_never_passes_what_jsonschema_refuses(result, systems, data):
    which = data.draw(st.sampled_from(["comparison", "systems"]))
    mutated = mutate(_d(result) if which == "comparison" else json.loads(systems.to_json()), data.draw)
    quick = validate._fast(which)(mutated)
    full = not any(True for _ in validate._validator(which).iter_errors(mutated))
    assert quick == full  # never valid where jsonschema says no; and here, not even unsure


def test_the_quick_check_passes_good_results(result, systems):
    assert validate._fast("comparison")(_d(result))
    assert validate._fast("systems")(json.loads(systems.to_json()))

def _renders(loaded: Comparison) -> None:
    """Everything the CLI and the dashboard make of a result, short of Streamlit itself."""
    from comparator.analysis.history import diff_results
    from comparator.analysis.systems import flagged
    from comparator.dashboard import views
    from comparator.render import report

    for fmt in report.FORMATS.values():
        fmt(loaded)
    df = views.pairs_frame(loaded)
    scores = views.scores_present(df)
    s = views.summary(loaded)
    views.summary_metrics(s)
    views.pairs_html(df, scores)
    views.table_frame(df, scores)
    views.worst_pairs(df)
    views.one_sided_note(df)
    views.pair_labels(df)
    for sc in scores:
        views.slider_bounds(df, sc)
        views.score_histogram(df, sc).to_dict()
    views.flag_along_document(df).to_dict()
    views.cosine_vs_chrf(df).to_dict()
    if len(df):
        n = views.default_pair(df)
        views.neighbours(df, n)
        row = df[df["pair"] == n].iloc[0]
        views.diff_html(views.word_diff(row["a_text"], row["b_text"]))
    flagged(loaded)
    diff_results(loaded, loaded)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_mutated_result_loads_or_is_an_input_error(result, data):
    mutated = mutate(_d(result), data.draw)
    try:
        loaded = Comparison.from_json(as_bytes(mutated).decode("utf-8"))
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    _renders(loaded)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_mutated_systems_result_loads_or_is_an_input_error(systems, data):
    from comparator.dashboard import systems as dashboard_systems
    from comparator.render import systems as render_systems

    mutated = mutate(json.loads(systems.to_json()), data.draw)
    try:
        loaded = SystemsComparison.from_json(as_bytes(mutated).decode("utf-8"))
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    for fmt in render_systems.FORMATS.values():
        fmt(loaded)
    dashboard_systems.ranking_frame(loaded)
    dashboard_systems.significance_caption(loaded)
    labels = dashboard_systems.segment_labels(loaded)
    for i in list(labels)[:3]:
        for k in range(len(loaded.names)):
            dashboard_systems.segment_system_html(loaded, i, k)
            dashboard_systems.segment_scores(loaded, i, k)
    if loaded.significance:
        dashboard_systems.ci_chart(loaded, "chrf").to_dict()
        dashboard_systems.ci_chart(loaded, "bleu").to_dict()


def test_the_quick_check_takes_a_whole_float_in_a_list_of_indices_as_jsonschema_does(result):
    # found by the property above: a_furniture [0.0] (JSON Schema counts 0.0 as an integer)
    data = _d(result)
    for extra, valid in (([0.0], True), ([0, 0.0], False), ([1.5], False), ([True], False)):
        data["a_furniture"] = extra
        quick = validate._fast("comparison")(data)
        full = not any(True for _ in validate._validator("comparison").iter_errors(data))
        assert full == valid and quick == full, extra
