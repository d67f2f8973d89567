"""The catalogue of bad and odd input for scripted runs: each ends in valid output or one line + exit 2."""
import codecs
import json

import pytest

from comparator.cli import main as cli
from comparator.core.documents import MAX_BYTES
from conftest import EXAMPLES, run_cli

GOOD = "The council approved the plan on Monday. Work starts in May.\n\nResidents were pleased.\n"


def _ok(r):
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    d = json.loads(r.stdout)
    a = [i for p in d["pairs"] for i in p["a"]]
    b = [j for p in d["pairs"] for j in p["b"]]
    assert a == list(range(len(d["a_sentences"]))) and b == list(range(len(d["b_sentences"])))
    return d


def _fail(r, words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert words in lines[0]


def _files(tmp_path, a: bytes, b: bytes):
    pa, pb = tmp_path / "a.txt", tmp_path / "b.txt"
    pa.write_bytes(a)
    pb.write_bytes(b)
    return pa, pb


CASES = {
    "empty": (b"", b""),
    "one empty": (GOOD.encode(), b""),
    "whitespace only": (b"  \n\t\n   \n", GOOD.encode()),
    "latin-1": ("Café crème, naïve façade. Ærø.".encode("latin-1"), "Café crème, naive façade. Ærø.".encode()),
    "cp1252": ("“Smart quotes” – and a € sign.".encode("cp1252"), "“Smart quotes” - and a € sign.".encode()),
    "utf-16 bom": (GOOD.encode("utf-16"), GOOD.encode("utf-8-sig")),
    "crlf nbsp zero-width": (GOOD.replace("\n", "\r\n").replace(" ", "\u00a0", 3).encode(),
                             GOOD.replace("plan", "pl\u200ban").encode()),
    "control characters": (b"Bell\x07 and\x1b escape. Form\x0cfeed here.\n", b"Bell and escape. Formfeed here.\n"),
    "html and script": (b"<p>Hello <b>world</b>.</p> <script>alert(1)</script> Done.",
                        b"<p>Hello world.</p> <img src=x onerror=alert(1)> Done."),
    "cjk rtl emoji": ("東京は日本の首都です。人口は多い。\n\nمرحبا بالعالم. هذا اختبار.\n\nParty time 🎉🎉!".encode(),
                      "東京は日本の首都である。\n\nمرحبا بالعالم.\n\nParty 🎉!".encode()),
    "unrelated": (GOOD.encode(), b"Quantum chromodynamics describes the strong force. Gluons bind quarks.\n"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_odd_input_gives_valid_output(tmp_path, name):
    a, b = CASES[name]
    pa, pb = _files(tmp_path, a, b)
    d = _ok(run_cli("score", pa, pb, "--model", "hash"))
    if name in ("latin-1", "cp1252"):
        assert "Café" in d["a_sentences"][0] or "“Smart" in d["a_sentences"][0]
    if name == "control characters":
        assert all(ch not in "".join(d["a_sentences"]) for ch in "\x07\x1b\x0c")
    if name == "crlf nbsp zero-width":
        assert not any("\r" in s for s in d["a_sentences"])
        assert d["pairs"][0]["bleu"] == pytest.approx(100.0)  # NBSP matches a space
    if name == "cjk rtl emoji":
        assert any("🎉" in s for s in d["a_sentences"]) and any("مرحبا" in s for s in d["b_sentences"])


def test_html_report_of_hostile_input_is_inert(tmp_path):
    pa, pb = _files(tmp_path, *CASES["html and script"])
    out = tmp_path / "r.html"
    assert run_cli("score", pa, pb, "--model", "hash", "--format", "html", "-o", out).returncode == 0
    html = out.read_text()
    body = html.split("<body>", 1)[1]
    assert "<script" not in body and "<img" not in body and "&lt;" in body


def test_identical_renderings(tmp_path):
    pa, pb = _files(tmp_path, GOOD.encode(), GOOD.encode())
    d = _ok(run_cli("score", pa, pb, "--model", "hash"))
    assert all(p["type"] == "1-1" and p["bleu"] == 100.0 for p in d["pairs"])


def test_single_long_line_without_punctuation(tmp_path):
    line = ("word " * 420_000)[:2_000_000].encode()
    pa, pb = _files(tmp_path, line, GOOD.encode())
    d = _ok(run_cli("score", pa, pb, "--model", "hash", "--format", "json"))
    assert sum(s.count("word") for s in d["a_sentences"]) == line.decode().count("word")


def test_binary_file(tmp_path):
    pa, pb = _files(tmp_path, bytes(range(256)) * 100, GOOD.encode())
    _fail(run_cli("score", pa, pb, "--model", "hash"), "binary")


def test_file_over_the_size_limit(tmp_path):
    pa = tmp_path / "big.txt"
    with open(pa, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    _fail(run_cli("score", pa, EXAMPLES / "machine.txt", "--model", "hash"), "limit")


def test_missing_and_directory(tmp_path):
    _fail(run_cli("score", tmp_path / "nope.txt", EXAMPLES / "machine.txt"), "no such file")
    _fail(run_cli("score", tmp_path, EXAMPLES / "machine.txt"), "directory")


def test_unreadable_file(tmp_path, monkeypatch, capsys):
    # root can read any file, so the permission error is simulated where the file is opened
    p = tmp_path / "secret.txt"
    p.write_text("x")
    real_open = open

    def fake_open(path, *a, **k):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    assert cli.main(["score", str(p), str(EXAMPLES / "machine.txt"), "--model", "hash"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "permission denied" in err[0]


def test_unwritable_output(tmp_path):
    _fail(run_cli("score", EXAMPLES / "reference.txt", EXAMPLES / "machine.txt", "--model", "hash",
                  "-o", tmp_path / "no" / "dir" / "out.json"), "cannot write")


def test_utf16_without_bom(tmp_path):
    pa, pb = _files(tmp_path, GOOD.encode("utf-16-le"), GOOD.encode())
    d = _ok(run_cli("score", pa, pb, "--model", "hash"))
    assert d["a_sentences"] == d["b_sentences"]


def test_invalid_utf8_bom_file(tmp_path):
    pa, pb = _files(tmp_path, codecs.BOM_UTF8 + b"\xff\xfe\xfa broken", GOOD.encode())
    _fail(run_cli("score", pa, pb, "--model", "hash"), "byte-order mark")
