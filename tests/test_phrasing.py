"""Spans and flag of comparator.core.marks.phrasing: no model (chrF from sacrebleu, cosine from the hash encoder,
token vectors made up where a test needs them)."""
import re
import time
import zlib

import numpy as np
import pytest

from comparator.core import metrics
from comparator.core.marks import phrasing
from comparator.core.marks.phrasing import flag, spans


def _shown(text, sp):
    return [(text[s:e], k) for s, e, k in sp]


def _valid(text, sp):
    last = 0
    for s, e, k in sp:
        assert isinstance(s, int) and isinstance(e, int)
        assert last <= s < e <= len(text), (s, e, len(text))
        assert k in phrasing.SPAN_KINDS
        assert text[s:e].strip() == text[s:e], "a span neither starts nor ends with a space"
        last = e


PAIRS = [
    ("Attacks by armed groups rose.", "Attacks by groups armed rose."),
    ("Activists said at the time that Prime Minister Al Kadhimi is preparing to visit.",
     "Activists at the time. that Prime Minister Al Kadhimi is preparing to visit."),
    ("“We continue the work,” Mr Hood said.", "“We continue the work.” Mr. Hood said. ."),
    ("It cost 2,500 dollars.", "It cost 2,050 dollars."),
    ("The police found that Huang had passed the checkpoint.", "The police found Huang had not passed it."),
    ("Café au lait — très bien!", "Cafe au lait - tres bien !"),
    ("", "Only B."),
    ("Only A.", ""),
    ("  ", "x"),
    ("三聚氰胺 was found.", "Melamine was found."),
    ("A A A a.", "a a A A A a ."),
    ("He said: “yes”… and left", "He said “yes” ... and and left"),
]


@pytest.mark.parametrize("a,b", PAIRS)
def test_offsets_are_valid_and_kinds_known(a, b):
    sa, sb = spans(a, b)
    _valid(a, sa)
    _valid(b, sb)


def test_identical_texts_have_no_spans_and_a_zero_flag():
    a = "The minister said on Tuesday that the new bridge would open in March."
    sa, sb = spans(a, a)
    assert sa == [] and sb == []
    assert flag(a, a, sa, sb, 100.0, cosine=1.0) == 0.0
    assert spans("Mr. Smith visited the U.S. today.", "Mr Smith visited the US today.") == ([], [])


def test_swapped_neighbours_are_a_reorder_on_both_sides():
    a, b = "The attack by armed groups killed five.", "The attack by groups armed killed five."
    sa, sb = spans(a, b)
    assert ("groups", "reorder") in _shown(a, sa) or ("armed", "reorder") in _shown(a, sa)
    assert [k for _, _, k in sb] == ["reorder"] and [k for _, _, k in sa] == ["reorder"]
    assert phrasing.local_swaps(a, b) == 1
    # a phrase moved as a whole is a reorder span but no swap
    assert phrasing.local_swaps("The minister said on Tuesday that it opens.",
                                "On Tuesday the minister said that it opens.") == 0


def test_broken_sentence_boundary():
    a = "Activists said at the time that Prime Minister Al Kadhimi is preparing to visit."
    b = "Activists at the time. that Prime Minister Al Kadhimi is preparing to visit."
    sb = _shown(b, spans(a, b)[1])
    assert (". that", "boundary") in sb
    # an abbreviation before a lowercase word is no boundary
    assert not [k for _, _, k in spans("The U.S. military left.", "The U.S. military left .")[1] if k == "boundary"]


def test_punctuation_damage():
    a = "“We want them to leave us alone,” said Mr Hood."
    b = "“We want them to leave us alone.” Mr. Hood said. ."
    sb = _shown(b, spans(a, b)[1])
    assert (". .", "punctuation") in sb
    s, e, _ = next(x for x in spans(a, b)[1] if b[x[0]:x[1]] == ". .")
    assert phrasing._is_damage(b, s, e)


def test_stray_quote_or_bracket():
    a = "“The less time we can spend on it, like saving lives from Covid.” Hood said."
    b = "“The less time we can spend on it, like saving lives from Covid. “ Hood said."
    assert ("“", "punctuation") in _shown(b, spans(a, b)[1])
    assert phrasing.unbalanced(a, b) == 2 and phrasing.unbalanced(a, a) == 0
    assert [b[i] for i in phrasing.stray_marks(b)] == ["“"] and phrasing.stray_marks(a) == []
    assert phrasing.stray_marks("It rose (by 5%.") == [8]
    assert phrasing.stray_marks("“A,” he said. “B. “") == [18]
    # straight quotes (no direction), an apostrophe, or a quote left open as the reference leaves it open (a
    # quotation going on in the next paragraph) are not stray
    assert not [k for _, _, k in spans('He said " yes " then.', 'He said " yes " and left.')[1]
                if k == "punctuation"]
    open_a, open_b = "“We have no doubt. We will act.", "“We have no doubt. We shall act."
    assert _shown(open_b, spans(open_a, open_b)[1]) == [("shall", "substitution")]
    assert phrasing.unbalanced("Hood’s view (his).", "Hood’s view (his.") == 1
    assert phrasing.unbalanced("„Ja“, sagte er.", "„Ja“, sagte er.") == 0  # A's own style is the yardstick


def test_swap_tokens_mark_both_words_of_a_transposition():
    a, b = "The attack by armed groups killed five.", "The attack by groups armed killed five."
    va, vb = phrasing.swap_tokens(a, b)
    words_b = [b[s:e] for (s, e, _), v in zip(phrasing.tokens(b), vb) if v]
    words_a = [a[s:e] for (s, e, _), v in zip(phrasing.tokens(a), va) if v]
    assert words_b == ["groups", "armed"] and words_a == ["armed", "groups"]
    assert not any(phrasing.swap_tokens(a, a)[1])
    # a phrase moved as a whole has no transposed neighbours
    assert not any(phrasing.swap_tokens("The minister said on Tuesday that it opens.",
                                        "On Tuesday the minister said that it opens.")[1])


def test_changed_number_is_a_number_on_both_sides():
    a, b = "It cost 2,500 dollars in 2019.", "It cost 2,050 dollars in 2019."
    sa, sb = spans(a, b)
    assert _shown(a, sa) == [("2,500", "number")]
    assert _shown(b, sb) == [("2,050", "number")]


def test_omission_addition_substitution_and_name():
    a = "The committee quickly approved the new budget on Friday."
    sa, sb = spans(a, "The committee approved the new budget on Friday.")
    assert _shown(a, sa) == [("quickly", "omission")] and sb == []
    sa, sb = spans(a, "The committee quickly approved the new annual budget on Friday.")
    assert sa == [] and _shown("The committee quickly approved the new annual budget on Friday.", sb) == [
        ("annual", "addition")]
    b = "The committee quickly passed the new budget on Monday."
    sa, sb = spans(a, b)
    assert ("approved", "substitution") in _shown(a, sa) and ("passed", "substitution") in _shown(b, sb)
    assert ("Friday", "name") in _shown(a, sa) and ("Monday", "name") in _shown(b, sb)


def test_repetition():
    a = "Her image has been widely published."
    b = "Her image has been widely published published."
    assert ("published published", "repetition") in _shown(b, spans(a, b)[1])


def test_near_words_and_compounds_are_substitutions_not_omissions():
    a, b = "US air strikes matched the reports.", "US airstrikes matches the reprots."
    sa, sb = spans(a, b)
    assert {k for _, _, k in sa + sb} == {"substitution"}


def test_one_sided_pairs():
    assert spans("Only A.", "") == ([[0, 7, "omission"]], [])
    assert spans("", "Only B.") == ([], [[0, 7, "addition"]])
    assert flag("Only A.", "", [[0, 7, "omission"]], [], None) == 1.0
    assert flag("", "Only B.", [], [[0, 7, "addition"]], None) == 1.0


# --- flag ordering --------------------------------------------------------------------------------------

REF = "A spate of attacks by armed groups killed 2,500 people in the north last year, officials said."
PARAPHRASES = [
    "A wave of attacks by armed groups killed 2,500 people in the north last year, officials said.",
    "A spate of attacks by armed groups murdered 2,500 people in the north last year, officials said.",
]
BROKEN = {
    "reorder": "A spate of attacks by groups armed killed 2,500 people in the north last year, officials said.",
    "negation": "A spate of attacks by armed groups did not kill 2,500 people in the north last year, officials said.",
    "number": "A spate of attacks by armed groups killed 2,050 people in the north last year, officials said.",
    "dropped verb": "A spate of attacks by armed groups 2,500 people in the north last year, officials said.",
    "boundary": "A spate of attacks by armed groups killed 2,500 people at the time. in the north last year, "
                "officials said.",
    "punctuation": "A spate of attacks by armed groups killed 2,500 people in the north last year, officials said. .",
    "name": "A spate of attacks by armed groups killed 2,500 people in the north last year, Reuters said.",
}


def _flag(a, b, encoder, token_vectors=None):
    """As the engine computes it for a 1-1 pair."""
    s = metrics.sentence_scores(a, b)
    va, vb = encoder.encode([a, b])
    sa, sb = spans(a, b)
    return flag(a, b, sa, sb, s.chrf, cosine=float(va @ vb), token_vectors=token_vectors)


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_paraphrase_ranks_below_a_broken_rendering(kind, hash_encoder):
    broken = _flag(REF, BROKEN[kind], hash_encoder)
    for para in PARAPHRASES:
        assert _flag(REF, para, hash_encoder) < broken, (kind, para)


# Made-up contextual token vectors: one direction per meaning, synonyms share it, context adds a little.
_SYNONYMS = {"wave": "spate", "murdered": "killed", "kill": "killed"}


def _direction(word, dim=64):
    rng = np.random.default_rng(zlib.crc32(word.encode()))
    v = rng.normal(size=dim)
    return v / np.linalg.norm(v)


def _fake_token_vectors(text):
    offsets, vecs = [(0, 0)], [_direction("[CLS]")]
    words = list(re.finditer(r"\w+(?:,\d+)?|[^\w\s]", text))
    for n, m in enumerate(words):
        w = m.group().lower()
        v = _direction(_SYNONYMS.get(w, w)) + 0.2 * _direction(words[n - 1].group().lower() if n else "^")
        offsets.append((m.start(), m.end()))
        vecs.append(v)
    offsets.append((0, 0))
    vecs.append(_direction("[SEP]"))
    return offsets, np.array(vecs, dtype=np.float32)


def _tv(a, b):
    return _fake_token_vectors(a), _fake_token_vectors(b)


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_with_token_vectors_a_paraphrase_still_ranks_below(kind, hash_encoder):
    broken = _flag(REF, BROKEN[kind], hash_encoder, _tv(REF, BROKEN[kind]))
    for para in PARAPHRASES + ["A wave of attacks by armed groups murdered 2,500 people in the north last year, "
                               "officials said."]:
        assert _flag(REF, para, hash_encoder, _tv(REF, para)) < broken, (kind, para)


def test_token_vectors_tell_a_rewording_from_a_loss():
    a = "Police arrested three men after a fight."
    reworded = "Police detained three men after a fight."
    lost = "Police three men after a fight."
    global _SYNONYMS
    old, _SYNONYMS = _SYNONYMS, dict(_SYNONYMS, detained="arrested")
    try:
        tr = phrasing.token_match(a, reworded, _tv(a, reworded))
        tl = phrasing.token_match(a, lost, _tv(a, lost))
    finally:
        _SYNONYMS = old
    assert tr[2] < tl[2] / 2  # the unmatched "arrested" found "detained"; in `lost` it found nothing
    assert tr[0] < tl[0]


def test_flag_without_or_with_unusable_token_vectors(hash_encoder):
    b = BROKEN["number"]
    sa, sb = spans(REF, b)
    plain = flag(REF, b, sa, sb, 90.0, cosine=0.9)
    assert 0.0 < plain < 1.0
    for junk in (None, (), ((None, None), (None, None)), (([(0, 1)], np.zeros((0, 4))), ([(0, 1)], np.ones((1, 4))))):
        assert flag(REF, b, sa, sb, 90.0, cosine=0.9, token_vectors=junk) == plain
    assert 0.0 < flag(REF, b, sa, sb, None) < 1.0


def test_one_more_error_never_lowers_the_flag(hash_encoder):
    b = BROKEN["number"]
    worse = b.replace("killed", "did not kill")
    assert _flag(REF, worse, hash_encoder) > _flag(REF, b, hash_encoder)
    assert _flag(REF, worse, hash_encoder, _tv(REF, worse)) > _flag(REF, b, hash_encoder, _tv(REF, b))


def test_spans_and_flag_are_fast():
    pairs = [(REF, b) for b in list(BROKEN.values()) + PARAPHRASES] * 30
    t0 = time.perf_counter()
    for n, (a, b) in enumerate(pairs):
        a = a + f" ({n})"  # distinct texts: no cache hits
        sa, sb = spans(a, b)
        flag(a, b, sa, sb, 80.0, cosine=0.9, token_vectors=_tv(a, b))
    assert time.perf_counter() - t0 < 5.0  # ~1 ms a pair; generous for a loaded machine


@pytest.mark.parametrize("a, b", [
    ("Mr Hood called on the Iran-backed militias.", "Mr Hood called on the Iranian-backed militias."),
    ("Violence between the US and the militias.", "Violence between the United States and the militias."),
    ("He spoke at the United Nations on Monday.", "He spoke at the UN on Monday."),
])
def test_a_name_in_another_form_is_not_a_changed_name(a, b):
    sa, sb = spans(a, b)
    assert sa and sb
    assert not [k for _, _, k in sa + sb if k == "name"]
    assert phrasing.evidence(a, b, sa, sb)["facts"] == 0


def test_another_name_is_still_a_changed_name():
    for a, b in [("Officials said Reuters reported it.", "Officials said Bloomberg reported it."),
                 ("Officials in the US said so.", "Officials in the UK said so.")]:
        sa, sb = spans(a, b)
        assert [k for _, _, k in sa] == ["name"] and [k for _, _, k in sb] == ["name"]


def test_a_lost_or_added_negation_outranks_a_rewording():
    a = "Not everyone is satisfied with the new defences."
    lost = "Everyone is satisfied with the new defences."
    reworded = "Not everyone is happy with the new defences."
    assert phrasing.polarity_change(a, lost) == 1 and phrasing.polarity_change(a, reworded) == 0
    assert phrasing.polarity_change("It is not over.", "It isn't over.") == 0
    assert phrasing.polarity_change("Ce n'est pas fini du tout.", "C'est fini du tout.") == 0  # English only

    def fl(b):
        return flag(a, b, *spans(a, b), metrics.sentence_scores(a, b).chrf, cosine=0.9)

    assert fl(lost) > fl(reworded)


def test_with_the_real_model_broken_renderings_rank_above_paraphrases(model_encoder):
    """The engine's flag with the packaged model's token vectors. A verb dropped from a sentence that
    otherwise reads well is the weak spot (DEMETR's verb_removed, 0.88): it ranks above one-word
    rewordings, not above a whole sentence reordered."""
    one_word = PARAPHRASES
    more = ["A wave of attacks by armed groups murdered 2,500 people in the north last year, officials said.",
            "Last year a wave of attacks by armed groups killed 2,500 people in the north, officials said.",
            "Officials said a wave of attacks by armed groups killed 2,500 people in the north last year."]
    texts = [REF, *BROKEN.values(), *one_word, *more]
    tv = dict(zip(texts, model_encoder.token_embeddings(texts)))

    def fl(b):
        return flag(REF, b, *spans(REF, b), metrics.sentence_scores(REF, b).chrf, token_vectors=(tv[REF], tv[b]))

    top_paraphrase = max(fl(p) for p in one_word + more)
    for kind, b in BROKEN.items():
        if kind == "dropped verb":
            assert fl(b) > max(fl(p) for p in one_word)
        else:
            assert fl(b) > top_paraphrase, kind
