import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from comparator.core import align


def _unit(rng, n, d=256):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _windows(vecs, lengths=None, paragraphs=None):
    n = len(vecs)
    lengths = np.full(n, 50.0) if lengths is None else np.asarray(lengths, float)
    paragraphs = np.zeros(n, int) if paragraphs is None else np.asarray(paragraphs)
    win = {}
    for k in range(1, align.MAX_WINDOW + 1):
        if n - k + 1 > 0:
            w = np.stack([vecs[i:i + k].sum(0) for i in range(n - k + 1)])
            win[k] = w / np.linalg.norm(w, axis=1, keepdims=True)
    return align.Windows(win, lengths, paragraphs)


def _check_complete(beads, n, m):
    a = [i for bd in beads for i in bd.a]
    b = [j for bd in beads for j in bd.b]
    assert a == list(range(n))
    assert b == list(range(m))


def test_identical_sides_align_one_to_one():
    rng = np.random.default_rng(0)
    v = _unit(rng, 20)
    beads = align.align(_windows(v), _windows(v))
    assert [(bd.a, bd.b) for bd in beads] == [((i,), (i,)) for i in range(20)]


def test_split_sentence_gives_one_to_two():
    rng = np.random.default_rng(1)
    a = _unit(rng, 6)
    # B splits A's sentence 2 into two halves whose sum points the same way
    h1 = a[2] + 0.3 * _unit(rng, 1)[0]
    h2 = a[2] + 0.3 * _unit(rng, 1)[0]
    b = np.vstack([a[:2], h1 / np.linalg.norm(h1), h2 / np.linalg.norm(h2), a[3:]])
    la = np.full(6, 60.0)
    lb = np.array([60, 60, 30, 30, 60, 60, 60], float)
    beads = align.align(_windows(a, la), _windows(b, lb))
    assert ((2,), (2, 3)) in [(bd.a, bd.b) for bd in beads]
    _check_complete(beads, 6, 7)


def test_insertion_and_deletion_stay_as_one_sided_pairs():
    rng = np.random.default_rng(2)
    a = _unit(rng, 8)
    extra = _unit(rng, 2)
    b = np.vstack([a[:3], extra, a[4:]])  # a[3] dropped, two unrelated sentences added
    beads = align.align(_windows(a), _windows(b))
    pairs = [(bd.a, bd.b) for bd in beads]
    assert ((3,), ()) in pairs
    assert ((), (3,)) in pairs and ((), (4,)) in pairs
    _check_complete(beads, 8, 9)


def _rendering(rng, a, cos):
    """B: each of A's vectors turned away from itself to the given cosine."""
    noise = _unit(rng, len(a), d=a.shape[1])
    noise -= (noise * a).sum(1, keepdims=True) * a
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    c = np.asarray(cos, float)[:, None]
    return (c * a + np.sqrt(1 - c * c) * noise).astype(np.float32)


def test_a_loose_line_between_anchors_stays_a_pair_only_in_a_free_rendering():
    rng = np.random.default_rng(5)
    a = _unit(rng, 30)
    # a free translation: its pairs spread from 0.25 to 0.85; line 12 reads far from its counterpart (0.1),
    # below min_similarity but within the spread, between two good pairs: it stays a pair
    free = rng.permutation(np.linspace(0.25, 0.85, 30))
    free[11], free[12], free[13] = 0.6, 0.1, 0.6
    beads = align.align(_windows(a), _windows(_rendering(rng, a, free)))
    assert ((12,), (12,)) in [(bd.a, bd.b) for bd in beads]
    _check_complete(beads, 30, 30)
    # a close rendering (every pair near 0.97): the same loose line is a sentence replaced, split in two
    close = np.full(30, 0.97)
    close[12] = 0.1
    beads = align.align(_windows(a), _windows(_rendering(rng, a, close)))
    pairs = [(bd.a, bd.b) for bd in beads]
    assert ((12,), ()) in pairs and ((), (12,)) in pairs
    _check_complete(beads, 30, 30)


@pytest.mark.parametrize("line", [0, 29])
def test_a_loose_line_at_either_end_of_both_texts_is_enclosed_by_the_ends(line):
    rng = np.random.default_rng(6)
    a = _unit(rng, 30)
    # a free translation whose first or last lines read far apart (a chapter's closing formula rendered
    # freely): both texts start or end there, so the ends are its anchors and it stays a pair
    free = rng.permutation(np.linspace(0.25, 0.85, 30))
    free[line], free[1 if line == 0 else 28] = 0.1, 0.6
    beads = align.align(_windows(a), _windows(_rendering(rng, a, free)))
    assert ((line,), (line,)) in [(bd.a, bd.b) for bd in beads]
    _check_complete(beads, 30, 30)
    # a close rendering: the same line is a sentence replaced, split in two
    close = np.full(30, 0.97)
    close[line] = 0.1
    beads = align.align(_windows(a), _windows(_rendering(rng, a, close)))
    pairs = [(bd.a, bd.b) for bd in beads]
    assert ((line,), ()) in pairs and ((), (line,)) in pairs
    _check_complete(beads, 30, 30)


def test_empty_sides():
    rng = np.random.default_rng(3)
    v = _unit(rng, 3)
    empty = align.Windows({}, np.zeros(0), np.zeros(0))
    assert [(bd.a, bd.b) for bd in align.align(_windows(v), empty)] == [((0,), ()), ((1,), ()), ((2,), ())]
    assert [(bd.a, bd.b) for bd in align.align(empty, _windows(v))] == [((), (0,)), ((), (1,)), ((), (2,))]


def test_long_input_uses_coarse_to_fine_and_stays_correct(monkeypatch):
    monkeypatch.setattr(align, "FULL_CELLS", 1000)  # force the coarse path on a small input
    rng = np.random.default_rng(4)
    a = _unit(rng, 300, d=32)
    b = np.vstack([a[:100], _unit(rng, 5, d=32), a[100:]])
    beads = align.align(_windows(a), _windows(b))
    pairs = {(bd.a, bd.b) for bd in beads}
    assert all(((i,), (i,)) in pairs for i in range(100))
    assert all(((i,), (i + 5,)) in pairs for i in range(100, 300))
    _check_complete(beads, 300, 305)


def test_band_is_linear_in_length():
    # the number of DP cells visited grows with n, not n * m
    cells = {}
    for n in (400, 1600):
        path = [(i, i + 1, i, i + 1) for i in range(n)]
        ci, cj = align._path_cells(path)
        lo, hi = align._band_from_cells(ci, cj, n, n, align.BAND_PASS2)
        cells[n] = int((hi - lo + 1).sum())
    assert cells[1600] < 4.5 * cells[400]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 25), st.integers(0, 25), st.integers(0, 10_000), st.booleans())
def test_every_sentence_in_exactly_one_bead_in_order(n, m, seed, coarse):
    rng = np.random.default_rng(seed)
    a, b = _unit(rng, n), _unit(rng, m)
    if n and m and seed % 2:
        b[: min(n, m)] = a[: min(n, m)]
    old = align.FULL_CELLS
    align.FULL_CELLS = 10 if coarse else old
    try:
        beads = align.align(_windows(a, rng.uniform(5, 200, n), rng.integers(0, 3, n).cumsum()),
                            _windows(b, rng.uniform(5, 200, m), rng.integers(0, 3, m).cumsum()))
    finally:
        align.FULL_CELLS = old
    _check_complete(beads, n, m)
    for bd in beads:
        assert bd.a or bd.b
        if not (bd.a and bd.b):  # one-sided beads are single sentences; pairs may grow past MOVES by _absorb
            assert len(bd.a) + len(bd.b) == 1


def _beads(pairs):
    return [align.Bead(a, b, None if not (a and b) else 0.5) for a, b in pairs]


def test_unaligned_sentence_that_completes_a_pair_joins_it():
    rng = np.random.default_rng(6)
    x, y, z, w = _unit(rng, 4)
    # B says in one sentence (x + y) what A says in two (x, then y); A's third sentence z is unrelated
    b0 = (x + y) / np.linalg.norm(x + y)
    a = np.vstack([x, y, z, w])
    b = np.vstack([b0, w])
    wa, wb = _windows(a), _windows(b)
    beads = align._absorb(_beads([((0,), (0,)), ((1,), ()), ((2,), ()), ((3,), (1,))]), wa, wb, align.AlignParams())
    assert [(bd.a, bd.b) for bd in beads] == [((0, 1), (0,)), ((2,), ()), ((3,), (1,))]
    assert beads[0].similarity > 0.95 and beads[0].confidence is not None
    # switched off, and an unrelated sentence alone: nothing moves
    off = align._absorb(_beads([((0,), (0,)), ((1,), ()), ((2,), ()), ((3,), (1,))]), wa, wb,
                        align.AlignParams(absorb=1.0))
    assert [(bd.a, bd.b) for bd in off] == [((0,), (0,)), ((1,), ()), ((2,), ()), ((3,), (1,))]


def test_absorb_takes_from_both_ends_and_both_sides():
    rng = np.random.default_rng(7)
    p, q, r, s = _unit(rng, 4)
    # B's first sentence says A's p and q; B's s is an addition; the run between the pairs holds A's q and B's s
    a = np.vstack([p, q, r])
    b = np.vstack([(p + q) / np.linalg.norm(p + q), s, r])
    wa, wb = _windows(a), _windows(b)
    beads = align._absorb(_beads([((0,), (0,)), ((1,), ()), ((), (1,)), ((2,), (2,))]), wa, wb, align.AlignParams())
    pairs = [(bd.a, bd.b) for bd in beads]
    assert pairs == [((0, 1), (0,)), ((), (1,)), ((2,), (2,))]
    _check_complete(beads, 3, 3)


def test_absorb_respects_paragraphs():
    rng = np.random.default_rng(8)
    x, y, w = _unit(rng, 3)
    b0 = (x + 0.6 * y) / np.linalg.norm(x + 0.6 * y)  # y raises the pair's cosine by about 0.11
    a = np.vstack([x, y, w])
    b = np.vstack([b0, w])
    run = [((0,), (0,)), ((1,), ()), ((2,), (1,))]
    same = align._absorb(_beads(run), _windows(a), _windows(b), align.AlignParams())
    assert [(bd.a, bd.b) for bd in same][0] == ((0, 1), (0,))
    # y opens a new paragraph on A: the small gain does not pay for the boundary
    split = align._absorb(_beads(run), _windows(a, paragraphs=[0, 1, 1]), _windows(b, paragraphs=[0, 1]),
                          align.AlignParams())
    assert [(bd.a, bd.b) for bd in split] == run


def _centred(v, mean):
    w = v - mean
    return w / np.linalg.norm(w, axis=-1, keepdims=True)


def _sharing_a_topic(seed, n, common_weight, own_weight):
    """n unit vectors that all lean on one shared direction (what centring takes out)."""
    rng = np.random.default_rng(seed)
    common = _unit(rng, 1)[0]
    v = common_weight * common + own_weight * _unit(rng, n)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_centring_removes_what_all_sentences_share():
    v = _sharing_a_topic(9, 30, 0.8, 0.6)
    mean = v.mean(0) * 0.5
    plain = v[1:] @ v[0]
    centred = _centred(v[1:], mean) @ _centred(v[0], mean)
    assert plain.mean() > 0.55 and centred.mean() < plain.mean() - 0.2  # unrelated sentences look less alike
    # the DP's form, from dot products only, is the same cosine
    fast = align._centred_cosine(v[1:] @ v[0], float(v[0] @ mean), v[1:] @ mean, float(mean @ mean))
    assert np.allclose(fast, centred, atol=1e-6)
    # and the alignment of a text with itself is unchanged, with or without it
    for center in (0.0, 0.5, 0.9):
        beads = align.align(_windows(v), _windows(v), align.AlignParams(center=center))
        assert [(bd.a, bd.b) for bd in beads] == [((i,), (i,)) for i in range(30)]
        assert all(abs(bd.similarity - 1.0) < 1e-5 for bd in beads)  # reported cosines stay plain


def test_deletion_found_when_all_sentences_share_a_topic():
    # every sentence leans on one shared direction; B drops A's sentence 5
    v = _sharing_a_topic(10, 12, 0.75, 0.66)
    b = np.vstack([v[:5], v[6:]])
    beads = align.align(_windows(v), _windows(b))
    pairs = [(bd.a, bd.b) for bd in beads]
    assert all(((i,), (i,)) in pairs for i in range(5))
    assert all(((i,), (i - 1,)) in pairs for i in range(6, 12))
    _check_complete(beads, 12, 11)


def test_long_one_sided_run_is_handled_in_linear_time():
    # one B sentence against thousands of A sentences: one long run of one-sided beads for _absorb
    rng = np.random.default_rng(11)
    a = _unit(rng, 3000, d=32)
    beads = align.align(_windows(a), _windows(a[1500:1501]))
    _check_complete(beads, 3000, 1)
    assert sum(1 for bd in beads if bd.a and bd.b) == 1


# ------------------------------------------------------------------------------------- lexical evidence


def _words(rng, k, alphabet="abcdefghijklmnopqrstuvwxyz"):
    return ["".join(rng.choice(list(alphabet), 6)) for _ in range(k)]


def _lexical_case(rng, n=60, alphabet_b=None):
    """n sentences a side; B renders A's sentence k with 4 of its 6 words kept (or, with alphabet_b, in
    other letters altogether), embedded near A's vector. After sentence 30, B has one extra sentence
    whose text shares nothing with A but whose vector is A[30]'s almost exactly: by the embeddings it is
    A[30]'s pair; by the texts B[30] is."""
    u = _unit(rng, n, 64)
    ta = [" ".join(_words(rng, 6)) for _ in range(n)]
    tb, vb = [], []
    for k in range(n):
        words = ta[k].split()
        kept = words[:4] + _words(rng, 2) if alphabet_b is None else _words(rng, 6, alphabet_b)
        tb.append(" ".join(kept))
        v = u[k] + 0.45 * _unit(rng, 1, 64)[0]
        vb.append(v / np.linalg.norm(v))
        if k == 30:
            tb.append(" ".join(_words(rng, 6) if alphabet_b is None else _words(rng, 6, alphabet_b)))
            v = u[k] + 0.05 * _unit(rng, 1, 64)[0]
            vb.append(v / np.linalg.norm(v))
    vb = np.asarray(vb, dtype=np.float32)

    def side(vecs, texts):
        w = _windows(vecs)
        return align.Windows(w.vecs, np.diff(w.cum), np.zeros(len(vecs), int), texts)

    return side(u, ta), side(vb, tb)


def _partner(beads, i):
    return next(bd.b for bd in beads if i in bd.a)


def test_lexical_evidence_fixes_what_the_embeddings_get_wrong():
    a, b = _lexical_case(np.random.default_rng(3))
    plain = align.align(a, b, align.AlignParams(lexical=0))
    assert _partner(plain, 30) == (31,)  # the embeddings pair A[30] with the look-alike
    lexical = align.align(a, b, align.AlignParams())
    assert 30 in _partner(lexical, 30)  # the shared words put its own rendering back
    assert all(_partner(lexical, k) == (k + (k > 30),) for k in range(60) if k != 30)
    _check_complete(lexical, 60, 61)
    _, w, _, _ = align._lexical_evidence(a, b, align.first_pass(a.vecs[1], b.vecs[1], np.diff(a.cum),
                                                             np.diff(b.cum), -0.1), align.AlignParams(), None)
    assert w > 0.1


def test_lexical_evidence_fades_when_the_sides_share_no_characters():
    a, b = _lexical_case(np.random.default_rng(3), alphabet_b="абвгдежзиклмнопрстуфхцчшщыэюя")
    path = align.first_pass(a.vecs[1], b.vecs[1], np.diff(a.cum), np.diff(b.cum), -0.1)
    _, w, _, _ = align._lexical_evidence(a, b, path, align.AlignParams(), None)
    assert w == 0.0
    with_lex = align.align(a, b, align.AlignParams())
    without = align.align(a, b, align.AlignParams(lexical=0))
    assert [(bd.a, bd.b) for bd in with_lex] == [(bd.a, bd.b) for bd in without]


def test_lexical_weight_follows_the_separation():
    rng = np.random.default_rng(0)
    et, ef = rng.normal(0.6, 0.1, 500), rng.normal(0.3, 0.1, 500)
    # independent lexical evidence that separates as well as the embeddings, with the same spread: weight 1
    lt, lf = rng.normal(0.4, 0.1, 500), rng.normal(0.1, 0.1, 500)
    w, base = align.lexical_weight(et, ef, lt, lf)
    assert abs(w - 1.0) < 0.25 and abs(base - lf.mean()) < 1e-9
    # a noisier copy of the embeddings' own evidence adds little
    assert align.lexical_weight(et, ef, et + rng.normal(0, 0.05, 500), ef + rng.normal(0, 0.05, 500))[0] < 0.3
    # no separation (same distribution for pairs and decoys): no weight
    noise = rng.normal(0.05, 0.02, 1000)
    assert align.lexical_weight(et, ef, noise[:500], noise[500:])[0] == 0.0
    # worse separation than the embeddings: less weight
    assert 0 < align.lexical_weight(et, ef, rng.normal(0.4, 0.1, 500), rng.normal(0.3, 0.1, 500))[0] < 0.5


def test_hashed_ngrams_are_stable_and_do_not_cross_texts():
    one = align._hash_ngrams(["Tea, with milk!"])
    two = align._hash_ngrams(["x", "tea with   MILK"])  # case, punctuation and spacing do not count
    assert np.array_equal(one[0], two[1])
    assert np.abs(one).sum() == len(" tea with milk ") - align.LEX_N + 1  # one count per n-gram
    assert np.abs(two[0]).sum() == 1  # " x " alone: nothing of the next text
    assert not np.shares_memory(one, two)
    assert align._hash_ngrams([]).shape == (0, align.LEX_DIM)


def test_lexical_work_grows_linearly(monkeypatch):
    """The lexical cosines pass two computes (B windows scored) grow with n, not n * m."""
    counted = []
    real = align.Lexical.cosine

    def counting(self, sa, da, sb, db):
        counted[-1] += len(sb)
        return real(self, sa, da, sb, db)

    monkeypatch.setattr(align.Lexical, "cosine", counting)
    monkeypatch.setattr(align, "FULL_CELLS", 1000)  # the banded first pass too, as on a long text
    per_sentence = []
    for n in (60, 240):
        rng = np.random.default_rng(n)
        a, b = _lexical_case(rng, n)
        counted.append(0)
        align.align(a, b, align.AlignParams())
        per_sentence.append(counted[-1] / n)
    assert per_sentence[0] > 0  # the evidence was used
    assert per_sentence[1] < 1.5 * per_sentence[0]


def test_lexical_cosine_of_any_window_size():
    """Windows of the moves and the longer ones the absorb step can grow match a direct computation."""
    rng = np.random.default_rng(5)
    ta = [" ".join(_words(rng, 5)) for _ in range(12)]
    tb = [" ".join(t.split()[:3] + _words(rng, 2)) for t in ta]
    lex = align.Lexical(ta, tb)
    for da, db in ((1, 1), (2, 3), (1, 6), (align.MAX_MOVE + 2, 1), (1, align.MAX_MOVE + 3)):
        sb = np.arange(0, len(tb) - db + 1)
        got = lex.cosine(1, da, sb, db)
        va = lex.a[1 : 1 + da].sum(0)
        want = [float(lex.b[j : j + db].sum(0) @ va) / (np.linalg.norm(lex.b[j : j + db].sum(0)) * np.linalg.norm(va))
                for j in sb]
        assert np.allclose(got, want, atol=1e-5)


def _reference_dp(n, m, lo, hi, moves, score, skip):
    """The best path cell by cell, in plain Python: what align._dp computes a block of rows at a time."""
    import math

    best, back = {}, {}
    for i in range(n + 1):
        for j in range(int(lo[i]), int(hi[i]) + 1):
            b, c = (0.0, -1) if (i, j) == (0, 0) else (-math.inf, -1)
            for code, (da, db) in enumerate(moves):
                pi, pj = i - da, j - db
                if (pi, pj) not in best:
                    continue
                v = best[(pi, pj)] + (skip if da == 0 or db == 0 else score(i, pj, da, db))
                if v > b:
                    b, c = v, code
            best[(i, j)], back[(i, j)] = b, c
    path, i, j = [], n, m
    while i > 0 or j > 0:
        da, db = moves[back[(i, j)]]
        path.append((i - da, i, j - db, j))
        i, j = i - da, j - db
    return path[::-1]


@pytest.mark.parametrize("seed", range(6))
def test_block_dp_matches_cell_by_cell(seed):
    """The DP scored by blocks of rows (every move's cells at once) finds the path a cell-by-cell DP finds,
    within a band and on the whole grid, across block boundaries."""
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(5, 150)), int(rng.integers(5, 150))
    table = {mv: rng.normal(size=(n + 1, m + 1)) for mv in align.MOVES}

    def score(i, jj, da, db):
        return table[(da, db)][i, jj]

    if seed % 2:
        lo, hi = np.zeros(n + 1, dtype=np.int64), np.full(n + 1, m, dtype=np.int64)
    else:  # a band around the diagonal
        diag = np.round(np.arange(n + 1) * m / n).astype(np.int64)
        lo, hi = np.maximum(diag - 6, 0), np.minimum(diag + 6, m)
        lo[0], hi[n] = 0, m
        lo, hi = np.minimum.accumulate(lo[::-1])[::-1], np.maximum.accumulate(hi)
    moves = align.MOVES
    got = align._dp(n, m, lo, hi, moves, score, -0.3)
    ref = _reference_dp(n, m, lo, hi, moves, lambda i, j, da, db: table[(da, db)][i, j], -0.3)
    assert got == ref


def test_speech_cuts_are_turns_of_dialogue():
    cuts = align.speech_cuts(["He said:", "\u201cGo.\u201d", "Then he left.", "'Why?' she asked.", "Fine.",
                              "\u300c\u597d\u300d", "x"])
    # the ends count as turns; after a colon, after a closing quote, before an opening quote
    assert cuts.tolist() == [1, 1, 1, 1, 0, 1, 1, 1]


def _dialogue_case(rng, n=60, lean=0.555):
    """A and B tell the same n sentences, every third one a quoted line on both sides. At A[21] (a quoted
    line: the cut before it is a turn) B has three sentences where A has two: B[20] renders A[20], B[21]
    opens A[21]'s quote and B[22] closes it, each half as long as A[20] and A[21], but B[21]'s vector
    leans towards A[20] (`lean`), so by the embeddings B[21] completes A[20]; by the dialogue it opens
    A[21]'s reply."""
    u = _unit(rng, n, 64)

    def noisy(v, s=0.4):
        v = v + s * _unit(rng, 1, 64)[0]
        return v / np.linalg.norm(v)

    def text(k, w=5):
        words = " ".join(_words(rng, w))
        return f"'{words}.'" if k % 3 == 0 else f"{words}."

    ta = [text(k, 6 if k in (20, 21) else 5) for k in range(n)]
    tb, vb = [], []
    for k in range(n):
        if k == 20:  # as long as B[21] and B[22]: the lengths do not tell where B[21] goes
            tb.append(text(k, 3))
            vb.append(noisy(u[k]))
        elif k == 21:
            tb.append("'" + " ".join(_words(rng, 3)) + ",")
            vb.append(noisy(lean * u[20] + (1 - lean) * u[21], 0.2))
            tb.append(" ".join(_words(rng, 3)) + ".'")
            vb.append(noisy(u[21]))
        else:
            tb.append(text(k))
            vb.append(noisy(u[k]))
    vb = np.asarray(vb, dtype=np.float32)

    def side(vecs, texts):
        lengths = [len(t) for t in texts]
        return align.Windows(_windows(vecs, lengths).vecs, np.asarray(lengths, float), np.zeros(len(vecs), int),
                             texts)

    return side(u, ta), side(vb, tb)


def test_dialogue_evidence_puts_a_reply_with_its_speaker():
    a, b = _dialogue_case(np.random.default_rng(5))
    plain = align.align(a, b, align.AlignParams(speech=0, lexical=0))
    assert _partner(plain, 20) == (20, 21)  # the embeddings give the reply's opening to A[20]
    spoken = align.align(a, b, align.AlignParams(lexical=0))
    assert _partner(spoken, 20) == (20,)
    assert _partner(spoken, 21) == (21, 22)
    assert all(_partner(spoken, k) == (k + (k > 21),) for k in range(60) if k not in (20, 21))
    _check_complete(spoken, 60, 61)
    path = align.first_pass(a.vecs[1], b.vecs[1], np.diff(a.cum), np.diff(b.cum), -0.1)
    _, _, value = align._boundary_evidence(a, b, path, align.AlignParams(), None)
    assert value[1, 1] > 0 > value[1, 0] and value[0, 1] < 0  # cuts that agree are likelier pairs' ends


def test_dialogue_evidence_changes_nothing_without_dialogue():
    a, b = _lexical_case(np.random.default_rng(3))  # no quotes, no colons
    path = align.first_pass(a.vecs[1], b.vecs[1], np.diff(a.cum), np.diff(b.cum), -0.1)
    _, _, value = align._boundary_evidence(a, b, path, align.AlignParams(), None)
    assert abs(value[0, 0]) < 0.01
    with_speech = align.align(a, b, align.AlignParams())
    without = align.align(a, b, align.AlignParams(speech=0))
    assert [(bd.a, bd.b) for bd in with_speech] == [(bd.a, bd.b) for bd in without]
    assert align._boundary_evidence(a, b, path, align.AlignParams(speech=0), None) is None


def _additions_case(rng, n=40, near=0.5):
    """B renders A's n sentences (every fourth one broken in two) and adds two paragraphs of its own,
    long enough to make B three quarters longer than A. Returns the sides and B's added sentences."""
    u = _unit(rng, n, 64)
    vb, lb, added = [], [], []
    for k in range(n):
        v = u[k] + 0.3 * _unit(rng, 1, 64)[0]
        vb.append(v / np.linalg.norm(v))
        lb.append(150.0 if k % 4 == 0 else 200.0)
        if k % 4 == 0:  # the broken-off end of the sentence
            v = u[k] + 0.8 * _unit(rng, 1, 64)[0]
            vb.append(v / np.linalg.norm(v))
            lb.append(50.0)
        if k in (10, 25):
            for _ in range(5):
                added.append(len(vb))
                v = near * u[k] + _unit(rng, 1, 64)[0]  # on the same subject as the sentence before
                vb.append(v / np.linalg.norm(v))
                lb.append(600.0)
    a = _windows(u, np.full(n, 200.0))
    b = _windows(np.asarray(vb, dtype=np.float32), lb)
    return a, b, added


def test_added_paragraphs_stay_one_sided_though_they_lengthen_the_text(monkeypatch):
    a, b, added = _additions_case(np.random.default_rng(11))
    beads = align.align(a, b)
    _check_complete(beads, a.n, b.n)
    one_sided = {j for bd in beads if not bd.a for j in bd.b}
    assert set(added) <= one_sided
    assert all(len(bd.a) == 1 for bd in beads if bd.b and bd.a)
    # the length ratio of the whole texts (1.75) would make every pair look short and swallow them
    monkeypatch.setattr(align, "paired_length_ratio", lambda path, la, lb, strength, fallback: fallback)
    monkeypatch.setattr(align, "RATIO_ROUNDS", 0)
    swallowed = align.align(a, b)
    assert not set(added) <= {j for bd in swallowed if not bd.a for j in bd.b}


def test_paired_length_ratio_counts_paired_sentences_only():
    la, lb = np.full(20, 100.0), np.r_[np.full(20, 120.0), np.full(10, 500.0)]
    path = [(i, i + 1, i, i + 1) for i in range(20)] + [(20, 20, j, j + 1) for j in range(20, 30)]
    assert align.paired_length_ratio(path, la, lb, 1.0, 9.9) == pytest.approx(1.2)
    assert align.length_ratio(la, lb) == pytest.approx(3.7)
    assert align.paired_length_ratio(path[:5], la, lb, 1.0, 9.9) == 9.9  # too few pairs: the fallback


def _edge_case(rng, n=60, lean=0.65):
    """A and B tell the same n sentences; each of A's has a beginning and an end of its own (h, t), its
    vector their mean. B renders A[21] in two sentences, B[21] its beginning and B[22] its end, but B[21]'s
    vector leans towards A[20] (`lean`), so by the embeddings B[21] completes A[20]; by A's edges it opens
    A[21]."""
    h, t = _unit(rng, n, 64), _unit(rng, n, 64)
    u = h + t
    u /= np.linalg.norm(u, axis=1, keepdims=True)

    def noisy(v, s=0.3):
        v = v + s * _unit(rng, 1, 64)[0]
        return v / np.linalg.norm(v)

    ta = [" ".join(_words(rng, 12)).capitalize() + "." for _ in range(n)]
    tb, vb = [], []
    for k in range(n):
        if k == 20:
            tb.append(" ".join(_words(rng, 6)).capitalize() + ".")
            vb.append(noisy(u[k]))
        elif k == 21:
            tb.append(" ".join(_words(rng, 6)).capitalize() + ".")
            vb.append(noisy(lean * u[20] + (1 - lean) * h[21], 0.1))
            tb.append(" ".join(_words(rng, 6)).capitalize() + ".")
            vb.append(noisy(t[21], 0.1))
        else:
            tb.append(" ".join(_words(rng, 12)).capitalize() + ".")
            vb.append(noisy(u[k]))
    vb = np.asarray(vb, dtype=np.float32)

    def side(vecs, texts, edges=None):
        lengths = [len(x) for x in texts]
        return align.Windows(_windows(vecs, lengths).vecs, np.asarray(lengths, float), np.zeros(len(vecs), int),
                             texts, edges)

    return side(u, ta, lambda idx: (h[idx], t[idx])), side(vb, tb)


def test_edge_evidence_puts_a_sentence_with_the_one_it_begins():
    a, b = _edge_case(np.random.default_rng(7))
    off = align.AlignParams(lexical=0, speech=0, edge=0)
    plain = align.align(a, b, off)
    assert _partner(plain, 20) == (20, 21)  # the window cosine gives A[21]'s opening to A[20]
    edged = align.align(a, b, align.AlignParams(lexical=0, speech=0))
    assert _partner(edged, 20) == (20,) and _partner(edged, 21) == (21, 22)
    assert all(_partner(edged, k) == (k + (k > 21),) for k in range(60) if k not in (20, 21))
    _check_complete(edged, 60, 61)
    # without the caller's edges the evidence is off and nothing changes
    bare = align.Windows(a.vecs, np.diff(a.cum), np.zeros(60, int), a.texts)
    assert [x.a for x in align.align(bare, b, align.AlignParams(lexical=0, speech=0))] == [x.a for x in plain]


def _edge_table(a, b):
    """The edge evidence of every cell of a full band, over the path the aligner finds without it."""
    plain = align.align(a, b, align.AlignParams(lexical=0, speech=0, edge=0))
    path = [(bd.a[0], bd.a[-1] + 1, bd.b[0], bd.b[-1] + 1) if bd.a and bd.b else
            (bd.a[0] if bd.a else 0, bd.a[-1] + 1 if bd.a else 0, bd.b[0] if bd.b else 0, bd.b[-1] + 1 if bd.b else 0)
            for bd in plain]
    path1 = align.first_pass(a.vecs[1], b.vecs[1], np.diff(a.cum), np.diff(b.cum), -0.1)
    samples = align._pass_one_samples(a, b, path1, None)
    lo = np.zeros(a.n + 1, dtype=np.int64)
    band_off = np.arange(a.n + 2, dtype=np.int64) * (b.n + 1)  # every row holds all of B's cells
    table = align._edge_evidence(a, b, path, align.AlignParams(), samples, lo, band_off)
    return lambda ci, cj: table[ci * (b.n + 1) + cj]


def test_edge_evidence_is_silent_at_a_cut_before_a_sentence_that_continues_another():
    a, b = _edge_case(np.random.default_rng(7))
    value = _edge_table(a, b)
    # cuts after A[20] (21 sentences): before B[21] is the right one, before B[22] the wrong one
    assert value(21, 21) > 0 > value(21, 22)
    # B[21] now reads as the end of B[20]'s sentence ("... he said."): nothing is said at the cut before it
    b.texts[21] = b.texts[21][0].lower() + b.texts[21][1:]
    assert _edge_table(a, b)(21, 21) == 0.0
    assert list(align.continues(["he said.", "\u201cLook!\u201d", "\u201cthe end", "3 men", ""])) == [
        True, False, True, False, False]


def test_edges_are_how_a_sentence_begins_and_ends():
    long = "One two three four five six seven eight nine ten."
    assert align.split_edges(long) == ("One two three four", "seven eight nine ten.")
    assert align.split_edges("The first of them, and the second one.") == ("The first of them,", "and the second one.")
    assert align.split_edges("he asked.") is None and align.split_edges("\u201cLook!\u201d") is None
    zh = "他站起身来，走到窗前看了很久。"
    assert align.split_edges(zh) == ("他站起身来，", "走到窗前看了很久。")
    assert align.split_edges("好。") is None
