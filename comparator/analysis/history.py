"""Run history: saved runs in an embedded SQLite database, and the comparison of two runs of the same texts.

Where the database is: `--history PATH`, else the environment variable MT_COMPARATOR_HISTORY, else
the user's data folder (`$XDG_DATA_HOME/mt-comparator/history.sqlite`, by default
`~/.local/share/mt-comparator/history.sqlite`; `%LOCALAPPDATA%` on Windows, `~/Library/Application
Support` on macOS). It is created on first save.

A run stores its kind (score, compare, batch), where it came from (cli, dashboard), the names and
SHA-256 hashes of its inputs, the settings, the corpus scores and the whole result JSON (zlib-compressed),
exactly as the command wrote it. Saving the same result twice keeps one run.

`diff_results` compares two results of the same reference text sentence by sentence: for each reference
sentence, did the pair it belongs to get a better or worse flag or chrF, and how did the corpus scores
move? Pure functions, no UI; the CLI and the dashboard render what they return.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import zlib
from datetime import datetime, timezone
from typing import Any

from comparator.core.errors import InputError
from comparator.core.metrics import CORPUS
from comparator.core.result import Comparison

ENV = "MT_COMPARATOR_HISTORY"
KINDS = ("score", "compare", "batch")
SCHEMA = 1
# A change smaller than these is "same": flags move a little with any rewording, chrF by a point.
FLAG_STEP = 0.05
CHRF_STEP = 1.0

_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    label TEXT,
    batch TEXT,
    reference_name TEXT,
    reference_key TEXT NOT NULL,
    names TEXT NOT NULL,
    inputs TEXT NOT NULL,
    settings TEXT NOT NULL,
    corpus TEXT NOT NULL,
    result_sha256 TEXT NOT NULL,
    result BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_reference ON runs (reference_key);
CREATE INDEX IF NOT EXISTS runs_result ON runs (result_sha256);
"""


def default_path() -> str:
    """The history database in the user's data folder."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "mt-comparator", "history.sqlite")


def resolve_path(path: str | None = None) -> str:
    return os.path.expanduser(path or os.environ.get(ENV) or default_path())


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def reference_key(a_sentences: list[str]) -> str:
    """What makes two runs "of the same texts": the reference as segmented, sentence by sentence."""
    return text_sha256("\n".join(a_sentences))


class History:
    """The run database. Open with `History(path)` (created on first write) and use as a context manager."""

    def __init__(self, path: str | None = None, create: bool = True):
        self.path = resolve_path(path)
        if not create and not os.path.exists(self.path):
            raise InputError(f"{self.path}: no history yet (save a run with --save)")
        try:
            if create:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.row_factory = sqlite3.Row
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA:
                raise InputError(f"{self.path}: made by a newer version of this tool (schema {version})")
            self.db.executescript(_DDL)
            self.db.execute(f"PRAGMA user_version = {SCHEMA}")
            self.db.commit()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a history database ({exc})") from None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot open ({exc.strerror or exc})") from None

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # ---- saving --------------------------------------------------------------------------------------

    def save(self, kind: str, result: dict[str, Any], inputs: list[dict[str, Any]] | None = None,
             source: str = "cli", label: str | None = None, batch: str | None = None) -> tuple[int, bool]:
        """Store a run; (id, True) when stored, (id of the earlier copy, False) when already there.

        `result` is the JSON-ready dict the command wrote: a Comparison for score and batch, a systems
        comparison for compare. `inputs` are {"role", "name", "sha256"} of the files it read."""
        if kind not in KINDS:
            raise InputError(f"unknown run kind {kind!r}")
        text = json.dumps(result, ensure_ascii=False, indent=1)
        digest = text_sha256(text)
        row = self.db.execute("SELECT id FROM runs WHERE result_sha256 = ? AND kind = ? AND "
                              "COALESCE(label, '') = COALESCE(?, '')", (digest, kind, label)).fetchone()
        if row:
            return int(row["id"]), False
        if kind == "compare":
            systems = result.get("systems") or []
            a_sentences = systems[0]["a_sentences"] if systems else []
            names = [s.get("name", "") for s in systems]
            corpus = {"table": result.get("table") or []}
            settings = result.get("settings") or {}
            ref_name = result.get("reference_name") or settings.get("reference_name")
        else:
            a_sentences = result.get("a_sentences") or []
            settings = result.get("settings") or {}
            names = [settings.get("b_name") or ""]
            corpus = dict(result.get("corpus") or {})
            from comparator.analysis.systems import flagged

            corpus["flagged"] = flagged(Comparison.from_dict(result))
            ref_name = settings.get("a_name")
        with self.db:
            cur = self.db.execute(
                "INSERT INTO runs (created, kind, source, label, batch, reference_name, reference_key, names, "
                "inputs, settings, corpus, result_sha256, result) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (datetime.now(timezone.utc).isoformat(timespec="seconds"), kind, source, label, batch, ref_name,
                 reference_key(a_sentences), json.dumps(names, ensure_ascii=False),
                 json.dumps(inputs or [], ensure_ascii=False), json.dumps(settings, ensure_ascii=False),
                 json.dumps(corpus, ensure_ascii=False), digest, zlib.compress(text.encode("utf-8"), 6)))
        return int(cur.lastrowid), True

    # ---- reading -------------------------------------------------------------------------------------

    def runs(self, limit: int | None = 50, kind: str | None = None) -> list[dict[str, Any]]:
        """Saved runs, newest first, without their result JSON."""
        sql = ("SELECT id, created, kind, source, label, batch, reference_name, reference_key, names, inputs, "
               "settings, corpus FROM runs")
        args: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        sql += " ORDER BY id DESC"
        if limit:
            sql += " LIMIT ?"
            args.append(int(limit))
        return [_meta(r) for r in self.db.execute(sql, args).fetchall()]

    def get(self, run_id: int) -> dict[str, Any]:
        """One run with its metadata and its `result` (the dict the command wrote)."""
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise InputError(f"no run {run_id} in {self.path}")
        out = _meta(row)
        try:
            out["result"] = json.loads(zlib.decompress(row["result"]).decode("utf-8"))
        except (zlib.error, ValueError) as exc:
            raise InputError(f"run {run_id}: stored result is damaged ({exc})") from None
        return out

    def result_text(self, run_id: int) -> str:
        """The result JSON exactly as the command wrote it."""
        row = self.db.execute("SELECT result FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise InputError(f"no run {run_id} in {self.path}")
        return zlib.decompress(row["result"]).decode("utf-8")

    def comparison(self, ref: str) -> tuple[Comparison, str]:
        """The Comparison of a run given as `ID` or, for a compare run, `ID:SYSTEM` (no system: the baseline).
        Returns it with a label such as "run 4 (machine2)"."""
        run_id, _, system = str(ref).partition(":")
        if not run_id.strip().isdigit():
            raise InputError(f"{ref!r} is not a run id (a number, or ID:SYSTEM for a compare run)")
        run = self.get(int(run_id))
        data = run["result"]
        if run["kind"] == "compare":
            systems = data.get("systems") or []
            names = [s.get("name") for s in systems]
            if not systems:
                raise InputError(f"run {run_id} has no systems")
            pick = system or names[0]
            if pick not in names:
                raise InputError(f"run {run_id} has no system {pick!r} (it has: {', '.join(map(str, names))})")
            chosen = systems[names.index(pick)]
            result = Comparison.from_dict({k: v for k, v in chosen.items() if k != "name"})
            return result, f"run {run_id} ({pick})"
        if system:
            raise InputError(f"run {run_id} is a {run['kind']} run with one rendering: give just {run_id}")
        return Comparison.from_dict(data), f"run {run_id} ({(run['names'] or [''])[0]})"


def _meta(row: sqlite3.Row) -> dict[str, Any]:
    out = {k: row[k] for k in ("id", "created", "kind", "source", "label", "batch", "reference_name",
                               "reference_key")}
    for k in ("names", "inputs", "settings", "corpus"):
        try:
            out[k] = json.loads(row[k])
        except (TypeError, ValueError):
            out[k] = None
    return out


def inputs_of(*docs_roles) -> list[dict[str, Any]]:
    """[{"role", "name", "sha256"}] for (role, Document) pairs: the text as decoded, hashed."""
    return [{"role": role, "name": doc.name, "sha256": text_sha256(doc.text)} for role, doc in docs_roles]


# ---- listing -----------------------------------------------------------------------------------------

LIST_COLUMNS = ["id", "created", "kind", "source", "reference", "renderings", "mode", "model", *CORPUS,
                "mean_cosine", "flagged", "label"]


def list_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per run, for a table: what `history list` prints and the dashboard shows."""
    rows = []
    for r in runs:
        settings, corpus = r.get("settings") or {}, r.get("corpus") or {}
        row = {"id": r["id"], "created": r["created"], "kind": r["kind"], "source": r["source"],
               "reference": r.get("reference_name") or "", "renderings": ", ".join(r.get("names") or []),
               "mode": settings.get("mode"), "model": settings.get("model"),
               **{m: corpus.get(m) for m in CORPUS}, "mean_cosine": corpus.get("mean_cosine"), "flagged": corpus.get("flagged"),
               "label": r.get("label") or (f"batch {r['batch']}" if r.get("batch") else "")}
        if r["kind"] == "compare":
            table = corpus.get("table") or []
            best = min(table, key=lambda t: t.get("rank", 99), default=None)
            if best:  # the best-ranked system's numbers
                row.update(**{m: best.get(m) for m in CORPUS}, mean_cosine=best.get("mean_cosine"),
                           flagged=best.get("flagged"), label=(row["label"] + " " if row["label"] else "")
                           + f"best: {best.get('system')}")
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain fixed-width table for the terminal."""
    def cell(v) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1.5 else f"{v:.2f}"
        return " ".join(str(v).split())

    grid = [columns] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(g[i]) for g in grid) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(g, widths)).rstrip() for g in grid) + "\n"


# ---- comparing two runs ------------------------------------------------------------------------------

def _pair_of(result: Comparison) -> dict[int, int]:
    return {i: n for n, p in enumerate(result.pairs) for i in p.a}


def _verdict(flag_delta: float | None, chrf_delta: float | None) -> str:
    better = worse = False
    if flag_delta is not None:
        better |= flag_delta <= -FLAG_STEP
        worse |= flag_delta >= FLAG_STEP
    if chrf_delta is not None:
        better |= chrf_delta >= CHRF_STEP
        worse |= chrf_delta <= -CHRF_STEP
    if better and worse:
        return "mixed"
    return "better" if better else "worse" if worse else "same"


def diff_results(old: Comparison, new: Comparison, old_label: str = "old", new_label: str = "new") -> dict[str, Any]:
    """Sentence by sentence over the reference: the pair each reference sentence belongs to in both runs,
    its flag and chrF in each, and whether it got better, worse, mixed (one better, one worse) or stayed the
    same; plus the corpus scores of both and their deltas. Both must be of the same reference text."""
    from comparator.analysis.systems import flagged

    if old.a_sentences != new.a_sentences:
        raise InputError(f"{old_label} and {new_label} are not of the same reference text "
                         f"({len(old.a_sentences)} and {len(new.a_sentences)} sentences, different)")
    po, pn = _pair_of(old), _pair_of(new)
    furniture = set(old.a_furniture) | set(new.a_furniture)
    sentences = []
    for i, text in enumerate(old.a_sentences):
        if i in furniture or i not in po or i not in pn:
            continue
        a, b = old.pairs[po[i]], new.pairs[pn[i]]
        # a reference sentence left out scores chrF 0: dropping it is as bad as it gets
        ca = a.chrf if a.b else 0.0
        cb = b.chrf if b.b else 0.0
        fd = None if a.flag is None or b.flag is None else round(b.flag - a.flag, 4)
        cd = None if ca is None or cb is None else round(cb - ca, 4)
        sentences.append({
            "a": i, "reference": text, "old_pair": po[i], "new_pair": pn[i],
            "old_text": a.b_text, "new_text": b.b_text, "old_type": a.type, "new_type": b.type,
            "old_flag": a.flag, "new_flag": b.flag, "flag_delta": fd,
            "old_chrf": ca, "new_chrf": cb, "chrf_delta": cd,
            "change": _verdict(fd, cd),
        })
    counts = {k: sum(1 for s in sentences if s["change"] == k) for k in ("better", "worse", "mixed", "same")}
    corpus = {}
    oc, nc = old.counts(), new.counts()
    values = {
        **{m: (old.corpus.get(m), new.corpus.get(m)) for m in CORPUS},
        "mean_cosine": (old.corpus.get("mean_cosine"), new.corpus.get("mean_cosine")),
        "pairs_scored": (old.corpus.get("pairs_scored"), new.corpus.get("pairs_scored")),
        "flagged": (flagged(old), flagged(new)),
        "only_in_reference": (oc.get("only_in_a", 0), nc.get("only_in_a", 0)),
        "only_in_rendering": (oc.get("only_in_b", 0), nc.get("only_in_b", 0)),
    }
    for k, (x, y) in values.items():
        corpus[k] = {"old": x, "new": y, "delta": None if x is None or y is None else round(y - x, 4)}
    return {
        "old": old_label, "new": new_label,
        "old_rendering": (old.settings or {}).get("b_name"), "new_rendering": (new.settings or {}).get("b_name"),
        "same_rendering": old.b_sentences == new.b_sentences,
        "same_settings": _engine_settings(old) == _engine_settings(new),
        "thresholds": {"flag": FLAG_STEP, "chrf": CHRF_STEP},
        "corpus": corpus, "counts": counts, "sentences": sentences,
    }


def _engine_settings(result: Comparison) -> dict[str, Any]:
    s = result.settings or {}
    return {k: s.get(k) for k in ("mode", "model", "backend", "windows", "ter", "token_flag", "align")}


def diff_text(d: dict[str, Any], show_all: bool = False) -> str:
    """The diff for the terminal: corpus deltas, then the reference sentences that changed."""
    lines = [f"old: {d['old']}  ->  new: {d['new']}"
             + ("  (same rendering)" if d["same_rendering"] else "")
             + ("" if d["same_settings"] else "  (settings differ)")]
    rows = []
    for k, v in d["corpus"].items():
        delta = v["delta"]
        if delta is None:
            shown = None
        elif isinstance(v["old"], int) and isinstance(v["new"], int):
            shown = f"{delta:+d}"
        else:
            shown = f"{delta:+.4f}" if k == "mean_cosine" else f"{delta:+.2f}"
        rows.append({"score": k, "old": v["old"], "new": v["new"], "delta": shown})
    lines.append(format_table(rows, ["score", "old", "new", "delta"]).rstrip())
    c = d["counts"]
    lines.append(f"reference sentences: {c['better']} better, {c['worse']} worse, {c['mixed']} mixed, "
                 f"{c['same']} same (a change is a flag step of {d['thresholds']['flag']} or a chrF step of "
                 f"{d['thresholds']['chrf']})")
    for s in d["sentences"]:
        if s["change"] == "same" and not show_all:
            continue
        def num(x, f):
            return "–" if x is None else format(x, f)
        lines.append("")
        lines.append(f"[{s['a']}] {s['change']}: flag {num(s['old_flag'], '.2f')} -> {num(s['new_flag'], '.2f')}, "
                     f"chrF {num(s['old_chrf'], '.1f')} -> {num(s['new_chrf'], '.1f')}")
        lines.append(f"  reference: {_one_line(s['reference'])}")
        lines.append(f"  old ({s['old_type']}): {_one_line(s['old_text']) or '(left out)'}")
        lines.append(f"  new ({s['new_type']}): {_one_line(s['new_text']) or '(left out)'}")
    return "\n".join(lines) + "\n"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())
