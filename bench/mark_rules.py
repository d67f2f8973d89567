"""Which spans to show as marks: decision rules over the span model's p, measured on the MQM news pairs.

The rule shipped before was one threshold on p (0.35); the one shipped now is the pair gate with one word of
widening (comparator/core/marks/rule.py, chosen by train_marks.py). This script measures both families,
with the same character-level F1 and "error-free segments left unmarked" as train_marks.py:

- a pair gate (hysteresis): a pair's spans with p >= S are marks only when its strongest span in B has
  p >= G (A's spans too; no mark at all in a pair below the gate);
- widening: every mark also covers the whole words it touches and the K words on each side (K = -1: the
  span as it is; 0: whole words; 1, 2: neighbours).

The rules' parameters are chosen where the shipped threshold is (the held-apart documents) and also, to see
whether they transfer, on out-of-fold p of the training documents (three folds by document, each fold's
trees fitted with train_marks.py's own recipe: the MQM rows, the rows without token or English evidence,
the synthetic breakage of that fold's documents), and on one half of the held-apart documents against the
other (three random halvings). Reads ../shared/eval/mqm-news-zhen through mqm_data.py's cache, as
train_marks.py does; the out-of-fold p are cached beside it.

    .venv/bin/python bench/mark_rules.py              # about 2 min with mqm_data.py's cache warm
"""
from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import mqm_data  # noqa: E402
import train_marks as tm  # noqa: E402
from comparator.core.marks import model as span_model  # noqa: E402


def recipe(rows, syn, seed):
    """The span model fitted as train_marks.main fits it, on these rows and these synthetic pairs."""
    x, y, _ = tm.training_rows(rows, syn, np.random.default_rng(seed), log=lambda *a, **k: None)
    return tm.fit_trees(x, y)


def out_of_fold(train, syn_all, cache: Path, synthetic: int):
    path = cache / f"mark-rules-oof-{synthetic}-{tm.SEED}.pkl"
    if path.is_file():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    docs = sorted({r["doc"] for r in train})
    fold = {d: n % 3 for n, d in enumerate(np.random.default_rng(tm.SEED).permutation(docs))}
    oof = {}
    for f in range(3):
        g = recipe([r for r in train if fold[r["doc"]] != f], [r for r in syn_all if fold[r["doc"]] != f],
                   tm.SEED + f)
        idx = [i for i, r in enumerate(train) if fold[r["doc"]] == f]
        x, _, _, where = tm.prepare([train[i] for i in idx])
        p = g.predict_proba(x.astype(np.float32))[:, 1]
        for i, (s, e, na) in zip(idx, where):
            oof[i] = (p[s:s + na], p[s + na:e])
        print(f"# fold {f} fitted", flush=True)
    with open(path, "wb") as fh:
        pickle.dump(oof, fh)
    return oof


measure, choose = tm.rule_figures, tm.choose_rule


def fmt(m) -> str:
    return " / ".join(f"{v:.3f}" for v in m)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=mqm_data.DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=mqm_data.DEFAULT_CACHE)
    ap.add_argument("--synthetic", type=int, default=3000)
    args = ap.parse_args(argv)
    if not mqm_data.have_data(args.data):
        return 2
    t0 = time.time()
    rows = mqm_data.load(args.data, args.cache)
    train, held, held_docs = tm.split(rows)
    syn_all = tm.synthetic_rows(train, args.synthetic, args.cache, mqm_data.DEFAULT_MODEL) if args.synthetic else []
    oof = out_of_fold(train, syn_all, args.cache, args.synthetic)
    tm.prepare(train)
    for i, r in enumerate(train):
        r["p_a"], r["p_b"] = oof[i]
    model = span_model.load()
    xh, _, _, where = tm.prepare(held)
    ph = model.p(xh)
    for r, (s, e, na) in zip(held, where):
        r["p_a"], r["p_b"] = ph[s:s + na], ph[s + na:e]
    print(f"# {len(train)} training pairs (out-of-fold p), {len(held)} held-apart pairs (the packaged model); "
          f"{time.time() - t0:.0f} s\n")

    print("| rule | chosen on | gate / span | P / R / F1 / error-free unmarked, held apart |")
    print("|---|---|---|---|")
    for gated in (False, True):
        for widen in (-1, 0, 1, 2):
            name = ("pair gate" if gated else "one threshold") + {-1: "", 0: ", whole words",
                                                                   1: ", +1 word", 2: ", +2 words"}[widen]
            for where_name, pick in (("held apart", held), ("training, out of fold", train)):
                got = choose(pick, gated, widen)
                if got is None:
                    print(f"| {name} | {where_name} | none reaches half | |")
                    continue
                g, s, _ = got
                print(f"| {name} | {where_name} | {g:.3f} / {s:.2f} | {fmt(measure(held, g, s, widen))} |",
                      flush=True)

    print("\nhalf of the held-apart documents against the other half (F1 / error-free unmarked on the other half):\n")
    print("| rule | halving 1 | halving 2 | halving 3 | mean |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    halvings = []
    for _ in range(3):
        perm = list(rng.permutation(held_docs))
        halvings.append(set(perm[:len(perm) // 2]))
    for gated in (False, True):
        for widen in (-1, 1):
            cells, f1s, frees = [], [], []
            for half in halvings:
                parts = [[r for r in held if r["doc"] in half], [r for r in held if r["doc"] not in half]]
                got_cell = []
                for k in (0, 1):
                    got = choose(parts[k], gated, widen)
                    if got is None:
                        got_cell.append("–")
                        continue
                    m = measure(parts[1 - k], got[0], got[1], widen)
                    f1s.append(m[2])
                    frees.append(m[3])
                    got_cell.append(f"{m[2]:.3f} / {m[3]:.3f}")
                cells.append(", ".join(got_cell))
            name = ("pair gate" if gated else "one threshold") + (", +1 word" if widen == 1 else "")
            print(f"| {name} | {' | '.join(cells)} | {np.mean(f1s):.3f} / {np.mean(frees):.3f} |", flush=True)
    print(f"\n# {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
