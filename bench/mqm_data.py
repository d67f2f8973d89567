"""The engine's evidence on the MQM news pairs (../shared/eval/mqm-news-zhen/, see its README): for each
MT / reference pair, the reference as A and the translation as B, as the engine sees a 1-1 pair: sentence
chrF and cosine (normalised texts), the contextual token evidence (`phrasing.token_evidence`, texts as
written), and the raters' error spans and MQM score. Kept in a cache (default /tmp/12-cache) so that
train_marks.py re-runs in seconds; the ~650 references are embedded once, the translations in batches.

    .venv/bin/python bench/mqm_data.py                 # build or read the cache, print a summary
    .venv/bin/python bench/mqm_data.py --model hash    # no model (quick; no token evidence)

Time: 8.6 min cold with the packaged model on 2 very busy CPU cores (2026-12-02), about a second from the cache.
"""
from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from comparator.core import metrics  # noqa: E402
from comparator.core.documents import normalise  # noqa: E402
from comparator.core.embed.encoder import DEFAULT_MODEL, get_encoder  # noqa: E402
from comparator.core.marks import phrasing  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "mqm-news-zhen" / "mqm_newstest2021_zhen.tsv"
DEFAULT_CACHE = Path("/tmp/12-cache")
VERSION = 1  # bump when what is cached changes


def read_rows(path: Path) -> list[dict]:
    csv.field_size_limit(10**9)
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["errors"] = [(int(s), int(e), sev) for s, e, sev in json.loads(r["errors"] or "[]")]
        r["mqm"] = float(r["mqm"])
    return rows


def have_data(path: Path) -> bool:
    if path.is_file():
        return True
    print(f"MQM data not found: {path}. This benchmark needs the evaluation data beside the checkout "
          f"(../shared/eval/mqm-news-zhen) or --data pointing at it.", file=sys.stderr)
    return False


def build(rows: list[dict], model: str = DEFAULT_MODEL, backend: str | None = None, progress=print) -> list[dict]:
    """Per row: reference, target, doc, errors, mqm, chrf, cosine, tokens (token_evidence or None)."""
    enc = get_encoder(model, backend) if backend else get_encoder(model)
    refs = [r["reference"] for r in rows]
    tgts = [r["target"] for r in rows]
    t0 = time.time()
    sent, _ = metrics.scores([normalise(x) for x in refs], [normalise(x) for x in tgts])
    norm = sorted({normalise(x) for x in refs + tgts}, key=len)
    vec = dict(zip(norm, enc.encode(norm)))
    progress(f"sentence vectors and chrF: {time.time() - t0:.0f} s")
    out = [{"doc": r["doc"], "system": r["system"], "seg": r["seg"], "a": r["reference"], "b": r["target"],
            "errors": r["errors"], "mqm": r["mqm"], "chrf": s.chrf,
            "cosine": round(float(np.clip(vec[normalise(r["reference"])] @ vec[normalise(r["target"])], -1, 1)), 4),
            "tokens": None} for r, s in zip(rows, sent)]
    if hasattr(enc, "token_embeddings"):
        uref = sorted(set(refs), key=len)
        tv_ref = dict(zip(uref, enc.token_embeddings(uref)))
        by_target: dict[str, list[int]] = {}
        for n, r in enumerate(out):
            by_target.setdefault(r["b"], []).append(n)
        utgt = sorted(by_target, key=len)
        step = 512
        for start in range(0, len(utgt), step):
            chunk = utgt[start:start + step]
            tv = dict(zip(chunk, enc.token_embeddings(chunk)))
            for t in chunk:
                for n in by_target[t]:
                    r = out[n]
                    te = phrasing.token_evidence(r["a"], r["b"], (tv_ref[r["a"]], tv[t]))
                    r["tokens"] = None if te is None else tuple(round(x, 5) for x in te)
            progress(f"token evidence {min(start + step, len(utgt))}/{len(utgt)}: {time.time() - t0:.0f} s")
    return out


def load(data: Path = DEFAULT_DATA, cache: Path = DEFAULT_CACHE, model: str = DEFAULT_MODEL,
         backend: str | None = None, progress=print) -> list[dict]:
    cache.mkdir(parents=True, exist_ok=True)
    name = f"mqm-v{VERSION}-{model.replace('/', '_')}-{backend or 'default'}.pkl"
    path = cache / name
    if path.is_file():
        with open(path, "rb") as fh:
            return pickle.load(fh)
    out = build(read_rows(data), model, backend, progress)
    with open(path, "wb") as fh:
        pickle.dump(out, fh)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--backend", default=None)
    args = ap.parse_args(argv)
    if not have_data(args.data):
        return 2
    t0 = time.time()
    rows = load(args.data, args.cache, args.model, args.backend)
    docs = len({r["doc"] for r in rows})
    print(f"{len(rows)} pairs, {docs} documents, {sum(1 for r in rows if r['errors'])} with errors, "
          f"{sum(1 for r in rows if r['tokens'] and len(r['tokens']) > 3)} with token evidence; {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
