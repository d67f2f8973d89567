#!/usr/bin/env python3
"""Cross-lingual sentence alignment, Chinese (A) against English (B), with a multilingual encoder.

Data beside the checkout (see ../shared/eval/README.md); missing data: exit 2 with a message.
  mac    ../shared/eval/mac-dev/NNN.zh against NNN.en, gold NNN.align (`[zh lines]:[en lines]` a line):
         twelve literary chapters and their published human translations.
  bible  ../shared/eval/bible-zhen/001.zh (6,301 lines) against 001.en (5,000 lines), gold 001.align: one
         long text, the scale test of the cross-lingual path. Its gold lists the English lines first
         (`[en lines]:[zh lines]`); a gold whose indices fit only the other way round is read so, and said.

Each text goes through comparator.core.pipeline.compare() with mode lines, exactly as
`mt-comparator score A B --mode lines --model M` runs it. Every unit is mapped back to the file line(s)
its characters lie on; a predicted pair becomes (its A lines, its B lines) (pairs that share a line, a
line cut into several units, are merged and counted). Scores: align_bible's counts/scores (Vecalign's
score.py: strict = the exact bead; lax = an A and a B line some gold bead pairs; precision over all
predicted beads, recall over the two-sided gold beads), micro-averaged over the chapters; and group-level
strict, the same after the predicted pairs that lie inside one gold bead are merged (align_bible.coarsen:
the Bible's gold groups are verses, and a verse of two sentences a side paired 1-1 and 1-1 is right at
sentence level but wrong by plain strict).

Vectors are kept in an on-disk store (`--embed-cache FILE`, SQLite, keyed by the model; default: the
engine's own store in the cache folder), so that a second run embeds nothing; the encoder's speed
(sentences per second) is reported from the texts a run had to embed. Time per stage from compare()'s
progress events; peak RSS of the process (VmHWM).

    .venv/bin/python bench/align_zhen.py --model multilingual
    .venv/bin/python bench/align_zhen.py --model multilingual-use --sets mac --json /tmp/use.json
    .venv/bin/python bench/align_zhen.py --model multilingual --set length_ratio=0   # no length-ratio norm.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import align_bible as ab  # scoring and the compare() call, shared with the NT benchmark

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "eval"
MAC_CHAPTERS = ("001", "002", "003", "004", "009", "010", "011", "012", "017", "018", "019", "020")
SETS = ("mac", "bible")


def read_gold(path: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            a, b = line.split(":")
            out.append((tuple(json.loads(a)), tuple(json.loads(b))))
        except ValueError as e:
            raise SystemExit(f"{path}:{n}: not a `[ids]:[ids]` line ({e})")
    return out


def unit_lines(text: str, sentences: list[str]) -> list[frozenset[int]]:
    """The file lines each unit's characters lie on."""
    starts = np.asarray([0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"])
    out = []
    for s, e in ab.locate(text, sentences):
        first = int(np.searchsorted(starts, s, side="right") - 1)
        last = int(np.searchsorted(starts, max(e - 1, s), side="right") - 1)
        out.append(frozenset(range(first, last + 1)))
    return out


def line_beads(cmp, text_a: str, text_b: str):
    """The predicted pairs as (A lines, B lines), pairs that share a line merged; and how many merges."""
    la, lb = unit_lines(text_a, cmp.a_sentences), unit_lines(text_b, cmp.b_sentences)
    out: list[list[set]] = []
    owner_a: dict[int, int] = {}
    owner_b: dict[int, int] = {}
    merged = 0
    for p in cmp.pairs:
        a = set().union(*[la[i] for i in p.a]) if p.a else set()
        b = set().union(*[lb[j] for j in p.b]) if p.b else set()
        hit = {owner_a[i] for i in a if i in owner_a} | {owner_b[j] for j in b if j in owner_b}
        if hit:
            k = min(hit)
            merged += 1
            for h in sorted(hit - {k}, reverse=True):
                out[k][0] |= out[h][0]
                out[k][1] |= out[h][1]
                out[h] = [set(), set()]
            out[k][0] |= a
            out[k][1] |= b
        else:
            k = len(out)
            out.append([a, b])
        for i in out[k][0]:
            owner_a[i] = k
        for j in out[k][1]:
            owner_b[j] = k
    return [(tuple(sorted(a)), tuple(sorted(b))) for a, b in out if a or b], merged


def documents(data: Path, sets: list[str]) -> tuple[list[tuple[str, str, Path, Path, Path]], list[str]]:
    """(set, name, A path, B path, gold path) of every document, and the files missing."""
    docs = []
    if "mac" in sets:
        docs += [("mac", ch, data / "mac-dev" / f"{ch}.zh", data / "mac-dev" / f"{ch}.en",
                  data / "mac-dev" / f"{ch}.align") for ch in MAC_CHAPTERS]
    if "bible" in sets:
        b = data / "bible-zhen"
        docs.append(("bible", "001", b / "001.zh", b / "001.en", b / "001.align"))
    missing = [str(p) for d in docs for p in d[2:] if not p.is_file()]
    return docs, missing


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="the eval folder holding mac-dev/ and bible-zhen/")
    ap.add_argument("--sets", default="mac,bible", help="comma-separated: mac, bible")
    ap.add_argument("--model", default="multilingual", help="embedding model, as the CLI's --model")
    ap.add_argument("--backend", default="auto", help="encoder backend, as the CLI's --backend")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an AlignParams field (repeatable)")
    ap.add_argument("--embed-cache", metavar="FILE",
                    help="the on-disk vector store (SQLite) to read and fill (default: the engine's own)")
    ap.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(shlex.quote(x) for x in [python, os.path.relpath(Path(__file__).resolve(), ROOT)] + given)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if not sets or any(s not in SETS for s in sets):
        print(f"align_zhen: --sets takes {', '.join(SETS)}", file=sys.stderr)
        return 2
    docs, missing = documents(Path(args.data), sets)
    if missing:
        print(f"align_zhen: evaluation data not found: {', '.join(missing[:4])}"
              f"{f' and {len(missing) - 4} more' if len(missing) > 4 else ''}\n"
              f"It lives beside the checkout in ../shared/eval/mac-dev and ../shared/eval/bible-zhen (see "
              f"../shared/eval/README.md); point --data at the folder holding them.", file=sys.stderr)
        return 2

    from comparator.core.embed.encoder import get_encoder
    from comparator.core.errors import InputError

    params = ab.align_params(args.set, "align_zhen")
    t = time.perf_counter()
    try:
        enc = get_encoder(args.model, args.backend)
    except InputError as exc:
        print(f"align_zhen: {exc}", file=sys.stderr)
        return 2
    load_s = time.perf_counter() - t
    enc.use_disk_cache(args.embed_cache)
    model_id = f"{args.model} ({enc.backend})"
    kw = ab.compare_kwargs(enc, params, None)
    kw["mode"] = "lines"
    print(f"# command: {command}", flush=True)
    print(f"# code: {ab._revision()}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# model {model_id} (loaded in {load_s:.1f}s); A = .zh, B = .en; params {params}", flush=True)

    rows = []
    for kind, name, pa, pb, pg in docs:
        text_a, text_b = pa.read_text(encoding="utf-8"), pb.read_text(encoding="utf-8")
        gold = read_gold(pg)
        n_a, n_b = len(text_a.splitlines()), len(text_b.splitlines())
        gold, flipped = oriented(gold, n_a, n_b)
        if flipped:
            print(f"# {kind} {name}: the gold is [en lines]:[zh lines]; read as such", flush=True)
        before = _embedded(enc)
        cmp, timing = ab.run_compare(text_a, text_b, kw)
        fresh = _embedded(enc) - before
        pred, merged = line_beads(cmp, text_a, text_b)
        c = ab.counts(gold, pred)
        sc = ab.scores(c)
        # at the gold's granularity: pairs inside one gold bead merged first (align_bible.coarsen; the
        # Bible's gold groups are verses, coarser than sentences, as on the English New Testaments)
        c_group = ab.counts(gold, ab.coarsen(pred, gold))
        rows.append({"counts_group": c_group, "set": kind, "doc": name, "lines_a": len(text_a.splitlines()), "lines_b": len(text_b.splitlines()),
                     "gold_beads": len(gold), "pred_beads": len(pred), "merged_for_split_lines": merged,
                     "texts_embedded": fresh, "counts": c, "scores": sc,
                     "timing": {k: round(v, 2) for k, v in timing.items()}, "notes": list(cmp.notes)})
        print(f"# {kind} {name}: strict {sc['f1_strict']:.3f} lax {sc['f1_lax']:.3f}  ({len(gold)} gold, "
              f"{len(pred)} predicted; embed {timing['embed_s']:.1f}s for {fresh} new texts, align "
              f"{timing['align_s']:.2f}s)", flush=True)
    enc.close_disk_cache()

    summary = {}
    for kind in sets:
        rs = [r for r in rows if r["set"] == kind]
        total = sum((r["counts"] for r in rs), np.zeros(8, dtype=np.int64))
        embed_s = sum(r["timing"]["embed_s"] for r in rs)
        fresh = sum(r["texts_embedded"] for r in rs)
        total_group = sum((r["counts_group"] for r in rs), np.zeros(8, dtype=np.int64))
        summary[kind] = {**ab.scores(total), "group_f1_strict": ab.scores(total_group)["f1_strict"],
                         "lines_a": sum(r["lines_a"] for r in rs),
                         "lines_b": sum(r["lines_b"] for r in rs),
                         "embed_s": round(embed_s, 1), "align_s": round(sum(r["timing"]["align_s"] for r in rs), 1),
                         "compare_s": round(sum(r["timing"]["compare_s"] for r in rs), 1), "texts_embedded": fresh,
                         "sentences_per_s": round(fresh / embed_s, 1) if fresh >= 100 and embed_s > 0 else None}
    elapsed = time.perf_counter() - started
    peak = _peak_mb()

    print(f"\nF1 (Vecalign definitions), A = .zh, B = .en, model {model_id}, --mode lines\n")
    print("| data | lines A/B | strict P / R / F1 | lax F1 | group-level strict F1 | compare s (embed / align) "
          "| new texts/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        s = r["scores"]
        print(f"| {r['set']} {r['doc']} | {r['lines_a']}/{r['lines_b']} | {s['p_strict']:.3f} / {s['r_strict']:.3f} / "
              f"{s['f1_strict']:.3f} | {s['f1_lax']:.3f} | {ab.scores(r['counts_group'])['f1_strict']:.3f} | "
              f"{r['timing']['compare_s']:.1f} ({r['timing']['embed_s']:.1f} / {r['timing']['align_s']:.1f}) | |")
    for kind, s in summary.items():
        print(f"| **{kind}** | {s['lines_a']}/{s['lines_b']} | {s['p_strict']:.3f} / {s['r_strict']:.3f} / "
              f"{s['f1_strict']:.3f} | {s['f1_lax']:.3f} | {s['group_f1_strict']:.3f} | {s['compare_s']} "
              f"({s['embed_s']} / {s['align_s']}) | {s['sentences_per_s'] or '(cached)'} |")
    print("\n(group-level strict: the aligner's pairs that lie inside one gold bead merged first, so that pairing a "
          "gold 2-2 group's sentences 1-1 and 1-1 counts as right; align_bible.coarsen)")
    merged = sum(r["merged_for_split_lines"] for r in rows)
    if merged:
        print(f"\n{merged} predicted pairs merged because they share a line (lines cut into several units)")
    print(f"\npeak RSS {peak} MB")
    print(f"\n# elapsed {elapsed:.0f}s, load average now {os.getloadavg()[0]:.1f}; command: {command}")
    if args.json:
        out = {"command": command, "revision": ab._revision(), "elapsed_s": round(elapsed, 1), "model": model_id,
               "params": {k: getattr(params, k) for k in params.__dataclass_fields__}, "documents": rows,
               "summary": summary, "peak_rss_mb": peak}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, ensure_ascii=False, default=ab._jsonable)
        print(f"# wrote {args.json}")
    return 0


def oriented(gold, n_a: int, n_b: int):
    """The gold in (A lines, B lines) order, and whether it had to be turned round: bible-zhen's lists the
    English lines first, so a gold whose indices fit only the other way round is read so."""
    if gold and _fits(gold, n_b, n_a) and not _fits(gold, n_a, n_b):
        return [(b, a) for a, b in gold], True
    return gold, False


def _fits(gold, n_a: int, n_b: int) -> bool:
    """Whether every index of the gold lies inside A's n_a and B's n_b lines."""
    return all(i < n_a for a, _ in gold for i in a) and all(j < n_b for _, b in gold for j in b)


def _embedded(enc) -> int:
    """Texts the encoder has embedded itself so far (the store's hits not counted)."""
    return int(getattr(enc, "embedded", 0))


def _peak_mb() -> float | None:
    kb = ab._rss_kb("VmHWM")
    return round(kb / 1024, 1) if kb else None


if __name__ == "__main__":
    sys.exit(main())
