"""The dashboard's main page, "Compare two renderings" (app.py names it in the navigation): a thin UI over
comparator's engine and its result type.

Widgets, layout and caching only: scores come from comparator.compare (or a saved JSON result) and are
never recomputed here; tables, filters, diffs and charts come from comparator.dashboard.views.
"""
from __future__ import annotations

import contextvars
import hashlib
import logging
from pathlib import Path

import streamlit as st

from comparator.dashboard.errors import show_failure, show_input_error
from comparator.dashboard import history as dashboard_history, views
from comparator.render import report
from comparator.dashboard.cache import load_encoder, read_upload
from comparator.core.documents import Document, decode, read_text
from comparator.core.embed.encoder import DEFAULT_MODEL, HASH_MODEL, MULTILINGUAL_MODEL
from comparator.core.errors import InputError
from comparator.core.result import Comparison
from comparator.core.segment import MODES

HERE = Path(__file__).resolve().parents[2]  # the project folder: examples/ is there
SAMPLE = ("examples/reference.txt", "examples/machine.txt")
TABS = ["Side by side", "Table", "Pair up close", "Plots", "Export"]
EXPORTS = [("csv", "CSV", "pairs.csv", "text/csv"), ("json", "JSON (as the CLI writes it)", "result.json",
            "application/json"), ("html", "HTML report", "report.html", "text/html")]
MODE_HELP = ("text: find the sentences · lines: one sentence a line, then aligned · "
             "aligned: line i of A goes with line i of B")
log = logging.getLogger("comparator.app")
if not logging.getLogger("comparator").handlers:  # once per server: model loads and errors go to its log
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.getLogger("comparator").addHandler(_handler)
    logging.getLogger("comparator").setLevel(logging.INFO)



# ---- caching: the model once per server, results per input and settings ------------------------------

@st.cache_data(show_spinner=False, max_entries=32)
def score(doc_a: Document, doc_b: Document, mode: str, model: str, _encoder=None, _progress=None) -> Comparison:
    from comparator import compare
    from comparator.core.settings import Settings

    return compare(doc_a, doc_b, Settings(mode=mode, model=model), encoder=_encoder, progress=_progress)


@st.cache_data(show_spinner=False, max_entries=16)
def open_json(data: bytes, name: str) -> Comparison:
    return Comparison.from_json(decode(data, name).text)


@st.cache_data(show_spinner=False, max_entries=32)
def frame(key: str, _result: Comparison):
    return views.pairs_frame(_result)


@st.cache_data(show_spinner=False, max_entries=32)
def pair_labels(key: str, _df) -> dict[int, str]:
    return views.pair_labels(_df)


@st.cache_data(show_spinner=False, max_entries=32)
def export(key: str, fmt: str, _result: Comparison) -> str:
    return report.FORMATS[fmt](_result)


def _sample(i: int) -> Document:
    return read_upload((HERE / SAMPLE[i]).read_bytes(), SAMPLE[i])


def _pick(upload, pasted: str, label: str) -> Document | None:
    if upload is not None:
        return read_upload(upload.getvalue(), upload.name)
    if pasted and pasted.strip():
        return read_text(pasted, f"pasted {label}")
    return None


def _key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()[:20]


def _reset_page():
    st.session_state["page"] = 1


def _open_closeup(n: int):
    st.session_state["closeup"] = n
    st.session_state["tab"] = TABS[2]


def _select_from_table():
    rows = st.session_state["table"]["selection"]["rows"]
    ids = st.session_state.get("_table_ids", [])
    if rows and rows[0] < len(ids):
        _open_closeup(ids[rows[0]])


def _fail(exc: Exception) -> None:
    show_failure(st, exc)
    st.stop()


def _step(delta: int, last: int):
    st.session_state["closeup"] = min(max(0, st.session_state["closeup"] + delta), last)


# ---- summary -----------------------------------------------------------------------------------------

def summary(result: Comparison) -> None:
    s = views.summary(result)
    cfg = result.settings or {}
    st.caption(f"A (reference): **{views.md_escape(cfg.get('a_name', ''))}** · B (rendering under review): "
               f"**{views.md_escape(cfg.get('b_name', ''))}** · mode {views.md_escape(cfg.get('mode', ''))} · "
               f"model {views.md_escape(cfg.get('model', ''))}")
    line = views.language_line(result)
    if line:
        st.info(views.md_escape(line))
    for note in views.shown_notes(result):
        st.warning(views.md_escape(note))
    no_p = views.no_p_note(result)
    if no_p:
        st.info(views.md_escape(no_p))
    # A wrapping row, not columns: on a narrow screen the numbers move to a second line instead of being cut.
    row = st.container(horizontal=True, wrap=True, gap="medium")
    for label, value, help_text in views.summary_metrics(s):
        row.metric(label, value, help=help_text, width="content")
    st.caption("Aligned pairs by type: " + (" · ".join(f"{t} × {n}" for t, n in s["by_type"].items()) or "none")
               + f"  \nSignatures: BLEU `{views.code_safe(s['bleu_signature'])}` · "
                 f"chrF `{views.code_safe(s['chrf_signature'])}`")


def worst_pairs(df, scores: list[str]) -> None:
    """The worst aligned pairs, on the first screen, with buttons that open them up close."""
    worst = views.worst_pairs(df, 3)
    if not len(worst):
        return
    show = st.session_state["show_changes"]
    st.markdown(f"<b>Worst aligned pairs</b> &nbsp; <small>{views.legend_html(views.span_kinds(df), show)}</small>",
                unsafe_allow_html=True)
    st.markdown(views.pairs_html(worst, [x for x in scores if x != "ter"], show_changes=show), unsafe_allow_html=True)
    note = views.one_sided_note(df)
    w = st.columns([5, 2], vertical_alignment="center")
    w[0].caption("Highest flag first (higher = more likely awkward or wrong). "
                 + (f"Also {note}. " if note else "") + "All pairs: *Side by side*, sorted by flag.")
    row = w[1].container(horizontal=True, horizontal_alignment="right", vertical_alignment="center")
    row.caption("Up close:")
    for n in worst["pair"]:
        row.button(f"#{n}", key=f"open_{n}", on_click=_open_closeup, args=(int(n),),
                   help="open this pair in the Pair up close tab, below")


# ---- side by side: filter, sort, page; the same pairs as a table ----------------------------------------

def side_by_side(df, key: str, scores: list[str]):
    kinds_all = views.kinds_present(df)
    c = st.columns([3, 1.8, 1.5], vertical_alignment="bottom")
    search = c[0].text_input("Search A and B", key="search", placeholder="words or names", on_change=_reset_page)
    sort_options = ["document", *scores]
    if st.session_state["sort"] not in sort_options:
        st.session_state["sort"] = "document"
    sort_by = c[1].selectbox("Sort by", sort_options, key="sort", format_func=views.LABELS.get,
                             on_change=_reset_page)
    worst_first = c[2].toggle("worst first", key="worst_first", on_change=_reset_page,
                              help="high flag first; low cosine, chrF, BLEU first", disabled=sort_by == "document")
    f = st.columns([5, 1.6], vertical_alignment="center")
    kinds = f[0].pills("Alignment", kinds_all, default=kinds_all, key=f"kinds_{key}", selection_mode="multi",
                       on_change=_reset_page)
    only_marks = f[1].checkbox("only pairs with marks", key="only_marks", on_change=_reset_page,
                               help=f"pairs with at least one span of error probability ≥ {views.MARK_THRESHOLD:g}")
    bounds, ranges = {}, {}
    with st.expander("Score ranges"):
        rc = st.columns(len(scores))
        for col, sc in zip(rc, scores):
            bounds[sc] = views.slider_bounds(df, sc)
            ranges[sc] = col.slider(views.LABELS[sc], *bounds[sc], value=bounds[sc], key=f"range_{sc}_{key}",
                                    on_change=_reset_page)
        st.caption("A narrowed range leaves out pairs without that score (one-sided pairs have no cosine).")
    shown = views.sort_pairs(views.filter_pairs(df, kinds, search, views.narrowed(ranges, bounds), only_marks),
                             sort_by, worst_first)
    rows, number, pages = views.page(shown, st.session_state["page"], st.session_state["page_size"])
    order = "document order" if sort_by == "document" else \
        f"{views.LABELS[sort_by]}, {'worst' if worst_first else 'best'} first"
    st.caption(f"{len(shown)} of {len(df)} pairs · sorted by {order} · page {number} of {pages}")
    show = st.session_state["show_changes"]
    st.markdown(views.legend_html(views.span_kinds(df), show), unsafe_allow_html=True)
    if len(rows):
        st.markdown(views.pairs_html(rows, [x for x in scores if x != "ter"], show_changes=show),
                    unsafe_allow_html=True)
    else:
        st.info("No pairs match these filters.")
    st.session_state["page"] = number
    p = st.columns([1, 1, 4])
    p[0].number_input("Page", min_value=1, max_value=pages, key="page")
    p[1].selectbox("Pairs per page", [10, 25, 50, 100, 250], key="page_size", on_change=_reset_page)
    return shown


def table(shown, scores: list[str]) -> None:
    st.caption(f"The {len(shown)} pairs that pass the filters of *Side by side*, in its order. "
               "Click a column header to sort; tick a row to open that pair up close.")
    st.session_state["_table_ids"] = shown["pair"].tolist()
    number_cols = {views.LABELS[sc]: st.column_config.NumberColumn(format=f"%.{views.DIGITS[sc]}f")
                   for sc in scores}
    st.dataframe(views.table_frame(shown, scores, st.session_state["show_changes"]), key="table",
                 on_select=_select_from_table, selection_mode="single-row", hide_index=True,
                 height=min(38 + 35 * len(shown), 640),
                 column_config={"#": st.column_config.NumberColumn(width="small"),
                                "alignment": st.column_config.TextColumn(width="small"),
                                "marks": st.column_config.NumberColumn(
                                    width="small", help=f"spans with error probability ≥ {views.MARK_THRESHOLD:g}"),
                                "marked in B": st.column_config.TextColumn(width="medium"),
                                "A (reference)": st.column_config.TextColumn(width="large"),
                                "B (rendering)": st.column_config.TextColumn(width="large"), **number_cols})


# ---- one pair up close -------------------------------------------------------------------------------

def close_up(df, key: str, scores: list[str]) -> None:
    last = len(df) - 1
    if last < 0:
        st.info("This result has no pairs.")
        return
    if st.session_state.get("closeup") is None or st.session_state["closeup"] > last:
        st.session_state["closeup"] = views.default_pair(df)
    labels = pair_labels(key, df)
    nav = st.columns([8, 1.2, 1.2], vertical_alignment="bottom")
    n = nav[0].selectbox("Pair (# · alignment · flag · text)", list(labels), key="closeup", format_func=labels.get)
    nav[1].button("← previous", on_click=_step, args=(-1, last), disabled=n <= 0, width="stretch")
    nav[2].button("next →", on_click=_step, args=(1, last), disabled=n >= last, width="stretch")
    row = df[df["pair"] == n].iloc[0]
    mc = st.columns(len(scores) + 1)
    mc[0].metric("Alignment", row["kind"])
    for col, sc in zip(mc[1:], scores):
        col.metric(views.LABELS[sc], views.fmt(None if row["furniture"] else row[sc], sc))
    st.caption(f"A: {views.sentence_ref(row['a'])} · B: {views.sentence_ref(row['b'])} (counting from 0)"
               + (" · page furniture, not scored" if row["furniture"] else "")
               + (f" · alignment confidence {views.fmt(row['confidence'], 'confidence')}"
                  if row["confidence"] == row["confidence"] else ""))
    show = st.session_state["show_changes"]
    st.markdown(views.pairs_html(df[df["pair"] == n], scores, show_changes=show), unsafe_allow_html=True)
    if row["a_text"] and row["b_text"]:
        st.markdown("**Word by word** — <del style='background:#ffd6d6'>only in A</del> "
                    "<ins style='background:#c9f2c9;text-decoration:none'>only in B</ins>", unsafe_allow_html=True)
        diff = views.diff_html(views.word_diff(row["a_text"], row["b_text"]))
        st.markdown(f'<div style="line-height:1.8;margin-bottom:1em">{diff}</div>', unsafe_allow_html=True)
    st.markdown("**Neighbours** (two pairs either side, in document order)")
    st.markdown(views.pairs_html(views.neighbours(df, n, 2), scores, current=n, show_changes=show),
                unsafe_allow_html=True)


# ---- plots and exports -------------------------------------------------------------------------------

def plots(df, scores: list[str]) -> None:
    st.markdown("**How the scores are distributed**")
    for col, sc in zip(st.columns(len(scores)), scores):
        col.altair_chart(views.score_histogram(df, sc), width="stretch")
    st.markdown("**The flag along the document** — where does the rendering drift? Dashed: running mean of 5 "
                "pairs; furniture left out.")
    st.altair_chart(views.flag_along_document(df), width="stretch")
    st.markdown("**Cosine against chrF** — high cosine with low chrF is a fluent paraphrase (same meaning, other "
                "words); both low is a likely mistranslation. One point per aligned pair; hover for the text.")
    st.altair_chart(views.cosine_vs_chrf(df), width="stretch")


def exports(result: Comparison, key: str) -> None:
    stem = Path(str((result.settings or {}).get("b_name") or "comparison")).stem or "comparison"
    st.caption("The whole result, whatever the filters: every pair with its scores and spans.")
    for col, (fmt, label, name, mime) in zip(st.columns(len(EXPORTS)), EXPORTS):
        col.download_button(label, export(key, fmt, result), f"{stem}-{name}", mime, key=f"dl_{fmt}",
                            on_click="ignore", width="stretch")  # "ignore": a download does not rerun
    dashboard_history.save_button(st, result, "score")


def render() -> None:
    """The page: sidebar input, summary, worst pairs, the tabs (run on every rerun)."""
    # ---- input -------------------------------------------------------------------------------------------

    for k, v in {"page": 1, "page_size": 25, "sort": "document", "worst_first": True, "search": "", "mode": "text",
                 "model": DEFAULT_MODEL}.items():
        st.session_state.setdefault(k, v)
    for k, v in {"show_changes": True, "only_marks": False}.items():
        st.session_state.setdefault(k, v)

    with st.sidebar:
        st.header("Input")
        up_a = st.file_uploader("Reference (A)", key="up_a", help="The original, or a human translation. Read in "
                                "memory, never saved.")
        up_b = st.file_uploader("Rendering under review (B)", key="up_b")
        with st.expander("…or paste text"):
            paste_a = st.text_area("Paste reference (A)", key="paste_a", height=140)
            paste_b = st.text_area("Paste rendering (B)", key="paste_b", height=140)
        mode = st.radio("Mode", MODES, key="mode", horizontal=True, help=MODE_HELP)
        model = st.text_input("Model", key="model",
                              help=f"{DEFAULT_MODEL}: the packaged sentence model (English) · "
                                   f"'{MULTILINGUAL_MODEL}': the packaged multilingual model, for A and B in two "
                                   f"languages · '{HASH_MODEL}': fast, model-free (a first look at long texts) · or a "
                                   "sentence-transformers folder on this server")
        st.divider()
        up_json = st.file_uploader("Open a saved result (JSON)", type=["json"], key="up_json",
                                   help="Written by `python -m comparator score A B --format json`; shown as if "
                                        "scored here. Remove it to score texts again.")
        st.caption("**flag**: higher = more likely awkward or wrong · **cosine**: closeness of meaning (sentence "
                   "embeddings) · **chrF**, **BLEU**: overlap of characters and words with A (sacrebleu)")
        st.divider()
        st.checkbox("Show changes", key="show_changes",
                    help=f"Marks (likely errors, error probability ≥ {views.MARK_THRESHOLD:g}) are always drawn; "
                         "changes are the other differences from A, drawn faintly. Untick to see the marks alone.")

    # Own CSS, no user text: less empty space above the title, so that the worst pairs fit on the first screen.
    st.markdown("<style>[data-testid=stMainBlockContainer]{padding-top:2.5rem !important}"
                "[data-testid=stSidebarHeader]{margin-bottom:0}</style>", unsafe_allow_html=True)
    st.markdown("### Translation comparator")
    status = st.empty()
    progress_slot = st.empty()


    _script_context = contextvars.copy_context()


    def _progress(stage: str, done: int, total: int) -> None:
        # Called from inside the cached `score`: run in the script's own context, so that st.cache_data does not
        # record the bar as part of the result and try to replay it on a cache hit.
        _script_context.run(progress_slot.progress, views.progress_fraction(stage, done, total),
                            text=views.progress_text(stage, done, total))


    try:
        if up_json is not None:
            data = up_json.getvalue()
            result, key = open_json(data, up_json.name), _key("json", hashlib.sha256(data).hexdigest())
            status.info(f"Showing the saved result **{views.md_escape(up_json.name)}**. Remove it in the sidebar to "
                        "score texts again.")
        elif st.session_state.get("saved_run"):  # reopened from the Saved runs page
            name, data = st.session_state["saved_run"]
            result, key = open_json(data, name), _key("json", hashlib.sha256(data).hexdigest())
            status.info(f"Showing **{views.md_escape(name)}** from the run history.")
            st.sidebar.button("Close the saved run", on_click=st.session_state.pop, args=("saved_run", None))
        else:
            doc_a, doc_b = _pick(up_a, paste_a, "A"), _pick(up_b, paste_b, "B")
            if doc_a is None and doc_b is None:
                doc_a, doc_b = _sample(0), _sample(1)
                status.info("This is the bundled sample, already scored. Upload or paste your own two renderings "
                            "in the sidebar.")
            elif doc_a is None or doc_b is None:
                missing = "the reference (A)" if doc_a is None else "the rendering (B)"
                status.warning(f"Add {missing} too, by upload or paste; showing the bundled sample until then.")
                doc_a, doc_b = _sample(0), _sample(1)
            model = model.strip() or DEFAULT_MODEL
            encoder = load_encoder(model)
            result = score(doc_a, doc_b, mode, model, _encoder=encoder, _progress=_progress)
            key = _key(doc_a, doc_b, mode, model)
        df = frame(key, result)
    except InputError as exc:
        progress_slot.empty()
        show_input_error(st, exc)
        st.caption("Change the input in the sidebar to go on.")
        st.stop()
    except Exception as exc:  # a bug or an unforeseen input: one line for the user, the traceback in the log
        progress_slot.empty()
        _fail(exc)
    progress_slot.empty()
    if st.session_state.get("_result_key") != key:  # a new result: start at its worst pair, on page 1
        st.session_state["_result_key"] = key
        st.session_state["closeup"] = None
        st.session_state["page"] = 1

    # ---- the page ----------------------------------------------------------------------------------------

    try:
        summary(result)
        scores = views.scores_present(df)
        worst_pairs(df, scores)
        # Tabs track which one is open, so that a pair can be opened up close from elsewhere and plots are drawn
        # only when looked at; the other tabs always run, so that their widgets keep their state.
        tab_sbs, tab_table, tab_close, tab_plots, tab_export = st.tabs(TABS, key="tab", on_change="rerun")
        with tab_sbs:
            shown = side_by_side(df, key, scores)
        with tab_table:
            table(shown, scores)
        with tab_close:
            close_up(df, key, scores)
        with tab_plots:
            if tab_plots.open:  # charts of a long text are heavy: drawn only when looked at
                plots(df, scores)
        with tab_export:
            exports(result, key)
    except Exception as exc:  # e.g. a hand-edited JSON result with odd values: one line, the traceback in the log
        _fail(exc)
