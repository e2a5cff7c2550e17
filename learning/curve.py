"""A problem's learning curve: `perf` by rank, one line per algo, as a small inline SVG.

Rendered on the server with no library and no script, so the admin page works offline and
shows at a glance which algo learns.
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import groupby

from learning.models import Learnuplet
from learning.services import leaderboard
from problems.models import Problem
from tasks.models import Status

# Tableau 10: distinguishable, and readable by most colour-blind people.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class Series:
    algo: uuid.UUID
    name: str
    points: list[tuple[int, float]]  # (rank, perf), by rank


def curve_of(problem: Problem) -> list[Series]:
    """The done learnuplets' perf by rank, per algo in the leaderboard's order (best first),
    so that the legend reads as the leaderboard beside it does (three queries)."""
    place = {row.algo: i for i, row in enumerate(leaderboard(problem))}
    rows = (
        Learnuplet.objects.filter(problem=problem, status=Status.DONE)
        .order_by("algo_id", "rank")
        .values_list("algo_id", "algo__name", "rank", "perf")
    )
    series = [
        Series(algo=algo, name=name, points=[(rank, perf) for _, _, rank, perf in group if perf is not None])  # done: has perf
        for (algo, name), group in groupby(rows, key=lambda r: (r[0], r[1]))
    ]
    return sorted(series, key=lambda s: place.get(s.algo, len(place)))


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round-numbered ticks covering [low, high]."""
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(math.ceil((high - first) / step) + 1)]


def _thin(points: list[tuple[int, float]], limit: int) -> list[tuple[int, float]]:
    """At most `limit` points, evenly spaced, keeping the last one."""
    if len(points) <= limit:
        return points
    stride = math.ceil(len(points) / limit)
    kept = points[::stride]
    return kept if kept[-1] == points[-1] else [*kept, points[-1]]


def render_svg(
    series: Sequence[Series],
    *,
    higher_is_better: bool = True,
    width: int = 720,
    height: int = 300,
    max_points: int = 500,
) -> str:
    """The SVG markup; every text from the database is escaped."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40" role="img">'
                '<text x="8" y="24" font-size="13" fill="#666">No learnuplet is done yet.</text></svg>')
    left, right, top, bottom, legend = 60, 16, 16, 40, 180
    plot_w, plot_h = width - left - right - legend, height - top - bottom
    # Data and ticks are drawn this far inside the plot's frame, so that a point at the
    # ends of an axis (rank 0, the best and worst perf, a curve of one point) shows whole
    # instead of half hidden under the frame.
    inset = 10
    perfs = [p for s in drawn for _, p in s.points]
    ranks = [r for s in drawn for r, _ in s.points]
    low, high = min(perfs), max(perfs)
    if low == high:
        pad = abs(low) * 0.1 or 0.5
        low, high = low - pad, high + pad
    y_ticks = _ticks(low, high)
    low, high = min(low, y_ticks[0]), max(high, y_ticks[-1])
    max_rank = max(max(ranks), 1)
    x_ticks = [t for t in _ticks(0, max_rank) if t == int(t) and t <= max_rank]

    def x(rank: float) -> float:
        return left + inset + (plot_w - 2 * inset) * rank / max_rank

    def y(perf: float) -> float:
        return top + inset + (plot_h - 2 * inset) * (high - perf) / (high - low)

    out = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">'),
        "<title>Learning curve: perf by rank, one line per algo</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#ccc"/>',
    ]
    for t in y_ticks:
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" fill="#444">{t:.4g}</text>')
    for t in x_ticks:
        out.append(f'<text x="{x(t):.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#444">{int(t)}</text>')
    direction = "higher is better" if higher_is_better else "lower is better"
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="#222">rank</text>')
    out.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" '
               f'fill="#222">perf ({direction})</text>')
    legend_items = []
    for i, s in enumerate(drawn):
        colour = PALETTE[i % len(PALETTE)]
        points = _thin(s.points, max_points)
        name = escape(s.name)
        coords = " ".join(f"{x(r):.1f},{y(p):.1f}" for r, p in points)
        out.append(f'<g><title>{name} ({s.algo})</title>'
                   f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if len(points) <= 60:
            out.extend(f'<circle cx="{x(r):.1f}" cy="{y(p):.1f}" r="2.5" fill="{colour}"/>' for r, p in points)
        out.append("</g>")
        ly = top + 8 + 16 * i
        if ly < height - 8:
            lx = left + plot_w + 12
            legend_items.append(
                f'<line x1="{lx}" x2="{lx + 16}" y1="{ly}" y2="{ly}" stroke="{colour}" stroke-width="3"/>'
                f'<text x="{lx + 22}" y="{ly + 4}" fill="#222">{escape(s.name[:24])}</text>'
            )
    out.append(f'<g class="legend">{"".join(legend_items)}</g></svg>')
    return "".join(out)
