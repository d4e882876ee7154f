"""The cost report as one self-contained HTML file: matplotlib charts inlined as SVG, no CDN.

Imported only by `provisioner cost-report --html`: matplotlib is heavy (~170 MB with numpy,
pillow, fonttools) and the rest of the package never needs it, so it is the `charts` extra (#21).
"""

from __future__ import annotations

import html
import io
from typing import Any

PROVIDER_COLOURS = {"AWS": "#ff9900", "AZURE": "#0078d4", "GCP": "#34a853"}
OTHER_COLOURS = ("#6b7280", "#10b981", "#a855f7", "#ef4444")
CHARTS_HINT = "pip install 'provisioner[charts]'"


def require_charts() -> None:
    """Before any work: the charts need matplotlib, an extra; say in one line what to install."""
    from provisioner.rules.errors import ValidationError

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ValidationError(
            "html",
            f"--html draws its charts with matplotlib, which is not installed: {CHARTS_HINT}",
        ) from None


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _svg(fig: Any) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "provisioner"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: inlined in HTML


def usd_labels(values: list[float]) -> list[str]:
    """Tick labels in USD with the fewest decimals (2 to 6) that keep every label distinct, so
    a cheap week's axis doesn't read $0.00, $0.00, $0.01, $0.01."""
    for decimals in range(2, 7):  # exact if possible (ticks are round numbers)
        if all(abs(round(v, decimals) - v) < 1e-9 for v in values):
            return [f"${v:,.{decimals}f}" for v in values]
    for decimals in range(2, 7):
        labels = [f"${v:,.{decimals}f}" for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def _usd_formatter() -> Any:
    from matplotlib.ticker import Formatter

    class UsdFormatter(Formatter):  # type: ignore[misc,unused-ignore]
        def __call__(self, x: float, pos: int | None = None) -> str:
            return usd_labels([x])[0]

        def format_ticks(self, values: Any) -> list[str]:
            return usd_labels([float(v) for v in values])

    return UsdFormatter()


def _usd_axis(ax: Any) -> None:
    ax.yaxis.set_major_formatter(_usd_formatter())


def daily_chart(report: dict[str, Any]) -> str:
    """Spend per day, stacked by provider."""
    days = report["daily"]
    labels = [d["day"][5:] for d in days]  # MM-DD
    fig = _figure(10, 3.8)
    ax = fig.add_subplot()
    bottom = [0.0] * len(days)
    for index, provider in enumerate(report["providers"]):
        values = [d["byProvider"].get(provider, 0.0) for d in days]
        colour = PROVIDER_COLOURS.get(provider, OTHER_COLOURS[index % len(OTHER_COLOURS)])
        ax.bar(range(len(days)), values, bottom=bottom, label=provider, color=colour, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title(f"Spend per day by provider (USD), {report['from']} to {report['to']}", loc="left")
    step = max(1, len(days) // 15)
    ax.set_xticks(range(0, len(days), step), labels[::step], rotation=45, ha="right")
    ax.set_xlim(-0.6, len(days) - 0.4)
    _usd_axis(ax)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if report["providers"]:
        ax.legend(
            frameon=False, ncols=len(report["providers"]), loc="lower right",
            bbox_to_anchor=(1.0, 1.0),
        )  # fmt: skip
    else:
        ax.set_ylim(0, 1)
        ax.text(
            0.5, 0.5, "no spend in this window", transform=ax.transAxes,
            ha="center", va="center", color="#6b7280", fontsize=13,
        )  # fmt: skip
    return _svg(fig)


def spenders_chart(report: dict[str, Any]) -> str:
    """Top spenders, largest first, compute and storage side by side in one bar."""
    spenders = report["topSpenders"]
    fig = _figure(10, 0.45 * max(len(spenders), 3) + 1.2)
    ax = fig.add_subplot()
    names = [s["userId"] for s in spenders][::-1]
    compute = [s["compute"] for s in spenders][::-1]
    storage = [s["storage"] for s in spenders][::-1]
    ax.barh(names, compute, color="#4f46e5", label="compute")
    ax.barh(names, storage, left=compute, color="#14b8a6", label="storage (disk)")
    for y, (c, s) in enumerate(zip(compute, storage, strict=True)):
        ax.text(c + s, y, f"  ${c + s:,.2f}", va="center", fontsize=9)
    ax.set_title("Top spenders (USD)", loc="left")
    ax.xaxis.set_major_formatter(_usd_formatter())
    ax.margins(x=0.15)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if spenders:
        # Above the plot, right-aligned: inside it would sit on a single spender's full bar.
        ax.legend(frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, fontsize=9)
    else:
        ax.set_yticks([])
        ax.set_xlim(0, 1)
        ax.text(
            0.5, 0.5, "no spend in this window", transform=ax.transAxes,
            ha="center", va="center", color="#6b7280", fontsize=13,
        )  # fmt: skip
    return _svg(fig)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _money(value: float) -> str:
    return f"${value:,.4f}" if 0 < value < 1 else f"${value:,.2f}"


def _table(report: dict[str, Any]) -> str:
    by = html.escape(report["by"])
    rows = "".join(
        f"<tr><td>{html.escape(str(r['key']))}</td><td class=n>{r['instances']}</td>"
        f"<td class=n>{_money(r['compute'])}</td><td class=n>{_money(r['storage'])}</td>"
        f"<td class=n><b>{_money(r['total'])}</b></td></tr>"
        for r in report["rows"]
    )
    t = report["total"]
    return (
        f"<table><thead><tr><th>{by}</th><th class=n>instances</th><th class=n>compute</th>"
        f"<th class=n>storage</th><th class=n>total</th></tr></thead><tbody>"
        f"{rows or '<tr><td colspan=5>no instances in this window</td></tr>'}</tbody>"
        f"<tfoot><tr><th>all</th><th class=n>{t['instances']}</th>"
        f"<th class=n>{_money(t['compute'])}</th><th class=n>{_money(t['storage'])}</th>"
        f"<th class=n>{_money(t['total'])}</th></tr></tfoot></table>"
    )


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #111827;
       margin: 2rem auto; max-width: 1040px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } .sub { color: #4b5563; margin-top: 0; }
.total { font-size: 2rem; font-weight: 700; margin: .8rem 0 0; }
figure { margin: 1.5rem 0; } svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { padding: .35rem .6rem; border-bottom: 1px solid #e5e7eb; text-align: left; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot th { border-top: 2px solid #111827; } .note { color: #6b7280; font-size: .85rem; }
"""


def render_html(report: dict[str, Any], extra: str = "") -> str:
    """`extra`: more HTML after the charts (the pools' demand charts, #23)."""
    scope = f" for {html.escape(report['userId'])}" if report.get("userId") else ""
    total = report["total"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>provisioner cost report {report["from"]} to {report["to"]}</title>
<style>{STYLE}</style></head>
<body>
<h1>GPU instance spend{scope}</h1>
<p class="sub">{report["from"]} to {report["to"]} ({report["days"]} UTC days),
generated at {report["generatedAt"]}; list prices as of {report["pricesAsOf"] or "-"}</p>
<p class="total">{_money(total["total"])}</p>
<p class="sub">{_count(total["instances"], "instance")}: compute {_money(total["compute"])},
storage {_money(total["storage"])}</p>
<figure>{daily_chart(report)}</figure>
<figure>{spenders_chart(report)}</figure>
{extra}<h2>By {html.escape(report["by"])}</h2>
{_table(report)}
<p class="note">{html.escape(report["definitions"])}</p>
</body></html>
"""
