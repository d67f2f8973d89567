"""The faster paths of the span stage give exactly what the plain ones gave: the tokenizer's ASCII shortcut,
`_near`'s quick ratios computed without a SequenceMatcher, the span model's word evidence from the cached
lookups, and token matching's leftover word vectors taken from the all-token ones. Exact equality, not
approximate: stored results and the JSON output must not move. No encoder model needed."""
import itertools
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

import numpy as np
import pytest

from comparator.core.marks import fluency, model, phrasing

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _texts():
    out = []
    for name in ("reference.txt", "machine.txt", "machine2.txt"):
        out += [line for line in (EXAMPLES / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    return out + ["U.S. Gen. Smith’s “report” — 2,500 fewer Mr. Lee", "Ça coûte ﬁve €3.5 ½ naïve café",
                  "airstrikes air strikes Iran Iranian reported report monitered"]


def _plain_tokens(text):
    out = []
    for m in phrasing._TOKEN.finditer(text):
        key = unicodedata.normalize("NFKC", m.group()).lower().translate(phrasing._FOLD)
        if len(key) > 1 and "." in key and not key[0].isdigit():
            key = key.replace(".", "")
        out.append((m.start(), m.end(), key))
    return out


def _plain_near(x, y):
    if min(len(x), len(y)) < 3 or phrasing._is_punct(x) or phrasing._is_punct(y):
        return False
    short, long_ = sorted((x, y), key=len)
    if len(short) >= 4 and long_.startswith(short):
        return True
    sm = SequenceMatcher(None, x, y, autojunk=False)
    return sm.real_quick_ratio() >= 0.75 and sm.quick_ratio() >= 0.75 and sm.ratio() >= 0.75


def test_tokens_as_before():
    for text in _texts():
        assert phrasing.tokens(text) == _plain_tokens(text)


def test_near_as_before():
    words = sorted({t[2] for text in _texts() for t in phrasing.tokens(text)})
    words += ["colour", "color", "organise", "organize", "aaab", "abbb", "abab", "baba", "2500", "2501"]
    for x, y in itertools.product(words, repeat=2):
        assert phrasing._near.__wrapped__(x, y) == _plain_near(x, y), (x, y)


def test_side_tables_equal_fluency_exactly():
    if fluency.tables() is None:
        pytest.skip("no word tables")
    for text in _texts():
        toks = phrasing.tokens(text)
        logp, pmi = model._side_tables(toks, english=True)
        keys = [k for _, _, k in toks]
        for k, lp in zip(keys, logp):
            known = fluency.is_word(k) and fluency.known(k)
            assert (lp is not None) == known
            if known:
                assert lp == fluency.tables()._find(fluency.tables().uni_h, fluency.tables().uni_logp, k)
        for x, y, got, lx, ly in zip(keys, keys[1:], pmi, logp, logp[1:]):
            if lx is None or ly is None:
                assert got is None
            else:
                assert got == fluency.pmi(x, y)  # the same arithmetic, to the last bit


def _vectors(text, rng):
    # model-like tokens: pieces of our tokens, a special token at each end (zero-width offsets)
    offs = [(0, 0)]
    for s, e, _ in phrasing.tokens(text):
        cut = s + max(1, (e - s) // 2)
        offs += [(s, cut), (cut, e)] if e - s > 3 else [(s, e)]
    offs.append((0, 0))
    return offs, rng.standard_normal((len(offs), 16)).astype(np.float16)


def test_token_evidence_as_token_match_then_all_words():
    rng = np.random.default_rng(7)
    texts = _texts()
    for a, b in zip(texts, texts[1:] + texts[:1]):
        tv = (_vectors(a, rng), _vectors(b, rng))
        got = phrasing.token_evidence(a, b, tv)
        assert got[:3] == phrasing.token_match(a, b, tv)
        (oa, va), (ob, vb) = tv
        wa = phrasing._word_rows(phrasing._tokens(a), oa, va)
        wb = phrasing._word_rows(phrasing._tokens(b), ob, vb)
        sim = np.clip(wa @ wb.T, 0.0, 1.0)
        assert got[3:] == (*(float(x) for x in sim.max(axis=1)), *(float(x) for x in sim.max(axis=0)))
