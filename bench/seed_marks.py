"""Where the marks fall on the seed pair: on its six known breakages, or elsewhere?

Runs the engine as the CLI does (`comparator.compare_files`, text mode, default settings) on the seed pair
beside the checkout (../shared/seeds/000_*.txt, a news article, as A; 001_*.txt, a machine-translated
rendering of it with web-page furniture, as B), then prints:

- every mark (a span with p >= MARK_THRESHOLD) inside an aligned pair (two-sided, not furniture): side,
  kind, p, the span's text, and the pair's A and B text (shortened);
- the number of marks, on A and on B;
- for each of the six breakages of the seed's B text (found by their strings below), the p of every span
  touching it, on B and, for the swap, on A's counterpart; whether it is marked;
- the breakages marked (of 6) and the share of the marks that fall on a breakage;
- the damage spans inside one-sided units (a sentence found in only one rendering: every span but the
  whole-unit addition or omission), marks or not, and for each breakage whether it is marked anywhere, in an
  aligned pair or inside a one-sided unit.

The six strings are this pair's, written here because this is a check of this one pair; the engine knows
nothing of them.

    PYTHONPATH=. .venv/bin/python bench/seed_marks.py             # the packaged span model
    COMPARATOR_SPAN_MODEL=other.json PYTHONPATH=. .venv/bin/python bench/seed_marks.py
    .venv/bin/python bench/seed_marks.py --json seed.json         # also the figures as JSON

Exit status 2 when the seed folder is missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SEEDS = ROOT.parent / "shared" / "seeds"

# (name, string found in B's text, the breakage itself inside that string, A's counterpart or None);
# a mark counts as on the breakage when it overlaps its characters (or those of A's counterpart)
BREAKAGES = (
    ("broken boundary '. that'", "at the time. that Prime", ". that", None),
    ("broken boundary '. from'", "for Affairs. from the", ". from", None),
    ("broken boundary '. who'", "extremist groups. who was", ". who", None),
    ("doubled punctuation '. .'", "said. .", ". .", None),
    ("word swap 'groups armed'", "by groups armed", "groups armed", ("by armed groups", "armed groups")),
    ("stray quote 'Covid. “'", "Covid. “", "“", None),
)


def _find(text: str, where: str, core: str) -> tuple[int, int] | None:
    i = text.find(where)
    if i < 0:
        return None
    j = text.find(core, i)
    return (j, j + len(core)) if j >= 0 and j + len(core) <= i + len(where) else None


def _short(text: str, n: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."


def _overlap(sp, rng) -> bool:
    return sp[0] < rng[1] and sp[1] > rng[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help=f"the seed folder (default {DEFAULT_SEEDS})")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    a_files = sorted(args.seeds.glob("000_*.txt")) if args.seeds.is_dir() else []
    b_files = sorted(args.seeds.glob("001_*.txt")) if args.seeds.is_dir() else []
    if not a_files or not b_files:
        print(f"seed pair not found: {args.seeds}/000_*.txt and 001_*.txt. This check needs the seeds beside the "
              f"checkout (../shared/seeds) or --seeds pointing at them.", file=sys.stderr)
        return 2

    from comparator import compare_files
    from comparator.core.marks import MARK_THRESHOLD, is_mark
    from comparator.core.marks import model as span_model

    res = compare_files(str(a_files[0]), str(b_files[0]))
    pairs = [p for p in res.pairs if p.a and p.b and not p.furniture]
    print(f"seed pair: {a_files[0].name} (A) / {b_files[0].name} (B); span model {span_model.model_path()}; "
          f"{len(res.pairs)} pairs, {len(pairs)} aligned; marks are p >= {MARK_THRESHOLD:g}")

    # where each breakage is: (pair index, B range, A range or None)
    found = {}
    for name, where, core, a_side in BREAKAGES:
        for k, p in enumerate(pairs):
            rb = _find(p.b_text, where, core)
            if rb is None:
                continue
            ra = _find(p.a_text, *a_side) if a_side else None
            found[name] = (k, rb, ra)
            break

    marks, on_breakage = [], 0
    print("\nmarks in aligned pairs:")
    for k, p in enumerate(pairs):
        for side, text, spans in (("A", p.a_text, p.a_spans), ("B", p.b_text, p.b_spans)):
            for sp in spans:
                if not is_mark(sp):
                    continue
                hit = [name for name, (kk, rb, ra) in found.items() if kk == k
                       and (_overlap(sp, rb) if side == "B" else ra is not None and _overlap(sp, ra))]
                on_breakage += bool(hit)
                marks.append({"pair": k, "side": side, "kind": sp[2], "p": sp[3], "text": text[sp[0]:sp[1]],
                              "breakage": hit[0] if hit else None})
                print(f"  pair {k:2d} {side} {sp[2]:<12} p {sp[3]:.2f}  {text[sp[0]:sp[1]]!r}"
                      f"{'   <- ' + hit[0] if hit else ''}")
        if any(m["pair"] == k for m in marks):
            print(f"          A: {_short(p.a_text)}\n          B: {_short(p.b_text)}")
    n_a = sum(1 for m in marks if m["side"] == "A")
    print(f"\n{len(marks)} marks ({n_a} on A, {len(marks) - n_a} on B), {on_breakage} of them on breakage")

    print("\nthe breakages (every span touching each, p):")
    marked = 0
    per = []
    for name, where, core, _a in BREAKAGES:
        if name not in found:
            print(f"  {name}: not found in an aligned pair's B text")
            per.append({"name": name, "found": False, "marked": False, "spans": []})
            continue
        k, rb, ra = found[name]
        p = pairs[k]
        touching = [("B", p.b_text, sp) for sp in p.b_spans if _overlap(sp, rb)]
        if ra is not None:
            touching += [("A", p.a_text, sp) for sp in p.a_spans if _overlap(sp, ra)]
        hit = any(is_mark(sp) for _s, _t, sp in touching)
        marked += hit
        desc = ", ".join(f"{s} {sp[2]} {text[sp[0]:sp[1]]!r} p {sp[3]:.2f}" for s, text, sp in touching) or "no span"
        print(f"  {'MARKED  ' if hit else 'unmarked'} {name} (pair {k}): {desc}")
        per.append({"name": name, "found": True, "marked": hit, "pair": k,
                    "spans": [{"side": s, "kind": sp[2], "p": sp[3], "text": text[sp[0]:sp[1]]}
                              for s, text, sp in touching]})
    share = on_breakage / len(marks) if marks else 0.0
    print(f"\nbreakages marked: {marked} of {len(BREAKAGES)}; marks on breakage: {on_breakage} of {len(marks)} "
          f"({100 * share:.0f}%)")

    # inside the sentences found in only one rendering
    one_sided = [(k, p) for k, p in enumerate(res.pairs) if bool(p.a) != bool(p.b) and not p.furniture]
    inside, inside_marks, inside_on = [], 0, 0
    where_one = {}  # breakage -> (pair index in res.pairs, B range)
    for name, where, core, _a in BREAKAGES:
        for k, p in one_sided:
            rb = _find(p.b_text, where, core) if p.b else None
            if rb is not None:
                where_one[name] = (k, rb)
                break
    # a break between two units: the later unit begins with the breakage's word ("from the")
    for name, where, core, _a in BREAKAGES:
        if name in where_one or name in found:
            continue
        tail = where[where.find(core) + 1:].lstrip() if core[:1] in ".!?" else None
        for k, p in one_sided:
            if tail and p.b and p.b_text.startswith(tail):
                word = core[1:].strip()
                where_one[name] = (k, (0, len(word)))
                break
    print(f"\ndamage spans inside one-sided units ({len(one_sided)} units):")
    for k, p in one_sided:
        side, text, sp_list = ("B", p.b_text, p.b_spans) if p.b else ("A", p.a_text, p.a_spans)
        for sp in sp_list:
            if sp[2] in ("addition", "omission"):
                continue
            hit = [name for name, (kk, rb) in where_one.items() if kk == k and side == "B" and _overlap(sp, rb)]
            mark = is_mark(sp)
            inside_marks += mark
            inside_on += bool(hit) and mark
            inside.append({"pair": k, "side": side, "kind": sp[2], "p": sp[3], "mark": mark,
                           "text": text[sp[0]:sp[1]], "breakage": hit[0] if hit else None})
            print(f"  pair {k:2d} {side} {sp[2]:<12} p {sp[3]:.2f} {'mark  ' if mark else 'change'} "
                  f"{text[sp[0]:sp[1]]!r}{'   <- ' + hit[0] if hit else ''}\n          {side}: {_short(text)}")
    print(f"{len(inside)} damage spans inside one-sided units, {inside_marks} of them marks, {inside_on} of those "
          f"on breakage")
    anywhere = []
    print("\nthe breakages, marked anywhere (aligned pairs or inside one-sided units):")
    for entry in per:
        name = entry["name"]
        hit_one = any(d["breakage"] == name and d["mark"] for d in inside)
        any_hit = entry["marked"] or hit_one
        anywhere.append({"name": name, "marked": any_hit,
                         "where": "aligned pair" if entry["marked"] else "one-sided unit" if hit_one else None})
        where = "in an aligned pair" if entry["marked"] else "inside a one-sided unit" if hit_one else ""
        print(f"  {'MARKED  ' if any_hit else 'unmarked'} {name} {where}")
    n_any = sum(a["marked"] for a in anywhere)
    print(f"\nbreakages marked anywhere: {n_any} of {len(BREAKAGES)}")
    if args.json:
        args.json.write_text(json.dumps({"marks": marks, "breakages": per, "marked": marked,
                                         "marks_count": len(marks), "on_breakage": on_breakage,
                                         "share_on_breakage": share, "one_sided_damage": inside,
                                         "one_sided_marks": inside_marks, "breakages_anywhere": anywhere,
                                         "marked_anywhere": n_any}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
