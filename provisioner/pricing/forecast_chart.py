"""The cost report's pool chart (#23): each pool's demand vs its warm capacity per hour of the
week, drawn with matplotlib (the `charts` extra) like the rest of cost-report --html."""

from __future__ import annotations

import html
from typing import Any

from provisioner.pricing.cost_report_html import _figure, _svg

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def pool_chart(pool: dict[str, Any]) -> str:
    """`pool`: {"pool", "weeks", "demand": [168 mean peaks], "warm": [168], "warmSource"}."""
    fig = _figure(10, 3.2)
    ax = fig.add_subplot()
    hours = list(range(169))
    ax.step(hours, [*pool["demand"], pool["demand"][-1]], where="post", color="#6b7280",
            label="demand: mean peak concurrent jobs")  # fmt: skip
    label = "warm minimum: " + ("the forecast schedule" if pool["warmSource"] == "schedule"
                                else "the pool's --min (schedule off)")  # fmt: skip
    ax.step(hours, [*pool["warm"], pool["warm"][-1]], where="post", color="#dc2626", label=label)
    ax.set_xticks(range(0, 168, 24), DAYS)
    ax.set_xlim(0, 168)
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"Pool {pool['pool']}: demand vs warm capacity per hour of the week (UTC), "
        f"last {pool['weeks']} weeks",
        loc="left",
    )
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, loc="upper right")
    return _svg(fig)


def pool_figures(pools: list[dict[str, Any]]) -> str:
    if not pools:
        return ""
    figures = "".join(f"<figure>{pool_chart(p)}</figure>" for p in pools)
    names = ", ".join(html.escape(p["pool"]) for p in pools)
    return f"<h2>Pools: demand vs warm capacity ({names})</h2>\n{figures}\n"
