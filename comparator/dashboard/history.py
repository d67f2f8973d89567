"""The dashboard's *Saved runs* page (pages/2_Saved_runs.py) and the *Save to the run history* buttons.

Lists the runs saved in the history database (comparator.analysis.history), reopens one (in the main view for a
score or batch run, in *Several systems* for a compare run) and compares two runs of the same reference
sentence by sentence. Render functions take the `st` module; the tables come from the pure helpers at
the top, which never import streamlit.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import pandas as pd

from comparator.analysis import history as hist
from comparator.dashboard import navigation, views
from comparator.core.errors import InputError, first_line
from comparator.dashboard.errors import inert, show_input_error


# ---- pure helpers ------------------------------------------------------------------------------------


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    rows = hist.list_rows(runs)
    return pd.DataFrame(rows, columns=hist.LIST_COLUMNS)


def run_label(run: dict[str, Any]) -> str:
    names = ", ".join(run.get("names") or []) or "?"
    label = f" · {run['label']}" if run.get("label") else ""
    return f"#{run['id']} · {run['kind']} · {run.get('reference_name') or '?'} → {names}{label} · {run['created'][:16]}"


def diff_frame(d: dict[str, Any], changed_only: bool = True) -> pd.DataFrame:
    rows = [{"sentence": s["a"], "change": s["change"], "flag before": s["old_flag"], "flag after": s["new_flag"],
             "chrF before": s["old_chrf"], "chrF after": s["new_chrf"], "reference": s["reference"],
             "before": s["old_text"], "after": s["new_text"]}
            for s in d["sentences"] if not changed_only or s["change"] != "same"]
    cols = ["sentence", "change", "flag before", "flag after", "chrF before", "chrF after", "reference", "before",
            "after"]
    return pd.DataFrame(rows, columns=cols)


_CORPUS_LABELS = {"bleu": "Corpus BLEU", "chrf": "Corpus chrF", "mean_cosine": "Mean cosine",
                  "flagged": "Flagged pairs", "only_in_reference": "Only in reference",
                  "only_in_rendering": "Only in rendering", "pairs_scored": "Aligned pairs"}
# For these a rise is bad news (the metric's delta is shown red).
_RISE_IS_BAD = {"flagged", "only_in_reference", "only_in_rendering"}


def corpus_metrics(d: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    """(label, value after, delta, delta colour) for each corpus score of a diff."""
    out = []
    for k, v in d["corpus"].items():
        digits = 4 if k == "mean_cosine" else 2
        value = views.fmt(v["new"], digits=0 if isinstance(v["new"], int) else digits)
        delta = None
        if v["delta"] is not None:
            delta = f"{v['delta']:+d}" if isinstance(v["delta"], int) else f"{v['delta']:+.{digits}f}"
        out.append((_CORPUS_LABELS.get(k, k), value, delta, "inverse" if k in _RISE_IS_BAD else "normal"))
    return out


# ---- saving from any page ----------------------------------------------------------------------------


def saver(st, path: str | None = None) -> Callable:
    """A button callback: save(kind, result_dict, label) stores the run and leaves a message for the page."""

    def save(kind: str, result, label: str | None = None) -> None:
        if hasattr(result, "to_dict"):  # serialised only when the button is pressed
            result = result.to_dict()
        try:
            with hist.History(path) as h:
                run_id, new = h.save(kind, result, inputs=_inputs(kind, result), source="dashboard", label=label)
                where = h.path
            st.session_state["saved_message"] = (f"Saved as run {run_id}" if new else
                                                 f"Already saved as run {run_id}") + f" in {where}."
        except InputError as exc:
            st.session_state["saved_message"] = inert(f"Not saved: {first_line(exc)}")

    return save


def _inputs(kind: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    # the dashboard has the texts as scored, not the files' bytes: names only
    if kind == "compare":
        return [{"role": "reference", "name": result.get("reference_name"), "sha256": None}] + [
            {"role": f"system {s.get('name')}", "name": (s.get("settings") or {}).get("b_name"), "sha256": None}
            for s in result.get("systems") or []]
    s = result.get("settings") or {}
    return [{"role": "reference", "name": s.get("a_name"), "sha256": None},
            {"role": "rendering", "name": s.get("b_name"), "sha256": None}]


def save_button(st, result, kind: str = "score", key: str = "save_run", path: str | None = None) -> None:
    """*Save to the run history* for a result shown on a page, with the message of the last save."""
    st.button("Save to the run history", key=key, on_click=saver(st, path), args=(kind, result, None),
              help=f"Stored in {hist.resolve_path(path)}; list and compare saved runs on the Saved runs page.")
    if st.session_state.get("saved_message"):
        st.success(st.session_state.pop("saved_message"))


# ---- the page ----------------------------------------------------------------------------------------


def render(st, path: str | None = None) -> None:
    st.markdown("### Saved runs")
    where = hist.resolve_path(path)
    st.caption(f"Runs saved with `--save` (score, compare, batch) or with *Save to the run history* on the other "
               f"pages. Database: `{views.code_safe(where)}` (set MT_COMPARATOR_HISTORY to use another).")
    if not os.path.exists(where):
        st.info("No saved runs yet. Save one from the main page (Export tab), from *Several systems*, or with "
                "`python -m comparator score A B --save`.")
        return
    try:
        h = hist.History(path, create=False)
    except InputError as exc:  # damaged, or not a history: said, and the file left as it is
        show_input_error(st, exc, "cannot open the run history")
        return
    try:
        with h:
            _runs(st, h)
    except InputError as exc:  # a damaged history or stored result found while reading: one line
        show_input_error(st, exc, "cannot read the run history")


def _runs(st, h: hist.History) -> None:
    kind = st.segmented_control("Kind", ["all", *hist.KINDS], default="all", key="hist_kind")
    runs = h.runs(limit=None, kind=None if kind in (None, "all") else kind)
    if not runs:
        st.info("No saved runs of this kind.")
        return
    st.dataframe(runs_frame(runs), hide_index=True, key="hist_table",
                 column_config={"bleu": st.column_config.NumberColumn("BLEU", format="%.2f"),
                                "chrf": st.column_config.NumberColumn("chrF", format="%.2f"),
                                "mean_cosine": st.column_config.NumberColumn("cosine", format="%.4f")})
    by_id = {r["id"]: r for r in runs}
    reopen(st, h, by_id)
    st.divider()
    compare_two(st, h, by_id)


def reopen(st, h: hist.History, by_id: dict[int, dict]) -> None:
    st.markdown("**Reopen a run**")
    labels = {i: run_label(r) for i, r in by_id.items()}
    c = st.columns([5, 2], vertical_alignment="bottom")
    run_id = c[0].selectbox("Run", list(labels), format_func=labels.get, key="hist_open")
    run = by_id[run_id]
    target = "Several systems" if run["kind"] == "compare" else "the main view"
    if c[1].button(f"Show in {target}", key="hist_open_btn", width="stretch"):
        text = h.result_text(run_id)
        label = f"run {run_id}" + (f" ({run['label']})" if run.get("label") else "")
        if run["kind"] == "compare":
            st.session_state["saved_systems"] = (label, text.encode("utf-8"))
            st.switch_page(navigation.page("systems"))
        else:
            st.session_state["saved_run"] = (label, text.encode("utf-8"))
            st.switch_page(navigation.page("compare"))
    s = run.get("settings") or {}
    inputs = " · ".join(f"{e.get('role')}: {views.md_escape(e.get('name') or '?')}" for e in run.get("inputs") or [])
    st.caption(f"Mode {views.md_escape(s.get('mode') or '')} · model {views.md_escape(s.get('model') or '')} · "
               f"from {run['source']}" + (f" · {inputs}" if inputs else ""))


def _pick(st, h: hist.History, by_id: dict[int, dict], label: str, key: str, default: int) -> tuple[str, str]:
    labels = {i: run_label(r) for i, r in by_id.items()}
    ids = list(labels)
    if st.session_state.get(key) not in labels:
        st.session_state[key] = ids[min(default, len(ids) - 1)]
    run_id = st.selectbox(label, ids, format_func=labels.get, key=key)
    ref = str(run_id)
    if by_id[run_id]["kind"] == "compare":
        names = by_id[run_id].get("names") or []
        system = st.selectbox(f"System of run {run_id}", names, key=f"{key}_system")
        ref = f"{run_id}:{system}"
    return ref, labels[run_id]


def compare_two(st, h: hist.History, by_id: dict[int, dict]) -> None:
    st.markdown("**Compare two runs of the same texts** — did the new rendering get better where it mattered?")
    if len(by_id) < 2:
        st.info("Save a second run of the same reference to compare them.")
        return
    c = st.columns(2)
    with c[0]:
        old_ref, _ = _pick(st, h, by_id, "Before", "hist_old", 1)  # the list is newest first
    with c[1]:
        new_ref, _ = _pick(st, h, by_id, "After", "hist_new", 0)
    try:
        old, old_label = h.comparison(old_ref)
        new, new_label = h.comparison(new_ref)
        d = hist.diff_results(old, new, old_label, new_label)
    except InputError as exc:
        st.warning(inert(first_line(exc)))
        return
    row = st.container(horizontal=True, wrap=True, gap="medium")
    for label, value, delta, colour in corpus_metrics(d):
        row.metric(label, value, delta, delta_color=colour, width="content")
    n = d["counts"]
    st.caption(f"Reference sentences: **{n['better']} better**, **{n['worse']} worse**, {n['mixed']} mixed, "
               f"{n['same']} the same (a change is a flag step of {d['thresholds']['flag']} or a chrF step of "
               f"{d['thresholds']['chrf']})" + (" · same rendering in both" if d["same_rendering"] else "")
               + ("" if d["same_settings"] else " · the settings differ"))
    changed_only = st.toggle("Changed sentences only", value=True, key="hist_changed_only")
    frame = diff_frame(d, changed_only)
    if len(frame):
        st.dataframe(frame, hide_index=True, key="hist_diff",
                     column_config={"flag before": st.column_config.NumberColumn(format="%.2f"),
                                    "flag after": st.column_config.NumberColumn(format="%.2f"),
                                    "chrF before": st.column_config.NumberColumn(format="%.1f"),
                                    "chrF after": st.column_config.NumberColumn(format="%.1f")})
    else:
        st.info("No reference sentence changed.")
