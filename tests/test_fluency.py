"""The word-pair evidence of comparator.core.marks.fluency and how phrasing uses it (word tables from `wordsegment`)."""
import pytest

from comparator.core.marks import fluency, phrasing
from comparator.core.marks.phrasing import spans


def test_pmi_tells_usual_from_unusual_neighbours():
    assert fluency.pmi("the", "are") < -3 < 0 < fluency.pmi("of", "the")
    assert fluency.pmi("armed", "groups") > fluency.pmi("groups", "armed")
    assert fluency.pmi("the", "qzxv") is None  # an unknown word gives no evidence either way
    assert fluency.known("because") and not fluency.known("monitered")


@pytest.mark.parametrize("text, english", [
    ("The minister said on Tuesday that the talks would resume.", True),
    ("Police arrested three men after a fight in the city centre.", True),
    ("La police a arrêté trois hommes après une bagarre dans le centre de la ville.", False),
    ("Der Mann ist in der Stadt und er hat keine Zeit.", False),
    ("De man is in de stad en hij had geen tijd om te eten of te drinken.", False),
    ("O homem está na cidade e não tem tempo para comer.", False),
])
def test_evidence_applies_to_english_only(text, english):
    words = [k for _, _, k in phrasing.tokens(text)]
    assert fluency.applies(words) is english


def test_unusual_wording_is_marked_in_b():
    a = "The trials are monitored and their effectiveness is assessed."
    b = "As the are trials monitered, their effectiveness is assessed."
    _, sb = spans(a, b)
    marked = [b[s:e] for s, e, k in sb if k == "wording"]
    assert "the are" in marked and "monitered" in marked
    w = phrasing.unusual_wording(a, b)
    assert w.unknown == 1 and w.rarity > 3


def test_no_wording_evidence_for_other_languages():
    a = "La police a arrêté trois hommes après une bagarre dans le centre de la ville."
    b = "La police arrêté a trois hommes après une bagare dans le centre de ville la."
    w = phrasing.unusual_wording(a, b)
    assert w == (0.0, 0, [])
    assert not [k for _, _, k in spans(a, b)[1] if k == "wording"]


def test_swapped_neighbours_count_only_against_the_usual_order():
    assert phrasing.local_swaps("Attacks by armed groups rose.", "Attacks by groups armed rose.") == 1
    # both orders are ordinary English: a reordering, not damage
    assert phrasing.local_swaps("Putin said the talks were useful.", "The talks were useful, said Putin.") == 0


def test_missing_word_tables_mean_no_evidence_not_a_crash(monkeypatch):
    monkeypatch.setattr(fluency, "_tables", None)
    monkeypatch.setattr(fluency, "_failed", True)
    phrasing.unusual_wording.cache_clear()
    phrasing._english.cache_clear()
    try:
        a, b = "The trials are monitored.", "The are trials monitored."
        assert phrasing.unusual_wording(a, b) == (0.0, 0, [])
        assert fluency.pmi("the", "are") is None
        assert 0 < phrasing.flag(a, b, *spans(a, b), 80.0, cosine=0.9) < 1
    finally:
        phrasing.unusual_wording.cache_clear()
        phrasing._english.cache_clear()


def test_word_tables_kept_on_disk_give_the_same_evidence(tmp_path, monkeypatch, caplog):
    """The indexed tables are kept in the cache folder; a kept copy, and a damaged one (rebuilt, said in a
    warning), give exactly the evidence that reading the word files gives."""
    monkeypatch.setenv("MT_COMPARATOR_CACHE", str(tmp_path))
    fresh = fluency._Tables()
    kept = list((tmp_path / "wordtables").glob("*.npz"))
    assert len(kept) == 1
    again = fluency._Tables()
    pairs = [("of", "the"), ("the", "are"), ("armed", "groups"), ("groups", "armed"), ("red", "house")]
    for x, y in pairs:
        assert again.pmi(x, y) == fresh.pmi(x, y) is not None
    assert again.known("because") and not again.known("monitered")
    for damage in (b"not an npz at all", kept[0].read_bytes()[:5000]):
        kept[0].write_bytes(damage)
        with caplog.at_level("WARNING", logger="comparator.core.marks.fluency"):
            healed = fluency._Tables()
        assert "rebuilding" in caplog.text
        caplog.clear()
        assert [healed.pmi(x, y) for x, y in pairs] == [fresh.pmi(x, y) for x, y in pairs]
        assert fluency._Tables().pmi("of", "the") == fresh.pmi("of", "the")  # and the rebuilt copy is good


def test_word_tables_need_no_writable_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MT_COMPARATOR_CACHE", str(blocker))
    t = fluency._Tables()
    assert t.pmi("the", "are") < -3 < 0 < t.pmi("of", "the")
