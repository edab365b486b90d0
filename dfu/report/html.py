"""HTML building blocks of report.html: escaping, tables, figures, the page shell.

No template engine: a report is a handful of sections, each a short function in
``dfu.report.sections`` returning an HTML string built from these helpers.
"""

from __future__ import annotations

from html import escape

from dfu.combos import baseline_modality, is_baseline
from dfu.evaluation.ensemble import ENSEMBLE

PLAIN = {
    "metadata": "clinical data",
    "depth_rgb": "depth photo",
    "depth_map": "depth map",
    "thermal_rgb": "thermal photo",
    "thermal_map": "thermal map",
}

CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
       max-width: 1250px; margin: 24px auto; padding: 0 24px; color: #222; line-height: 1.45; }
h1 { font-size: 26px; margin-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #ddd; }
.meta { color: #666; font-size: 13px; }
.takeaway { background: #f3f8f3; border-left: 6px solid #1b7837; padding: 12px 20px;
            font-size: 16px; }
.takeaway.warn { background: #fff6e6; border-left-color: #e08a00; }
table { border-collapse: collapse; margin: 12px 0; font-size: 13.5px; }
th, td { border: 1px solid #d8d8d8; padding: 5px 9px; text-align: right; vertical-align: top; }
th { background: #f0f2f5; text-align: center; font-weight: 600; }
td.text, th.text { text-align: left; }
tr.best td { background: #eaf5ea; font-weight: 600; }
tr.reference td { background: #eaf1f9; }
td.verdict { text-align: center; }
tr.flag td { background: #fde8e6; } tr.flag td.verdict { color: #b2182b; font-weight: 700; }
tr.muted td { color: #888; }
tr.baseline td { color: #777; background: #f7f7f7; font-style: italic; }
.tag { font-size: 11px; color: #666; border: 1px solid #bbb; border-radius: 3px; padding: 0 4px; }
.bad { color: #b2182b; font-weight: 700; }
.ci { color: #555; font-size: 12px; white-space: nowrap; }
.name { color: #777; font-family: monospace; font-size: 11.5px; }
.note { color: #555; font-size: 13px; max-width: 1000px; }
code, pre { background: #f5f5f5; border-radius: 3px; }
pre { padding: 10px; overflow-x: auto; font-size: 12.5px; }
.cmd { font-family: monospace; background: #272822; color: #f8f8f2; padding: 8px 12px;
       border-radius: 4px; display: inline-block; }
img { max-width: 100%; margin: 8px 0; }
.figures { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: flex-start; }
.figures img { max-width: 48%; }
.nowrap { white-space: nowrap; }
.takeaway ul { margin: 6px 0 0 0; padding-left: 22px; } .takeaway li { margin: 4px 0; }
nav a { margin-right: 14px; font-size: 14px; }
dl.verdicts dt { font-weight: 700; float: left; width: 120px; clear: left; }
dl.verdicts dd { margin-left: 130px; margin-bottom: 4px; }
"""


KAPPA_WORDS = (
    (0.8, "almost perfect"),
    (0.6, "substantial"),
    (0.4, "moderate"),
    (0.2, "fair"),
    (0.0, "slight"),
)


def kappa_words(kappa: float) -> str:
    """Landis & Koch's labels, the scale clinicians usually read kappa with."""
    return next((w for t, w in KAPPA_WORDS if kappa > t), "no better than chance")


def plain_name(combo: str) -> str:
    """'metadata+thermal_map' -> 'clinical data + thermal map'."""
    if combo == ENSEMBLE:
        return "average of all models using clinical data"
    if is_baseline(combo):
        modality = baseline_modality(combo)
        return f"linear model on the {PLAIN.get(modality, modality)} pixels"
    if combo.startswith("pre-training "):
        return f"{PLAIN.get(combo.split(' ', 1)[1], combo)} branch, pre-trained alone"
    return " + ".join(PLAIN.get(m, m) for m in combo.split("+"))


def named(combo: str) -> str:
    """'thermal_map' -> 'thermal map (thermal_map)': the plain name, then the code a user types."""
    return f"{plain_name(combo)} ({combo})"


def combo_cell(combo: str) -> str:
    """Plain-language name with the machine name underneath (for configs and file names)."""
    return f"{escape(plain_name(combo))}<br><span class='name'>{escape(combo)}</span>"


def number(value, digits: int = 2, sign: bool = False) -> str:
    """Fixed decimals; more where rounding would print a misleading -0.00 or +0.00 for a
    value just off zero (e.g. an interval's end), exactly 0 below 0.0001."""
    if value is None or value != value:
        return "–"
    shown = digits
    while round(value, shown) == 0 and shown < 4:
        shown += 1
    if round(value, shown) == 0:
        value, shown = 0.0, digits
    return f"{value:{'+' if sign else ''}.{shown}f}"


def signed(value, digits: int = 2) -> str:
    return number(value, digits, sign=True)


def with_ci(value, low, high, digits: int = 2, sign: bool = False) -> str:
    fmt = signed if sign else number
    return (
        f"{fmt(value, digits)} <span class='ci'>[{fmt(low, digits)} to {fmt(high, digits)}]</span>"
    )


def nowrap(html: str) -> str:
    return f"<span class='nowrap'>{html}</span>"


def percent(value) -> str:
    return "–" if value is None or value != value else f"{100 * value:.0f}%"


def table(
    headers: list[str],
    rows: list[list[str]],
    classes: list[str] | None = None,
    text_columns: int | set[int] = 1,
    table_id: str = "",
) -> str:
    """An HTML table; cells are HTML already (escape text with ``esc``). Text columns (the
    first ``text_columns``, or those whose index is in the set) are left-aligned."""
    if isinstance(text_columns, int):
        text_columns = set(range(text_columns))
    head = "".join(
        f"<th class='text'>{h}</th>" if i in text_columns else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for r, row in enumerate(rows):
        cls = f" class='{classes[r]}'" if classes and classes[r] else ""
        cells = "".join(_cell(i, c, text_columns, headers) for i, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    ident = f" id='{table_id}'" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(i: int, content: str, text_columns: set[int], headers: list[str]) -> str:
    classes = ["text"] if i in text_columns else []
    if headers[i].lower().startswith("verdict") or headers[i].startswith("Training health"):
        classes.append("verdict")
    cls = f" class='{' '.join(classes)}'" if classes else ""
    return f"<td{cls}>{content}</td>"


def esc(value) -> str:
    return escape(str(value))


def image(b64: str, alt: str) -> str:
    return f"<img alt='{escape(alt)}' src='data:image/png;base64,{b64}'>"


def section(anchor: str, title: str, *parts: str) -> str:
    return f"<section id='{anchor}'><h2>{escape(title)}</h2>{''.join(parts)}</section>"


def page(title: str, meta: str, nav: list[tuple[str, str]], *sections: str) -> str:
    links = "".join(f"<a href='#{a}'>{escape(t)}</a>" for a, t in nav)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1><p class='meta'>{meta}</p><nav>{links}</nav>"
        f"{''.join(sections)}</body></html>"
    )
