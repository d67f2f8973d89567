import codecs

import pytest

from comparator.core.documents import MAX_BYTES, clean_display, decode, normalise, read_path
from comparator.core.errors import InputError

TEXT = "Café “quoted” — naïve 2,500 € text.\nSecond line."


@pytest.mark.parametrize("data,encoding", [
    (TEXT.encode("utf-8"), "utf-8"),
    (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
    (TEXT.encode("utf-16"), "utf-16"),
    (TEXT.encode("utf-16-le"), "utf-16-le"),
    (TEXT.encode("utf-16-be"), "utf-16-be"),
])
def test_unicode_encodings_round_trip(data, encoding):
    doc = decode(data, "x")
    assert doc.text == TEXT
    assert doc.encoding == encoding
    assert doc.note == ""


def test_legacy_8bit_is_read_and_said():
    data = "Café au lait costs 5 € – naïve “fine”.".encode("cp1252")
    doc = decode(data, "old.txt")
    assert "Café" in doc.text and "naïve" in doc.text
    assert "not UTF-8" in doc.note and "old.txt" in doc.note


def test_latin1_is_read():
    doc = decode("Ærøskøbing façade".encode("latin-1"), "l1")
    assert doc.text == "Ærøskøbing façade"


@pytest.mark.parametrize("data", [bytes(range(256)) * 4, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300)])
def test_binary_is_refused_with_one_line(data):
    with pytest.raises(InputError) as e:
        decode(data, "blob.bin")
    assert "binary" in str(e.value) and "\n" not in str(e.value)


def test_size_limit():
    with pytest.raises(InputError, match="limit"):
        decode(b"a" * (MAX_BYTES + 1), "big")


def test_read_path_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_path(str(tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="directory"):
        read_path(str(tmp_path))


def test_normalise_for_matching_keeps_display():
    raw = "A\u00a0b\u200bc  d\u2003e\r\n"
    assert normalise(raw) == "A bc d e"
    assert normalise("e\u0301") == "\u00e9"  # NFC
    assert clean_display("one\r\ntwo\tthree") == "one two three"


PAGE = """<!DOCTYPE html><html><head><title>T</title><script>var s = "<p>hidden</p>";</script></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li></ul></nav>
<main><article><h2>Harlow Falls opens new flood wall</h2>
<p>The river town of Harlow Falls opened a flood wall along the Tennant River on Thursday. The barrier runs
for 2,500 feet from the old mill to the bridge, and it was finished three weeks early.</p>
<p>Mayor Linda Okafor cut the ribbon in front of a crowd of residents, many of whom still remember wading
through their own living rooms when the river rose two years ago.</p>
<p>The project was designed with help from the Army Corps of Engineers. Officials said it should protect about
1,200 homes and 40 businesses in the low-lying East End of the town.</p></article></main>
<section><h3>Leave a reply</h3><p>Your email address will not be published.</p></section>
<footer><p>Copyright 2025 Riverside Post.</p></footer></body></html>"""


def test_html_page_main_text_and_furniture():
    from comparator.core.segment import segment

    doc = decode(PAGE.encode("utf-8"), "page.html")
    assert "HTML page" in doc.note
    units = segment(doc.text, "text", doc.furniture)
    content = [u.text for u in units if not u.furniture]
    furniture = [u.text for u in units if u.furniture]
    assert any(t.startswith("The river town of Harlow Falls") for t in content)
    assert any("Mayor Linda Okafor" in t for t in content)
    assert "Home" in furniture and "Leave a reply" in furniture
    assert not any("hidden" in t for t in content + furniture)  # scripts are not text


def test_text_with_a_few_tags_is_not_a_page():
    doc = decode(b"<p>Hello <b>world</b>.</p> Done.", "x.txt")
    assert doc.furniture == frozenset() and doc.text.startswith("<p>")
