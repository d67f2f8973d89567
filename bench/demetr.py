"""Does a score notice an injected error? The DEMETR check of the phrasing flag, beside chrF and BLEU.

Reads the perturbation files of DEMETR (../shared/eval/demetr-dev/*.json beside the checkout; see that
folder's README). Each item has a human reference `eng_sent`, a machine translation `mt_sent` and
`pert_sent`, the same translation with one injected error. A scorer passes an item when it rates the
perturbed rendering worse than the unperturbed one against the reference, strictly (a tie fails):

- the project's flag: flag(eng, pert) > flag(eng, mt);
- chrF and sentence BLEU (sacrebleu, as the engine computes them): score(eng, mt) > score(eng, pert).

The flag is computed as the engine computes it for a 1-1 pair: `phrasing.spans` on the texts as written,
then `phrasing.flag` with the pair's chrF (on the normalised texts) and the cosine of the two sentence
vectors from the encoder (`comparator.core.embed.encoder.get_encoder`, the packaged all-MiniLM-L6-v2 unless --model
says otherwise; `--model hash` needs no model and is quick, but its cosine is not the engine's). Two
columns: "flag" also passes the pair's contextual token vectors (`token_vectors=`, from the encoder's
`token_embeddings` of the texts as written), as the engine does by default; "flag, no token vectors" is
the engine's call under `--no-token-vectors` (here too, --no-token-vectors skips the first column and the
second model pass).

Items whose perturbed sentence equals the translation (the perturbation found nothing to change, e.g. no
number in the sentence) carry no error and are left out; their count is reported (--keep-unchanged keeps
them, where every scorer ties and so fails).

Held-out check: items are also split by their position in each file, even and odd, and the pass rates of
both halves are reported (the flag's weights were set looking at the even half only).

    .venv/bin/python bench/demetr.py                        # all twelve files
    .venv/bin/python bench/demetr.py --limit 100            # a quick look with the model, ~2 min
    .venv/bin/python bench/demetr.py --model hash --limit 200   # no model, no token vectors, ~10 s
    .venv/bin/python bench/demetr.py --json demetr.json     # also write the figures and settings as JSON

Time, all twelve files (10,946 items, 11,944 distinct pairs, ~14,000 distinct sentences) on 2 CPU cores:
95 s on an idle machine (4.5 min on a busy one): 79 s for the two model passes over the sentences
(sentence vectors, then token vectors), 16 s for spans, both flags, chrF and BLEU.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from comparator.core import metrics  # noqa: E402
from comparator.core.marks import phrasing  # noqa: E402
from comparator.core.documents import normalise  # noqa: E402
from comparator.core.embed.encoder import DEFAULT_MODEL, get_encoder  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "demetr-dev"


def load(data: Path, limit: int | None = None, keep_unchanged: bool = False) -> tuple[dict[str, list[dict]], dict]:
    """Items per perturbation file (file stem -> items, each with its position `pos` in the file)."""
    files = sorted(data.glob("*.json"))
    out: dict[str, list[dict]] = {}
    skipped: dict[str, int] = {}
    for f in files:
        items = json.loads(f.read_text(encoding="utf-8"))
        if limit:
            items = items[:limit]
        kept = []
        for pos, it in enumerate(items):
            if not keep_unchanged and it["pert_sent"] == it["mt_sent"]:
                continue
            kept.append({"pos": pos, "eng": it["eng_sent"], "mt": it["mt_sent"], "pert": it["pert_sent"]})
        out[f.stem] = kept
        skipped[f.stem] = len(items) - len(kept)
    return out, skipped


class PairScorer:
    """Scores (a, b) pairs as the engine's `_score` does for a 1-1 pair, each distinct pair once.

    Two flags per pair: `flag`, with the pair's contextual token vectors (`token_vectors=`, as the engine
    passes them by default; see phrasing.flag), and `flag_plain`, without them, as the engine calls flag
    under --no-token-vectors (the cosine stands in). An encoder without token vectors (hash) gives only
    the second.
    """

    def __init__(self, encoder, token_vectors: bool = True):
        self.encoder = encoder
        self.use_tokens = token_vectors and hasattr(encoder, "token_embeddings")
        self.tokens: dict[str, tuple] = {}
        self.cache: dict[tuple[str, str], dict] = {}

    def prepare(self, texts: list[str], progress=None) -> None:
        """Embed all distinct texts in batches (the engine embeds all pairs of a document together):
        sentence vectors of the normalised texts, token vectors of the texts as written (their offsets
        index the strings that spans and flag receive)."""
        self.encoder.encode(sorted({normalise(t) for t in texts}, key=len), progress=progress)
        if self.use_tokens:
            raw = sorted(set(texts), key=len)
            step = 512
            for start in range(0, len(raw), step):
                chunk = raw[start:start + step]
                self.tokens.update(zip(chunk, self.encoder.token_embeddings(chunk)))

    def __call__(self, a: str, b: str) -> dict:
        key = (a, b)
        got = self.cache.get(key)
        if got is None:
            na, nb = normalise(a), normalise(b)
            va, vb = self.encoder.encode([na, nb])
            cosine = round(float(np.clip(va @ vb, -1.0, 1.0)), 4)
            s = metrics.sentence_scores(na, nb)
            a_spans, b_spans = phrasing.spans(a, b)
            plain = phrasing.flag(a, b, a_spans, b_spans, s.chrf, cosine=cosine)
            if self.use_tokens:
                tv = (self.tokens[a], self.tokens[b])
                f = phrasing.flag(a, b, a_spans, b_spans, s.chrf, cosine=cosine, token_vectors=tv)
            else:
                f = float("nan")
            got = {"flag": f, "flag_plain": plain, "chrf": s.chrf, "bleu": s.bleu, "cosine": cosine}
            self.cache[key] = got
        return got


SCORERS = ("flag", "flag_plain", "chrf", "bleu")


def passes(mt: dict, pert: dict) -> dict[str, bool]:
    return {
        "flag": pert["flag"] > mt["flag"],
        "flag_plain": pert["flag_plain"] > mt["flag_plain"],
        "chrf": mt["chrf"] > pert["chrf"],
        "bleu": mt["bleu"] > pert["bleu"],
    }


def evaluate(data: dict[str, list[dict]], scorer: PairScorer) -> dict:
    per_file = {}
    for name, items in data.items():
        rows = []
        for it in items:
            p = passes(scorer(it["eng"], it["mt"]), scorer(it["eng"], it["pert"]))
            rows.append((it["pos"] % 2, *(p[s] for s in SCORERS)))
        r = np.array(rows, dtype=float).reshape(-1, 1 + len(SCORERS))
        res: dict = {"n": len(r)}
        for k, s in enumerate(SCORERS):
            res[s] = float(r[:, 1 + k].mean()) if len(r) else float("nan")
            for half, label in ((0, "even"), (1, "odd")):
                m = r[:, 0] == half
                res[f"{s}_{label}"] = float(r[m, 1 + k].mean()) if m.any() else float("nan")
        if not scorer.use_tokens:
            for k in [k for k in res if k.startswith("flag") and not k.startswith("flag_plain")]:
                res[k] = float("nan")
        per_file[name] = res
    keys = [k for k in next(iter(per_file.values())) if k != "n"] if per_file else []
    mean = {k: float(np.mean([v[k] for v in per_file.values()])) for k in keys}
    mean["n"] = sum(v["n"] for v in per_file.values())
    return {"files": per_file, "mean": mean}


COLUMNS = (("flag", "flag"), ("flag_plain", "flag, no token vectors"), ("chrf", "chrF"), ("bleu", "BLEU"),
           ("flag_even", "flag, even items"), ("flag_odd", "flag, odd items"),
           ("flag_plain_even", "no tok., even"), ("flag_plain_odd", "no tok., odd"))


def _fmt(x: float) -> str:
    return "n/a" if x != x else f"{x:.3f}"


def table(result: dict, skipped: dict) -> str:
    lines = ["| perturbation file | n | " + " | ".join(label for _, label in COLUMNS) + " |",
             "|---|---:|" + "---:|" * len(COLUMNS)]

    def row(name, v, bold=False):
        cells = [_fmt(v[k]) for k, _ in COLUMNS]
        if bold:
            cells = [f"**{c}**" for c in cells]
            name = f"**{name}**"
        return f"| {name} | {v['n']} | " + " | ".join(cells) + " |"

    for name, v in result["files"].items():
        lines.append(row(name, v))
    lines.append(row("mean", result["mean"], bold=True))
    left = sum(skipped.values())
    if left:
        lines.append("")
        lines.append(f"{left} items whose perturbed sentence equals the translation were left out "
                     f"({', '.join(f'{k}: {n}' for k, n in skipped.items() if n)}).")
    return "\n".join(lines)


def have_data(folder: Path) -> bool:
    """Whether the DEMETR files are there; when not, says so on stderr (the caller exits 2)."""
    if folder.is_dir() and any(folder.glob("*.json")):
        return True
    print(f"DEMETR data not found: {folder} has no *.json files. This benchmark needs the evaluation data "
          f"beside the checkout (../shared/eval/demetr-dev) or --data pointing at it.", file=sys.stderr)
    return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"folder of DEMETR json files ({DEFAULT_DATA})")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="encoder for the cosine (default: %(default)s; "
                                                           "'hash' for a quick model-free run)")
    ap.add_argument("--backend", default="auto", help="encoder backend, as the CLI's --backend (e.g. onnx-int8)")
    ap.add_argument("--limit", type=int, default=None, help="first N items of each file only")
    ap.add_argument("--keep-unchanged", action="store_true", help="keep items where pert_sent == mt_sent")
    ap.add_argument("--no-token-vectors", action="store_true",
                    help="skip the contextual token vectors (only the flag as the engine computes it under --no-token-vectors)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    if not have_data(args.data):
        return 2

    t0 = time.perf_counter()
    data, skipped = load(args.data, args.limit, args.keep_unchanged)
    texts = [t for items in data.values() for it in items for t in (it["eng"], it["mt"], it["pert"])]
    encoder = get_encoder(args.model, args.backend)
    t1 = time.perf_counter()
    scorer = PairScorer(encoder, token_vectors=not args.no_token_vectors)
    scorer.prepare(texts)
    t2 = time.perf_counter()
    result = evaluate(data, scorer)
    t3 = time.perf_counter()
    print(table(result, skipped))
    timing = {"load": round(t1 - t0, 1), "embed": round(t2 - t1, 1), "score": round(t3 - t2, 1),
              "total": round(t3 - t0, 1), "pairs": len(scorer.cache)}
    tok = "yes" if scorer.use_tokens else "no"
    print(f"\nmodel {args.model} ({getattr(encoder, 'backend', '')}); token vectors: {tok}; "
          f"{timing['pairs']} distinct pairs; load {timing['load']} s, embed {timing['embed']} s, "
          f"spans+flags+chrF+BLEU {timing['score']} s, total {timing['total']} s")
    if args.json:
        out = {"settings": {"data": str(args.data), "model": args.model, "backend": args.backend, "limit": args.limit,
                            "keep_unchanged": args.keep_unchanged, "token_vectors": scorer.use_tokens},
               "skipped": skipped, "timing": timing, **result}
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
