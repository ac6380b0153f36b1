"""Rendering of premium and analysis reports: rich terminal tables, Markdown, CSV, JSON and a self-contained HTML
page (plotly, its JavaScript embedded inline so the page works offline)."""

from __future__ import annotations

import csv
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np

from toksmith.analysis import premium as _premium
from toksmith.analysis.metrics import AnalysisReport
from toksmith.analysis.premium import PremiumReport
from toksmith.errors import AnalysisError

FORMATS = ("table", "md", "csv", "json", "html")


def _fmt(x: Any, nd: int = 2) -> str:
    if x is None:
        return ""
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if math.isnan(x):
        return "–"
    return f"{x:.{nd}f}"


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def _clean(o: Any) -> Any:
    """NaN/inf → None so the JSON is standard."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def to_json(d: dict[str, Any]) -> str:
    return json.dumps(_clean(d), indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in _clean(r).items()})
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]], align: Optional[list[str]] = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    esc = [h.replace("|", "\\|") for h in header]
    out = ["| " + " | ".join(esc) + " |", "| " + " | ".join(align) + " |"]
    for r in rows:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


# ================================================================================================================
# premium


def _premium_cell(t: _premium.TokenizerResult, i: int) -> str:
    if t.ci_low is not None:
        return f"{t.premium[i]:.2f} [{t.ci_low[i]:.2f}–{t.ci_high[i]:.2f}]"  # type: ignore[index]
    return f"{t.premium[i]:.2f}"


def premium_table(rep: PremiumReport, sort: str = "lang") -> Any:
    from rich.table import Table

    mode = "per line" if rep.mode == "lines" else "joined (Petrov et al.)"
    title = (
        f"Token premium vs {rep.ref} · {rep.corpus} ({'+'.join(rep.splits)}, {rep.n_lines} lines, {mode}) · "
        f"{len(rep.langs)} languages"
    )
    t = Table(title=title, title_justify="left")
    t.add_column("language")
    t.add_column("bytes×", justify="right")
    for c in rep.compressors:
        t.add_column(f"{c}×", justify="right")
    for tok in rep.tokenizers:
        t.add_column(f"{tok.name} π" + (" [CI]" if tok.ci_low is not None else ""), justify="right")
        if tok.price is not None:
            t.add_column(f"{tok.name} cost", justify="right")
    bp = rep.byte_premium
    cps = [rep.compressor_premium(c) for c in rep.compressors]
    for i in rep.order(sort):
        row = [rep.langs[i] + (" (ref)" if rep.langs[i] == rep.ref else ""), _fmt(bp[i])]
        row += [_fmt(c[i]) for c in cps]
        for tok in rep.tokenizers:
            row.append(_premium_cell(tok, i))
            if tok.price is not None:
                row.append(f"{tok.cost()[i]:.4f}")  # type: ignore[index]
        t.add_row(*row)
    return t


def premium_markdown(rep: PremiumReport, sort: str = "lang") -> str:
    out = [f"# Token premiums vs {rep.ref}\n"]
    out.append(
        f"Corpus `{rep.corpus}` ({'+'.join(rep.splits)}, {rep.n_lines} lines per language, {len(rep.langs)} "
        f"languages), mode **{rep.mode}**"
        + (f", {rep.bootstrap} bootstrap resamples, {rep.ci:.0%} CI" if rep.mode == "lines" else "")
        + ".\n"
    )
    out.append("## Definitions\n")
    out.extend(f"- **{k}**: {v}" for k, v in _premium.DEFINITIONS)
    out.append("\n## Tokenizers\n")
    out.append(
        _md_table(
            ["tokenizer", "backend", "|V|", f"CTC {rep.ref}", "seconds", "price / 1M"],
            [
                [
                    t.name,
                    t.backend,
                    _fmt(t.vocab_size),
                    _fmt(int(t.ctc[rep.ref_index])),
                    f"{t.seconds:.2f}",
                    "" if t.price is None else f"{t.price:g}",
                ]
                for t in rep.tokenizers
            ],
            ["---", "---", "---:", "---:", "---:", "---:"],
        )
    )
    out.append("\n## Premiums\n")
    header = ["language", "bytes×"] + [f"{c}×" for c in rep.compressors]
    for t in rep.tokenizers:
        header.append(f"{t.name} CTC")
        header.append(f"{t.name} π" + (" [CI]" if t.ci_low is not None else ""))
        if t.ratio_median is not None:
            header.append(f"{t.name} median r [IQR]")
        if t.price is not None:
            header.append(f"{t.name} cost")
    rows = []
    bp = rep.byte_premium
    cps = [rep.compressor_premium(c) for c in rep.compressors]
    for i in rep.order(sort):
        r = [rep.langs[i], _fmt(bp[i])] + [_fmt(c[i]) for c in cps]
        for t in rep.tokenizers:
            r.append(_fmt(int(t.ctc[i])))
            r.append(_premium_cell(t, i))
            if t.ratio_median is not None:
                r.append(f"{t.ratio_median[i]:.2f} [{t.ratio_q1[i]:.2f}–{t.ratio_q3[i]:.2f}]")  # type: ignore[index]
            if t.price is not None:
                r.append(f"{t.cost()[i]:.4f}")  # type: ignore[index]
        rows.append(r)
    out.append(_md_table(header, rows))
    return "\n".join(out)


def _plotly() -> Any:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise AnalysisError("the HTML report needs plotly: pip install 'toksmith[analysis]'") from None
    return go


def _fig_html(fig: Any, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})


def _page(title: str, body: str) -> str:
    import plotly.offline

    js = plotly.offline.get_plotlyjs()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1200px;
       color: #1d2330; padding: 0 16px; }}
h1 {{ font-size: 1.6em; margin-bottom: 0.2em; }} h2 {{ margin-top: 1.6em; border-bottom: 1px solid #dde; }}
.meta {{ color: #556; }} table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border-bottom: 1px solid #e4e6ee; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }} th {{ background: #f3f4f8; position: sticky; top: 0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 2px 14px; }} dt {{ font-weight: 600; }}
dd {{ margin: 0; }} .scroll {{ max-height: 640px; overflow: auto; border: 1px solid #e4e6ee; }}
</style>
<script type="text/javascript">{js}</script>
</head><body>
<h1>{html.escape(title)}</h1>
{body}
<p class="meta">Generated by toksmith on {stamp}.</p>
</body></html>
"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _defs(defs: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in defs) + "</dl>"


def _dropdown(names: list[str], per: int = 1) -> list[dict[str, Any]]:
    """Plotly updatemenus showing the traces of one name at a time (`per` traces each)."""
    buttons = []
    for k, n in enumerate(names):
        vis = [False] * (len(names) * per)
        for j in range(per):
            vis[k * per + j] = True
        buttons.append({"label": n, "method": "update", "args": [{"visible": vis}]})
    return [{"buttons": buttons, "direction": "down", "x": 1, "xanchor": "right", "y": 1.01, "yanchor": "bottom"}]


def premium_html(rep: PremiumReport, sort: str = "premium") -> str:
    go = _plotly()
    toks = rep.tokenizers
    order = rep.order("premium")  # worst first for the plots
    langs = [rep.langs[i] for i in order]
    parts: list[str] = []
    mode = "per line" if rep.mode == "lines" else "joined text per language (Petrov et al. 2023)"
    parts.append(
        f"<p class='meta'>Corpus <b>{html.escape(rep.corpus)}</b> ({html.escape('+'.join(rep.splits))}, "
        f"{rep.n_lines} lines per language, {len(rep.langs)} languages) · reference <b>{html.escape(rep.ref)}</b>"
        f" · mode: {mode}"
        + (f" · {rep.bootstrap} bootstrap resamples, {rep.ci:.0%} CI" if rep.mode == "lines" else "")
        + f" · computed in {rep.timings.get('total', 0):.1f} s</p>"
    )
    parts.append("<h2>Definitions</h2>" + _defs(_premium.DEFINITIONS))
    summary_rows = []
    for t in toks:
        p = np.delete(t.premium, rep.ref_index) if len(rep.langs) > 1 else t.premium
        worst = int(np.argmax(t.premium))
        summary_rows.append(
            [
                t.name,
                t.backend,
                _fmt(t.vocab_size),
                _fmt(int(t.ctc[rep.ref_index])),
                _fmt(float(np.median(p))),
                _fmt(float(p.max())),
                rep.langs[worst],
                "" if t.price is None else f"{t.price:g}",
            ]
        )
    parts.append(
        "<h2>Tokenizers</h2>"
        + _html_table(
            ["tokenizer", "backend", "|V|", f"CTC {rep.ref}", "median π", "max π", "worst language", "price / 1M"],
            summary_rows,
        )
    )
    # heatmap
    z = np.array([[t.premium[i] for t in toks] for i in order])
    hover = [
        [f"{rep.langs[i]} · {t.name}<br>π = {t.premium[i]:.3f}<br>CTC = {int(t.ctc[i]):,}" for t in toks] for i in order
    ]
    heat = go.Figure(
        go.Heatmap(
            z=np.log2(np.maximum(z, 1e-9)),
            x=[t.name for t in toks],
            y=langs,
            text=np.round(z, 2),
            texttemplate="%{text}" if len(toks) * len(langs) <= 4000 else None,
            hovertext=hover,
            hoverinfo="text",
            colorscale="RdYlBu_r",
            zmid=0,
            colorbar={"title": "log2 π"},
        )
    )
    heat.update_layout(
        height=max(360, 16 * len(langs) + 140),
        margin={"l": 110, "r": 20, "t": 40, "b": 40},
        yaxis={"autorange": "reversed", "dtick": 1, "tickfont": {"size": 10}},
        xaxis={"side": "top"},
        title="Premium π (colour: log2 π; languages sorted by the first tokenizer's premium)",
    )
    parts.append("<h2>Languages × tokenizers</h2>" + _fig_html(heat, "heatmap"))
    # sorted premium bars, one per tokenizer (dropdown)
    bars = go.Figure()
    comp = rep.compressors[0] if rep.compressors else None
    for k, t in enumerate(toks):
        o = sorted(range(len(rep.langs)), key=lambda i, t=t: -t.premium[i])
        err = None
        if t.ci_low is not None:
            err = {
                "type": "data",
                "symmetric": False,
                "array": [t.ci_high[i] - t.premium[i] for i in o],  # type: ignore[index]
                "arrayminus": [t.premium[i] - t.ci_low[i] for i in o],  # type: ignore[index]
                "thickness": 1,
                "width": 1,
            }
        bars.add_trace(
            go.Bar(
                x=[rep.langs[i] for i in o],
                y=[t.premium[i] for i in o],
                error_y=err,
                name=f"{t.name} π",
                visible=k == 0,
                marker_color="#4a6fd1",
            )
        )
        ref_line = rep.compressor_premium(comp) if comp else rep.byte_premium
        bars.add_trace(
            go.Scatter(
                x=[rep.langs[i] for i in o],
                y=[ref_line[i] for i in o],
                mode="markers",
                marker={"size": 4, "color": "#d1644a"},
                name=f"{comp} premium" if comp else "byte premium",
                visible=k == 0,
            )
        )
    bars.update_layout(
        updatemenus=_dropdown([t.name for t in toks], per=2),
        height=520,
        margin={"l": 50, "r": 20, "t": 70, "b": 150},
        xaxis={"tickfont": {"size": 8}, "tickangle": -90},
        yaxis={"title": "premium π", "type": "log"},
        title="Sorted premiums (bars, with CI) and the language's own "
        + ("compressor" if comp else "byte")
        + " premium (dots)",
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.32, "yanchor": "top"},
        shapes=[{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1, "line": {"dash": "dot"}}],
    )
    parts.append("<h2>Sorted premiums</h2>" + _fig_html(bars, "bars"))
    # box plots of per-sentence ratios (precomputed quartiles and whiskers)
    if toks and toks[0].ratio_median is not None:
        box = go.Figure()
        for k, t in enumerate(toks):
            o = sorted(range(len(rep.langs)), key=lambda i, t=t: -t.ratio_median[i])  # type: ignore[index]
            box.add_trace(
                go.Box(
                    y=[rep.langs[i] for i in o],
                    q1=[t.ratio_q1[i] for i in o],  # type: ignore[index]
                    median=[t.ratio_median[i] for i in o],  # type: ignore[index]
                    q3=[t.ratio_q3[i] for i in o],  # type: ignore[index]
                    lowerfence=[t.ratio_lo[i] for i in o],  # type: ignore[index]
                    upperfence=[t.ratio_hi[i] for i in o],  # type: ignore[index]
                    orientation="h",
                    name=t.name,
                    visible=k == 0,
                    marker_color="#4a6fd1",
                    line={"width": 1},
                )
            )
        box.update_layout(
            updatemenus=_dropdown([t.name for t in toks]),
            height=max(400, 14 * len(rep.langs) + 160),
            margin={"l": 110, "r": 20, "t": 70, "b": 40},
            xaxis={"title": "per-sentence ratio r_i = |T(L)| / |T(ref)|", "type": "log"},
            yaxis={"autorange": "reversed", "dtick": 1, "tickfont": {"size": 10}},
            title="Per-sentence ratios: quartiles and 1.5·IQR whiskers (sorted by median)",
            showlegend=False,
            shapes=[{"type": "line", "yref": "paper", "y0": 0, "y1": 1, "x0": 1, "x1": 1, "line": {"dash": "dot"}}],
        )
        parts.append("<h2>Per-sentence ratios</h2>" + _fig_html(box, "boxes"))
    else:
        parts.append(
            "<h2>Per-sentence ratios</h2><p>Not available in joined mode (one text per language, no sentences).</p>"
        )
    # table
    header = ["language", "bytes×"] + [f"{c}×" for c in rep.compressors]
    for t in toks:
        header.append(f"{t.name} CTC")
        header.append(f"{t.name} π" + (" [CI]" if t.ci_low is not None else ""))
        if t.ratio_median is not None:
            header.append(f"{t.name} median r [IQR]")
        if t.price is not None:
            header.append(f"{t.name} cost")
    rows = []
    bp = rep.byte_premium
    cps = [rep.compressor_premium(c) for c in rep.compressors]
    for i in rep.order(sort):
        r = [rep.langs[i], _fmt(bp[i])] + [_fmt(c[i]) for c in cps]
        for t in toks:
            r.append(_fmt(int(t.ctc[i])))
            r.append(_premium_cell(t, i))
            if t.ratio_median is not None:
                r.append(f"{t.ratio_median[i]:.2f} [{t.ratio_q1[i]:.2f}–{t.ratio_q3[i]:.2f}]")  # type: ignore[index]
            if t.price is not None:
                r.append(f"{t.cost()[i]:.4f}")  # type: ignore[index]
        rows.append(r)
    parts.append("<h2>All languages</h2><div class='scroll'>" + _html_table(header, rows) + "</div>")
    return _page(f"Token premiums vs {rep.ref} on {Path(rep.corpus).name}", "\n".join(parts))


def render_premium(rep: PremiumReport, fmt: str, sort: str = "lang") -> str:
    if fmt == "md":
        return premium_markdown(rep, sort)
    if fmt == "csv":
        return _csv(rep.rows(sort))
    if fmt == "json":
        return to_json(rep.to_dict(sort))
    if fmt == "html":
        return premium_html(rep, sort)
    if fmt == "table":
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=200, force_terminal=False).print(premium_table(rep, sort))
        return buf.getvalue()
    raise AnalysisError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")


# ================================================================================================================
# analyze

_ROWS: list[tuple[str, str, int]] = [
    ("tokens", "tokens", 0),
    ("bytes_per_token", "bytes / token", 3),
    ("chars_per_token", "chars / token", 3),
    ("tokens_per_word", "tokens / word (running text)", 3),
    ("fertility", "fertility (words alone)", 3),
    ("continued_words", "continued words", 3),
    ("single_token_words", "single-token words", 3),
    ("types", "types used", 0),
    ("vocab_used", "vocabulary used (types / |V|)", 4),
    ("shannon_entropy", "H_1 Shannon (bits)", 4),
    ("shannon_efficiency", "Shannon efficiency", 4),
    ("renyi_entropy", "Rényi entropy H_α", 4),
    ("renyi_efficiency", "Rényi efficiency", 4),
    ("capacity_utilisation", "capacity utilisation H_1/log2|V|", 4),
    ("bpb_fixed", "bits/byte fixed-length", 3),
    ("bpb_order0", "bits/byte order-0", 3),
]


def _analysis_rows(rep: AnalysisReport) -> list[tuple[str, list[str]]]:
    toks = rep.tokenizers
    rows: list[tuple[str, list[str]]] = [
        ("backend", [t.backend for t in toks]),
        ("|V|", [_fmt(t.vocab_size) for t in toks]),
    ]
    for key, label, nd in _ROWS:
        if key == "renyi_entropy":
            label = f"Rényi entropy H_{rep.alpha:g}"
        rows.append((label, [_fmt(t.values[key], nd) if nd else _fmt(int(t.values[key])) for t in toks]))
    for k in range(rep.kmax):
        rows.append(
            (
                f"H_{k + 1} plug-in / held-out",
                [f"{_fmt(t.values['H_plugin'][k], 3)} / {_fmt(t.values['H_heldout'][k], 3)}" for t in toks],
            )
        )
    rows.append(
        (
            f"bits/byte order-{rep.kmax - 1} plug-in / held-out",
            [
                f"{_fmt(t.values['bpb_order_k_plugin'][-1], 3)} / {_fmt(t.values['bpb_order_k_heldout'][-1], 3)}"
                for t in toks
            ],
        )
    )
    for c in rep.raw_compressed:
        rows.append(
            (
                f"{c} bits/byte: text / ids",
                [
                    f"{_fmt(t.values['raw_compressed_bpb'][c], 3)} / {_fmt(t.values['ids_compressed_bpb'][c], 3)}"
                    for t in toks
                ],
            )
        )
    rows.extend(_morph_rows(rep))
    return rows


def _morph_rows(rep: AnalysisReport) -> list[tuple[str, list[str]]]:
    """Rows of the morphology metrics (`toksmith analyze --morph-gold/--dictionary`), when present."""
    toks = rep.tokenizers
    rows: list[tuple[str, list[str]]] = []
    groups = [k for k in (toks[0].values if toks else {}) if k.startswith("morph:")]
    for g in groups:
        lab = g.split(":", 1)[1]
        v0 = toks[0].values[g]
        rows.append(
            (
                f"{lab}: boundary P / R / F1 ({v0['gold_surface_words']:,} surface words of "
                f"{v0['gold_entries']:,} entries)",
                [
                    f"{_fmt(t.values[g]['boundary_precision'], 3)} / {_fmt(t.values[g]['boundary_recall'], 3)} / "
                    f"{_fmt(t.values[g]['boundary_f1'], 3)}"
                    for t in toks
                ],
            )
        )
        rows.append(
            (
                f"{lab}: consistency P / R / F1 ({v0['consistency_words']:,} words"
                + (", sampled)" if v0["consistency_sampled"] else ")"),
                [
                    f"{_fmt(t.values[g]['consistency_precision'], 3)} / {_fmt(t.values[g]['consistency_recall'], 3)}"
                    f" / {_fmt(t.values[g]['consistency_f1'], 3)}"
                    for t in toks
                ],
            )
        )
        rows.append((f"{lab}: morph edit distance", [_fmt(t.values[g]["morph_edit_distance"], 3) for t in toks]))
        rows.append(
            (
                f"{lab}: tokens per word (gold morphs {_fmt(v0.get('gold_morphs_per_word'), 2)})",
                [_fmt(t.values[g]["morph_tokens_per_word"], 2) for t in toks],
            )
        )
    if toks and "dictionary" in toks[0].values:
        rows.append(
            (
                "dictionary share: occurrences (roots + affixes)",
                [
                    f"{_fmt(t.values['dictionary']['dict_occurrence_share'], 3)} "
                    f"({_fmt(t.values['dictionary']['dict_root_occurrence_share'], 3)} + "
                    f"{_fmt(t.values['dictionary']['dict_affix_occurrence_share'], 3)})"
                    for t in toks
                ],
            )
        )
        rows.append(
            (
                "dictionary share: types (roots + affixes)",
                [
                    f"{_fmt(t.values['dictionary']['dict_type_share'], 3)} "
                    f"({_fmt(t.values['dictionary']['dict_root_type_share'], 3)} + "
                    f"{_fmt(t.values['dictionary']['dict_affix_type_share'], 3)})"
                    for t in toks
                ],
            )
        )
    return rows


def analysis_table(rep: AnalysisReport) -> Any:
    from rich.table import Table

    t = Table(
        title=(
            f"Tokenizer analysis · {', '.join(rep.corpus) or 'corpus'} · {rep.segments:,} segments, "
            f"{rep.bytes:,} bytes, {rep.words:,} words"
        ),
        title_justify="left",
    )
    t.add_column("metric")
    for tok in rep.tokenizers:
        t.add_column(tok.name, justify="right")
    for label, vals in _analysis_rows(rep):
        t.add_row(label, *vals)
    return t


def analysis_markdown(rep: AnalysisReport) -> str:
    out = ["# Tokenizer analysis\n"]
    out.append(
        f"Corpus {', '.join(f'`{c}`' for c in rep.corpus) or '(given texts)'}: {rep.segments:,} segments, "
        f"{rep.bytes:,} bytes, {rep.chars:,} characters, {rep.words:,} words. Rényi α = {rep.alpha:g}; "
        f"efficiency vocabulary convention: {rep.vocab_convention}.\n"
    )
    out.append("## Definitions\n")
    out.extend(f"- **{k}**: {v}" for k, v in rep.definitions)
    out.append("\n## Metrics\n")
    out.append(
        _md_table(
            ["metric"] + [t.name for t in rep.tokenizers],
            [[label] + vals for label, vals in _analysis_rows(rep)],
        )
    )
    return "\n".join(out)


def _analysis_flat(rep: AnalysisReport) -> list[dict[str, Any]]:
    rows = []
    for t in rep.tokenizers:
        r: dict[str, Any] = {"tokenizer": t.name, "backend": t.backend, "vocab_size": t.vocab_size}
        for k, v in t.values.items():
            if isinstance(v, list):
                for j, x in enumerate(v):
                    r[f"{k}_{j + 1}"] = x
            elif isinstance(v, dict):
                for kk, x in v.items():
                    r[f"{k}_{kk}"] = x
            else:
                r[k] = v
        rows.append(r)
    return rows


def analysis_html(rep: AnalysisReport) -> str:
    go = _plotly()
    parts = [
        f"<p class='meta'>Corpus {html.escape(', '.join(rep.corpus) or '(given texts)')} · {rep.segments:,} segments"
        f" · {rep.bytes:,} bytes · {rep.words:,} words · Rényi α = {rep.alpha:g} · computed in "
        f"{rep.timings.get('total', 0):.1f} s</p>",
        "<h2>Definitions</h2>" + _defs(rep.definitions),
        "<h2>Metrics</h2>"
        + _html_table(["metric"] + [t.name for t in rep.tokenizers], [[lb] + v for lb, v in _analysis_rows(rep)]),
    ]
    ks = list(range(1, rep.kmax + 1))
    fig = go.Figure()
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880"]
    for j, t in enumerate(rep.tokenizers):
        color = palette[j % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=ks, y=t.values["H_plugin"], mode="lines+markers", name=f"{t.name} plug-in", line={"color": color}
            )
        )
        fig.add_trace(
            go.Scatter(
                x=ks,
                y=t.values["H_heldout"],
                mode="lines+markers",
                name=f"{t.name} held-out",
                line={"dash": "dash", "color": color},
            )
        )
    fig.update_layout(
        height=420,
        xaxis={"title": "k", "dtick": 1},
        yaxis={"title": "H_k (bits per token)"},
        title="Conditional entropy of the token stream",
    )
    parts.append("<h2>Conditional entropies</h2>" + _fig_html(fig, "hk"))
    bpb = go.Figure()
    names = [t.name for t in rep.tokenizers]
    series = [("fixed-length", "bpb_fixed"), ("order-0", "bpb_order0")]
    for label, key in series:
        bpb.add_trace(go.Bar(x=names, y=[t.values[key] for t in rep.tokenizers], name=label))
    bpb.add_trace(
        go.Bar(
            x=names,
            y=[t.values["bpb_order_k_heldout"][-1] for t in rep.tokenizers],
            name=f"order-{rep.kmax - 1} held-out",
        )
    )
    for c in rep.raw_compressed:
        bpb.add_trace(go.Bar(x=names, y=[t.values["ids_compressed_bpb"][c] for t in rep.tokenizers], name=f"{c} ids"))
        bpb.add_trace(go.Bar(x=names, y=[t.values["raw_compressed_bpb"][c] for t in rep.tokenizers], name=f"{c} text"))
    bpb.update_layout(
        barmode="group",
        height=420,
        yaxis={"title": "bits per byte of text"},
        title="Bits-per-byte bounds and compressors",
    )
    parts.append("<h2>Bits per byte</h2>" + _fig_html(bpb, "bpb"))
    return _page("Tokenizer analysis", "\n".join(parts))


def render_analysis(rep: AnalysisReport, fmt: str) -> str:
    if fmt == "md":
        return analysis_markdown(rep)
    if fmt == "csv":
        return _csv(_analysis_flat(rep))
    if fmt == "json":
        return to_json(rep.to_dict())
    if fmt == "html":
        return analysis_html(rep)
    if fmt == "table":
        from rich.console import Console

        buf = io.StringIO()
        Console(file=buf, width=200, force_terminal=False).print(analysis_table(rep))
        return buf.getvalue()
    raise AnalysisError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")


def format_from_path(path: Optional[str | Path], fmt: Optional[str]) -> str:
    """The output format: given, or from the output file's suffix, or `table`."""
    if fmt:
        if fmt not in FORMATS:
            raise AnalysisError(f"unknown format {fmt!r} ({', '.join(FORMATS)})")
        return fmt
    if path is not None:
        suf = Path(path).suffix.lower().lstrip(".")
        return {"md": "md", "markdown": "md", "csv": "csv", "json": "json", "html": "html", "htm": "html"}.get(
            suf, "table"
        )
    return "table"
