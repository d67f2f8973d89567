#!/usr/bin/env python3
"""Sentence alignment on literary chapters and their published translations (MAC-Test, mac-dev).

Data: ../shared/eval/mac-dev/ beside the checkout: per chapter NNN.zh (Chinese original), NNN.trans (its
Google machine translation into English, line i = line i of .zh), NNN.en (the published human English
translation) and NNN.align (gold, `[zh/trans line indices]:[en line indices]` a line). Missing data: exit 2.

For each chapter, side A (`--side-a`, default `trans`; `zh` for the cross-lingual task) and side B (`.en`)
go through comparator.core.pipeline.compare() with mode lines, exactly as `mt-compare --mode lines`
would run them (reading, segmentation, furniture, windows, comparator.core.align.align, the settings
compare() takes by default or from --windows/--set). Each unit the engine makes is mapped back to the
line(s) of the file it came from by character offsets (align_bible.locate); a predicted pair becomes
(its A lines, its B lines). Units of one line that end in different pairs (a line longer than the
segmenter's unit cap) merge those pairs, and are counted.

Scores: align_bible's counts/scores (Vecalign's score.py: strict = the exact bead, lax = an A and a B
line some gold bead pairs; precision over all predicted beads, recall over the two-sided gold beads),
per chapter, per novel (001-004 The Golden Age, 009-012 The Story of the Stone, 017-020 The Song of
Everlasting Sorrow) and over all twelve, micro-averaged (counts summed). The first novel is the tuning
split; the other two are reported apart to show whether a change generalises.

Time and memory: seconds per stage from compare()'s progress events (embed, align, score), summed; peak
RSS of the process (VmHWM).

    .venv/bin/python bench/align_mac.py --embed-cache /tmp/mac-cache.pkl
    .venv/bin/python bench/align_mac.py --side-a zh --embed-cache /tmp/mac-cache.pkl
    .venv/bin/python bench/align_mac.py --set lexical=0 --json /tmp/mac.json
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

import align_bible as ab  # noqa: E402  (scoring, compare() call, caches: shared with the NT benchmark)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "eval" / "mac-dev"
NOVELS = {"Golden Age (001-004, tuning)": ("001", "002", "003", "004"),
          "Story of the Stone (009-012)": ("009", "010", "011", "012"),
          "Everlasting Sorrow (017-020)": ("017", "018", "019", "020")}


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
    starts = [0]
    for k, ch in enumerate(text):
        if ch == "\n":
            starts.append(k + 1)
    starts = np.asarray(starts)
    out = []
    for s, e in ab.locate(text, sentences):
        first = int(np.searchsorted(starts, s, side="right") - 1)
        last = int(np.searchsorted(starts, max(e - 1, s), side="right") - 1)
        out.append(frozenset(range(first, last + 1)))
    return out


def line_beads(cmp, text_a: str, text_b: str):
    """The predicted pairs as (A lines, B lines); pairs that share a line are merged. Returns the beads
    and how many merges that took."""
    la, lb = unit_lines(text_a, cmp.a_sentences), unit_lines(text_b, cmp.b_sentences)
    beads = [(set().union(*[la[i] for i in p.a]) if p.a else set(),
              set().union(*[lb[j] for j in p.b]) if p.b else set()) for p in cmp.pairs]
    merged = 0
    out: list[list[set]] = []
    owner_a: dict[int, int] = {}
    owner_b: dict[int, int] = {}
    for a, b in beads:
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
            out.append([set(a), set(b)])
        for i in out[k][0]:
            owner_a[i] = k
        for j in out[k][1]:
            owner_b[j] = k
    res = [(tuple(sorted(a)), tuple(sorted(b))) for a, b in out if a or b]
    return res, merged


def type_census(gold, pred) -> dict[tuple[int, int], list[int]]:
    """Per bead type (A lines, B lines): [gold beads, of them missed (no predicted bead is exactly them),
    predicted beads, of them wrong (no gold bead is exactly them)]. Shows whether the aligner under- or
    over-predicts a type (a gold 2-3 paired as 1-1 + 1-2 is one missed 2-3 and two wrong beads)."""
    gs, ps = set(gold), set(pred)
    out: dict[tuple[int, int], list[int]] = {}
    for beads, other, col in ((gold, ps, 0), (pred, gs, 2)):
        for bead in beads:
            row = out.setdefault((len(bead[0]), len(bead[1])), [0, 0, 0, 0])
            row[col] += 1
            row[col + 1] += bead not in other
    return out


def align_only(text_a: str, text_b: str, kw: dict):
    """compare()'s own steps up to the alignment (reading, segmentation, windows, align), without scoring."""
    from types import SimpleNamespace

    from comparator.core import pipeline as engine
    from comparator.core.settings import Settings

    settings = Settings().replace(**{k: v for k, v in kw.items() if k != "encoder"})
    t0 = time.perf_counter()
    docs = [engine.read_text(t, side) for t, side in ((text_a, "A"), (text_b, "B"))]
    units = [engine.segment(d.text, settings.mode, d.furniture) for d in docs]
    beads = engine._align_units(units[0], units[1], kw["encoder"], settings.align, engine._noop, settings.windows)
    t1 = time.perf_counter()
    cmp = SimpleNamespace(a_sentences=[u.text for u in units[0]], b_sentences=[u.text for u in units[1]],
                          pairs=beads)
    return cmp, {"embed_s": 0.0, "align_s": t1 - t0, "score_s": 0.0, "compare_s": t1 - t0}


def _peak_mb() -> float | None:
    kb = ab._rss_kb("VmHWM")
    return round(kb / 1024, 1) if kb else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder with NNN.{zh,trans,en,align}")
    ap.add_argument("--side-a", default="trans", choices=("trans", "zh"),
                    help="side A: the machine translation (one language) or the Chinese original")
    ap.add_argument("--chapters", default="all", help="comma-separated chapter numbers (e.g. 001,009), or 'all'")
    ap.add_argument("--model", default=None, help="embedding model (default: the packaged one; 'hash' for a quick "
                                                 "model-free run)")
    ap.add_argument("--backend", default="auto", help="encoder backend, as the CLI's --backend")
    ap.add_argument("--windows", default=None, help="window embedding, as the CLI's --windows")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override an AlignParams field (repeatable)")
    ap.add_argument("--embed-cache", metavar="FILE",
                    help="keep the encoder's vectors in this pickle between runs (loaded if present, saved at the end)")
    ap.add_argument("--align-only", action="store_true",
                    help="stop after the alignment (segment, windows and align as compare() runs them, no scoring): "
                         "quicker while tuning; the figures are the same")
    ap.add_argument("--types", action="store_true",
                    help="also print, per bead type (e.g. 2-3), the gold beads, how many are missed, the predicted "
                         "beads and how many are wrong, over all chapters")
    ap.add_argument("--json", metavar="OUT", help="write every figure to this JSON file")
    args = ap.parse_args(argv)

    started = time.perf_counter()
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) else sys.executable
    given = list(sys.argv[1:] if argv is None else argv)
    command = " ".join(shlex.quote(x) for x in [python, os.path.relpath(Path(__file__).resolve(), ROOT)] + given)
    data = Path(args.data)
    every = [c for chs in NOVELS.values() for c in chs]
    chapters = every if args.chapters.strip().lower() == "all" else [c.strip() for c in args.chapters.split(",")]
    missing = [str(data / f"{c}.{ext}") for c in chapters for ext in (args.side_a, "en", "align")
               if not (data / f"{c}.{ext}").is_file()]
    if missing:
        print(f"align_mac: evaluation data not found: {', '.join(missing[:4])}"
              f"{f' and {len(missing) - 4} more' if len(missing) > 4 else ''}; "
              f"it lives beside the checkout in ../shared/eval/mac-dev (see ../shared/eval/README.md); "
              f"point --data at the folder holding NNN.trans, NNN.zh, NNN.en and NNN.align.", file=sys.stderr)
        return 2

    from comparator.core.embed.encoder import DEFAULT_MODEL, get_encoder

    params = ab.align_params(args.set, "align_mac")
    model = args.model or DEFAULT_MODEL
    t = time.perf_counter()
    enc = get_encoder(model, args.backend)
    model_id = f"{model} ({getattr(enc, 'backend', '') or 'default backend'})"
    kw = ab.compare_kwargs(enc, params, args.windows)
    kw["mode"] = "lines"
    load_s = time.perf_counter() - t
    cache_note = ab._load_cache(enc, args.embed_cache, model_id)
    print(f"# command: {command}", flush=True)
    print(f"# code: {ab._revision()}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"# model {model_id} (loaded in {load_s:.1f}s); A = .{args.side_a}, B = .en; params {params}", flush=True)
    if cache_note:
        print(f"# {cache_note}", flush=True)

    rows = []
    for ch in chapters:
        text_a = (data / f"{ch}.{args.side_a}").read_text(encoding="utf-8")
        text_b = (data / f"{ch}.en").read_text(encoding="utf-8")
        gold = read_gold(data / f"{ch}.align")
        cmp, timing = align_only(text_a, text_b, kw) if args.align_only else ab.run_compare(text_a, text_b, kw)
        pred, merged = line_beads(cmp, text_a, text_b)
        c = ab.counts(gold, pred)
        sc = ab.scores(c)
        rows.append({"chapter": ch, "lines_a": len(text_a.splitlines()), "lines_b": len(text_b.splitlines()),
                     "gold_beads": len(gold), "pred_beads": len(pred), "merged_for_split_lines": merged,
                     "counts": c, "scores": sc, "timing": {k: round(v, 2) for k, v in timing.items()},
                     "types": {f"{a}-{b}": v for (a, b), v in sorted(type_census(gold, pred).items())}})
        print(f"# {ch}: strict {sc['f1_strict']:.3f} lax {sc['f1_lax']:.3f}  ({len(gold)} gold, {len(pred)} "
              f"predicted; align {timing['align_s']:.2f}s)", flush=True)
    ab._save_cache(enc, args.embed_cache, model_id)

    groups = {name: [r for r in rows if r["chapter"] in chs] for name, chs in NOVELS.items()}
    groups = {k: v for k, v in groups.items() if v}
    if len(groups) > 1:
        rest = [r for r in rows if r["chapter"] not in next(iter(NOVELS.values()))]
        if rest:
            groups["held out (009-020)"] = rest
    groups["**all**"] = rows
    summary = {}
    for name, rs in groups.items():
        total = sum((r["counts"] for r in rs), np.zeros(8, dtype=np.int64))
        summary[name] = ab.scores(total)
    elapsed = time.perf_counter() - started
    timing = {k: round(sum(r["timing"][k] for r in rows), 2) for k in rows[0]["timing"]}
    peak = _peak_mb()

    print(f"\nF1 (Vecalign definitions), A = .{args.side_a}, B = .en, model {model_id}, --mode lines\n")
    print("| chapter | lines A/B | gold beads | strict P / R / F1 | lax F1 |")
    print("|---|---|---|---|---|")
    for r in rows:
        s = r["scores"]
        print(f"| {r['chapter']} | {r['lines_a']}/{r['lines_b']} | {r['gold_beads']} | {s['p_strict']:.3f} / "
              f"{s['r_strict']:.3f} / {s['f1_strict']:.3f} | {s['f1_lax']:.3f} |")
    for name, s in summary.items():
        print(f"| {name} | | | {s['p_strict']:.3f} / {s['r_strict']:.3f} / {s['f1_strict']:.3f} | {s['f1_lax']:.3f} |")
    if args.types:
        total_types: dict[str, list[int]] = {}
        for r in rows:
            for k, v in r["types"].items():
                total_types[k] = [x + y for x, y in zip(total_types.get(k, [0, 0, 0, 0]), v)]
        print("\nBead types, all chapters (A lines-B lines; missed: no predicted bead is exactly it; wrong: no gold "
              "bead is)\n")
        print("| type | gold | gold missed | predicted | predicted wrong |")
        print("|---|---|---|---|---|")
        for k, v in sorted(total_types.items(), key=lambda kv: (-kv[1][0] - kv[1][2], kv[0])):
            print(f"| {k} | {v[0]} | {v[1]} | {v[2]} | {v[3]} |")
    merged = sum(r["merged_for_split_lines"] for r in rows)
    if merged:
        print(f"\n{merged} predicted pairs merged because they share a line (lines cut into several units)")
    print(f"\ncompare() on {len(rows)} chapters: embed {timing['embed_s']:.1f}s, align {timing['align_s']:.1f}s, "
          f"score {timing['score_s']:.1f}s; peak RSS {peak} MB")
    print(f"\n# elapsed {elapsed:.0f}s, load average now {os.getloadavg()[0]:.1f}; command: {command}")
    if args.json:
        out = {"command": command, "revision": ab._revision(), "elapsed_s": round(elapsed, 1), "model": model_id,
               "side_a": args.side_a, "params": {k: getattr(params, k) for k in params.__dataclass_fields__},
               "chapters": rows, "summary": summary, "timing": timing, "peak_rss_mb": peak}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1, ensure_ascii=False, default=ab._jsonable)
        print(f"# wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
