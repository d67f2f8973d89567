"""The dashboard's *Several systems* page (pages/1_Several_systems.py): choose a reference and two or more
systems, see them ranked with paired bootstrap significance, and the systems side by side on the
reference sentence where they disagree most.

Render functions take the `st` module and the page's cached callables; the frames and HTML they show
come from the pure helpers at the top, which never import streamlit. Scores come from
comparator.analysis.systems and are never recomputed here. User text in HTML always goes through html.escape.
"""
from __future__ import annotations

import html
from typing import Any, Callable

import pandas as pd

from comparator.dashboard import views
from comparator.render import report
from comparator.render.report import highlight_html
from comparator.analysis.systems import SIGNIFICANCE_LEVEL, SystemsComparison

SAMPLE = ("examples/reference.txt", ("examples/machine.txt", "examples/machine2.txt"))

# ---- pure helpers ------------------------------------------------------------------------------------


def ranking_frame(sc: SystemsComparison) -> pd.DataFrame:
    """The system table, best first, with readable column names."""
    base = sc.table[0] if sc.table else {}
    rows = []
    for r in sc.ranked():
        rows.append({
            "rank": r["rank"], "system": r["system"],
            "BLEU": r["bleu"], "BLEU ±": r["bleu_ci"], "BLEU p": p_text(r["bleu_p"]),
            "chrF": r["chrf"], "chrF ±": r["chrf_ci"], "chrF p": p_text(r["chrf_p"]),
            "vs baseline": verdict(r, base),
            "cosine": r["mean_cosine"], "flagged": r["flagged"],
            "left out": r["only_in_reference"], "added": r["only_in_system"],
        })
    return pd.DataFrame(rows)


def p_text(p) -> str:
    """A p-value as shown: four digits, a star below the significance level, "–" for the baseline."""
    if p is None:
        return "–"
    return f"{p:.4f}" + (" *" if p < SIGNIFICANCE_LEVEL else "")


def verdict(row: dict[str, Any], base: dict[str, Any]) -> str:
    """"baseline", or which scores differ significantly from the baseline's and in which direction."""
    if row["bleu_p"] is None and row["chrf_p"] is None:
        # no p: the baseline itself, or no test at all (nothing to score, or no BLEU/chrF across languages)
        return "baseline" if row.get("system") == base.get("system") else "no test"
    said = []
    for m, label in (("chrf", "chrF"), ("bleu", "BLEU")):
        if row.get(f"{m}_significant"):
            said.append(f"{label} {'better' if (row[m] or 0) > (base.get(m) or 0) else 'worse'}")
    return ", ".join(said) + f" (p < {SIGNIFICANCE_LEVEL})" if said else "no significant difference"


def significance_caption(sc: SystemsComparison) -> str:
    s = sc.significance
    if not s:
        return "No significance test: " + "; ".join(sc.notes or ["nothing to score"])
    return (f"Paired bootstrap resampling (sacrebleu), {s['n_samples']} resamples, seed {s['seed']}, over "
            f"{s['segments']} reference segments (runs of reference sentences no system splits; a sentence a "
            f"system left out scores as empty, its additions count with the sentence before them). "
            f"Baseline: {s['baseline']}. ± is the 95% confidence half-width; p is the chance of a difference "
            f"this large from the baseline without a real one. Signatures: BLEU `{views.code_safe(s['bleu_signature'])}` "
            f"· chrF `{views.code_safe(s['chrf_signature'])}`. Flagged: pairs with flag ≥ "
            f"{sc.settings.get('flag_threshold')}.")


def ci_chart(sc: SystemsComparison, metric: str = "chrf"):
    """Each system's score with its 95% interval, best first: overlapping bars are a hint, p the answer."""
    import altair as alt

    label = {"bleu": "BLEU", "chrf": "chrF"}[metric]
    data = pd.DataFrame([{"system": r["system"], "score": r[metric], "lo": (r[metric] or 0) - (r[f"{metric}_ci"] or 0),
                          "hi": (r[metric] or 0) + (r[f"{metric}_ci"] or 0), "rank": r["rank"]}
                         for r in sc.ranked() if r[metric] is not None])
    order = list(data["system"]) if len(data) else []
    # the height holds the title and the axis as well (Streamlit fits the chart into it): room per system
    base = alt.Chart(data, height=90 + 40 * max(1, len(data)), title=f"{label} with 95% interval")
    y = alt.Y("system:N", sort=order, title=None, axis=alt.Axis(labelLimit=220))
    bars = base.mark_rule(strokeWidth=3, color="#4c78a8").encode(x=alt.X("lo:Q", title=label, scale=alt.Scale(zero=False)),
                                                                 x2="hi:Q", y=y)
    points = base.mark_point(filled=True, size=80, color="#1f3b63").encode(
        x="score:Q", y=y, tooltip=["system:N", alt.Tooltip("score:Q", format=".2f"), alt.Tooltip("lo:Q", format=".2f"),
                                   alt.Tooltip("hi:Q", format=".2f")])
    return bars + points


def segment_labels(sc: SystemsComparison) -> dict[int, str]:
    """Segments, most disputed first, labelled for a chooser."""
    out = {}
    for i in sc.most_disputed():
        seg = sc.segments[i]
        text = " ".join(seg.reference.split())
        text = text if len(text) <= 70 else text[:69] + "…"
        which = "sentence " if len(seg.a) == 1 else "sentences "
        what = "flag spread" if seg.chrf and seg.chrf[0] is None else "chrF spread"
        out[i] = f"{which}{', '.join(map(str, seg.a))} · {what} {seg.disagreement:.1f} · {text}"
    return out


_MISSING = "color:#999;font-style:italic"


def segment_system_html(sc: SystemsComparison, seg_index: int, system: int, show_changes: bool = True) -> str:
    """One system's text for a segment: each of its pairs with its marks (and changes, unless
    `show_changes` is False), additions underlined, a left-out sentence said as such. Escaped throughout."""
    seg = sc.segments[seg_index]
    result = sc.systems[system]
    parts = []
    for n in seg.pairs[system]:
        p = result.pairs[n]
        if not p.b:
            parts.append(f'<span style="{_MISSING}">— left out: {html.escape(p.a_text)} —</span>')
        elif not p.a:
            parts.append(f'<span style="border-bottom:2px dashed #d6a100" title="only in this system">'
                         f'{highlight_html(views._display(p.b_text), p.b_spans, show_changes)}</span>')
        else:
            parts.append(highlight_html(views._display(p.b_text), p.b_spans, show_changes))
    return " ".join(parts) or f'<span style="{_MISSING}">— nothing —</span>'


def segment_scores(sc: SystemsComparison, seg_index: int, system: int) -> str:
    seg = sc.segments[seg_index]
    flag = seg.flag[system]
    return (f'<span style="background:{views.flag_colour(flag)};padding:1px 6px;border-radius:8px;font-weight:600">'
            f'flag {views.fmt(flag, "flag")}</span>'
            + ("" if seg.chrf[system] is None else f" · chrF {seg.chrf[system]:.1f}"))


# ---- rendering ---------------------------------------------------------------------------------------


def render(st, score_systems: Callable, read_upload: Callable, open_systems_json: Callable,
           save: Callable | None, root) -> None:
    """The whole page. `score_systems(ref_doc, docs, names, mode, model, n_samples)` returns a
    SystemsComparison (cached by the page); `save(kind, result_dict, label)` stores a run."""
    from comparator.core.embed.encoder import DEFAULT_MODEL, HASH_MODEL, MULTILINGUAL_MODEL
    from comparator.core.errors import InputError
    from comparator.dashboard.errors import show_input_error
    from comparator.core.segment import MODES
    from comparator.analysis.systems import default_name, unique_names

    for k, v in {"sys_mode": "text", "sys_model": DEFAULT_MODEL, "sys_bootstrap": 1000,
                 "sys_show_changes": True}.items():
        st.session_state.setdefault(k, v)
    with st.sidebar:
        st.header("Systems")
        up_ref = st.file_uploader("Reference", key="sys_ref", help="The original, or a human translation.")
        up_sys = st.file_uploader("Systems (two or more renderings)", key="sys_files", accept_multiple_files=True,
                                  help="The first is the baseline of the significance tests.")
        mode = st.radio("Mode", MODES, key="sys_mode", horizontal=True)
        model = st.text_input("Model", key="sys_model",
                              help=f"{DEFAULT_MODEL}: the packaged sentence model (English) · '{MULTILINGUAL_MODEL}': "
                                   f"the packaged multilingual model · '{HASH_MODEL}': fast, model-free")
        n_samples = st.number_input("Bootstrap resamples", min_value=10, max_value=10000, step=100,
                                    key="sys_bootstrap")
        st.checkbox("Show changes", key="sys_show_changes",
                    help=f"Marks (likely errors, error probability ≥ {views.MARK_THRESHOLD:g}) are always drawn; "
                         "changes are the other differences from the reference, drawn faintly.")
        st.divider()
        up_json = st.file_uploader("Open a saved result (JSON)", type=["json"], key="sys_json",
                                   help="Written by `python -m comparator compare REF SYS1 SYS2 --format json`.")
    st.markdown("### Several systems against one reference")
    status = st.empty()
    try:
        saved = st.session_state.get("saved_systems")
        if up_json is not None:
            sc = open_systems_json(up_json.getvalue(), up_json.name)
            status.info(f"Showing the saved result **{views.md_escape(up_json.name)}**.")
        elif saved is not None:
            sc = open_systems_json(saved[1], saved[0])
            status.info(f"Showing **{views.md_escape(saved[0])}** from the run history.")
            st.sidebar.button("Close the saved run", key="sys_close_saved",
                              on_click=lambda: st.session_state.pop("saved_systems", None))
        else:
            files = list(up_sys or [])
            if up_ref is None and not files:
                ref = read_upload((root / SAMPLE[0]).read_bytes(), SAMPLE[0])
                docs = [read_upload((root / p).read_bytes(), p) for p in SAMPLE[1]]
                names = [default_name(p) for p in SAMPLE[1]]
                status.info("The bundled sample: one reference and two machine renderings of it. Upload your own "
                            "reference and two or more systems in the sidebar.")
            elif up_ref is None or len(files) < 2:
                status.warning("Add a reference and at least two systems in the sidebar.")
                return
            else:
                ref = read_upload(up_ref.getvalue(), up_ref.name)
                docs = [read_upload(f.getvalue(), f.name) for f in files]
                names = unique_names([default_name(f.name) for f in files])
            with st.spinner("Scoring the systems…"):
                sc = score_systems(ref, tuple(docs), tuple(names), mode, (model or "").strip() or DEFAULT_MODEL,
                                   int(n_samples))
    except InputError as exc:
        show_input_error(st, exc)
        return
    show(st, sc, save)


def show(st, sc: SystemsComparison, save: Callable | None = None) -> None:
    """Ranking, significance and the most disputed sentence, for a scored (or reopened) comparison."""
    cfg = sc.settings
    st.caption(f"Reference: **{views.md_escape(sc.reference_name)}** · systems: "
               + ", ".join(f"**{views.md_escape(n)}**" for n in sc.names)
               + f" · mode {views.md_escape(cfg.get('mode', ''))} · model {views.md_escape(cfg.get('model', ''))}")
    for note in sc.notes:
        st.warning(views.md_escape(note))
    cross = any(r.cross_lingual for r in sc.systems)
    st.markdown("**Ranking** (best first, by mean cosine, then fewer flagged pairs: no chrF across languages)" if cross
                else "**Ranking** (best first, by chrF over the shared reference segments)")
    frame = ranking_frame(sc)
    number = st.column_config.NumberColumn
    st.dataframe(frame, hide_index=True, key="sys_ranking",
                 column_config={"BLEU": number(format="%.2f"), "BLEU ±": number(format="%.2f"),
                                "chrF": number(format="%.2f"), "chrF ±": number(format="%.2f"),
                                "cosine": number(format="%.4f")})
    st.caption(significance_caption(sc))
    if sc.significance:
        c = st.columns(2)
        c[0].altair_chart(ci_chart(sc, "chrf"), width="stretch")
        c[1].altair_chart(ci_chart(sc, "bleu"), width="stretch")
    disputed(st, sc)
    row = st.container(horizontal=True)
    row.download_button("JSON (as the CLI writes it)", sc.to_json(), "systems.json", "application/json",
                        key="sys_dl_json", on_click="ignore")
    from comparator.render.systems import to_html

    row.download_button("HTML report", to_html(sc), "systems.html", "text/html", key="sys_dl_html", on_click="ignore")
    if save is not None:
        row.button("Save to the run history", key="sys_save", on_click=save,
                   args=("compare", sc, None))
    if st.session_state.get("saved_message"):
        st.success(st.session_state.pop("saved_message"))


def disputed(st, sc: SystemsComparison) -> None:
    if not sc.segments:
        st.info("No reference sentence to compare.")
        return
    st.markdown("**Where the systems disagree most** — the reference sentence(s) with the widest spread of "
                "chrF between the systems, then the others in that order.")
    labels = segment_labels(sc)
    if st.session_state.get("sys_segment") not in labels:
        st.session_state["sys_segment"] = next(iter(labels))
    i = st.selectbox("Reference sentence", list(labels), key="sys_segment", format_func=labels.get)
    seg = sc.segments[i]
    st.markdown(f'<div style="padding:6px 10px;background:#f6f6f8;border-left:4px solid #888;margin-bottom:8px">'
                f'<b>Reference</b> ({html.escape(views.sentence_ref(" ".join(map(str, seg.a))))}): '
                f'{html.escape(views._display(seg.reference))}</div>', unsafe_allow_html=True)
    show = st.session_state.get("sys_show_changes", True)
    cols = st.columns(len(sc.names))
    for k, (col, name) in enumerate(zip(cols, sc.names)):
        col.markdown(f"<b>{html.escape(name)}</b><br>{segment_scores(sc, i, k)}", unsafe_allow_html=True)
        col.markdown(f'<div style="line-height:1.6">{segment_system_html(sc, i, k, show)}</div>',
                     unsafe_allow_html=True)
    kinds = report.span_kinds([p.b_spans for r in sc.systems for p in r.pairs])
    notes = {report.no_p_note(r) for r in sc.systems} - {""}
    st.markdown(f"<small>{views.legend_html(kinds, show)}</small>", unsafe_allow_html=True)
    if notes:  # once for the page, not once per system
        st.caption(views.md_escape("Systems without error probabilities: their spans are drawn as changes, "
                                   "none as marks (results from an older version)."))
