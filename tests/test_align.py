import numpy as np
from hypothesis import given, settings, strategies as st

from comparator import align


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
        rng = np.random.default_rng(5)
        a = _unit(rng, n, d=32)
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
        assert len(bd.a) <= align.MAX_MERGE and len(bd.b) <= align.MAX_MERGE
