"""The report's figures: ``matplotlib.figure.Figure`` objects drawn with the Agg canvas (no pyplot,
no global backend), which the HTML report embeds as PNG and a notebook shows as the same PNG.

Without pyplot, IPython never learns that a figure is an image (matplotlib-inline registers its
formatter for ``Figure`` only when pyplot's inline backend is set up), so a bare ``Figure`` shows
as ``<Figure size 1000x320 with 1 Axes>``. :class:`RunbookFigure` says what it looks like itself
(``_repr_png_``): an ``image/png`` output wherever IPython shows it, in JupyterLab, in the
notebooks papermill executes, and in the HTML ``jupyter nbconvert`` exports from them.
"""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..reconcile import EXPLAINED, IN_FLIGHT, KINDS, UNEXPLAINED, Reconciliation
from .summary import TIMING_LABELS, _samples, _when, drain_rate

#: the resolution of a figure, in the report and in a notebook alike
DPI = 110


class RunbookFigure(Figure):
    """A figure that shows itself as a PNG image in IPython (``image/png``; ``text/plain`` stays
    matplotlib's ``<Figure size ...>``)."""

    def _repr_png_(self) -> bytes:
        return figure_png(self)


class Figures(tuple):
    """Figures shown one after another, each as its own ``image/png`` output (a notebook cell's
    value: ``result.figures()``)."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        for fig in self:
            display(fig)

    def __repr__(self) -> str:
        return f"<Figures: {', '.join(repr(f) for f in self) or 'none'}>"


CLASS_COLOURS = {UNEXPLAINED: "#cf222e", IN_FLIGHT: "#bf8700", EXPLAINED: "#0969da"}
_KIND_HATCH = {"missing": "", "extra": "//", "changed": ".."}


def rate_label(rate: float) -> str:
    """A rate as a person reads it in a title: whole numbers from 10 up, two figures below."""
    return f"{rate:,.0f}" if rate >= 10 else f"{rate:.2g}"


def _empty(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#57606a")
    ax.set_axis_off()
    return fig


def timeline_figure(state: dict[str, Any]) -> Figure:
    """The run on one time axis: T, R, capture start, restore call, ACTIVE, replay, drained, cutover.

    Shaded: the window ``[T, R)`` the restore reverts (rollback), the restore (RTO) and the
    catch-up (ACTIVE -> drained).
    """
    import matplotlib.dates as mdates

    fig = RunbookFigure(figsize=(10, 3.2), layout="constrained")
    timings = state.get("timings") or {}
    events: list[tuple[str, datetime, str]] = []
    for key, label, colour in (
        ("restore_time", "T restore point", "#8250df"),
        ("replay_from", "R replay start", "#0969da"),
        ("capture_start", "capture start", "#1a7f37"),
    ):
        when = _when(state.get(key))
        if when:
            events.append((label, when, colour))
    for key, label in TIMING_LABELS:
        when = _when(timings.get(key))
        if when:
            events.append((label, when, "#57606a"))
    if not events:
        return _empty(fig, "no times recorded yet")
    events.sort(key=lambda e: e[1])
    ax = fig.add_subplot()
    t_point, r_point = _when(state.get("restore_time")), _when(state.get("replay_from"))
    if t_point and r_point and r_point > t_point:
        ax.axvspan(t_point, r_point, color="#cf222e", alpha=0.12, label="[T, R) reverted on purpose")
    called, active, drained = (_when(timings.get(k)) for k in ("restore_called", "active", "drained"))
    if called and active:
        ax.axvspan(called, active, color="#8250df", alpha=0.12, label="restore (RTO)")
    if active and drained:
        ax.axvspan(active, drained, color="#1a7f37", alpha=0.12, label="catch-up")
    for i, (label, when, colour) in enumerate(events):
        height = 1 + (i % 4)
        ax.vlines(when, 0, height, color=colour, linewidth=1.2)
        ax.plot([when], [0], marker="o", color=colour)
        ax.annotate(label, (when, height), xytext=(3, 0), textcoords="offset points", fontsize=8, va="center")
    ax.set_ylim(-0.5, 5.5)
    ax.get_yaxis().set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    first, last = events[0][1], events[-1][1]
    pad = max((last - first) * 0.08, (last - first).__class__(seconds=5))
    ax.set_xlim(first - pad, last + pad * 2)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title("Timeline (UTC)", fontsize=10, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def drain_figure(state: dict[str, Any]) -> Figure:
    """The buffer draining: queue depth, messages in flight and DLQ depth over time."""
    import matplotlib.dates as mdates

    fig = RunbookFigure(figsize=(10, 3.2), layout="constrained")
    samples = _samples(state)
    if not samples:
        return _empty(fig, "no buffer samples recorded")
    ax = fig.add_subplot()
    times = [t for t, _ in samples]
    for field, label, colour in (
        ("depth", "queue depth", "#0969da"),
        ("in_flight", "in flight", "#bf8700"),
        ("dlq", "DLQ", "#cf222e"),
    ):
        values = [s.get(field) or 0 for _, s in samples]
        if field == "depth" or any(values):
            ax.plot(times, values, label=label, color=colour, marker="." if len(times) < 60 else None)
    ax.set_ylim(bottom=0, top=max(1, ax.get_ylim()[1]) * 1.1)
    ax.margins(x=0.04)
    timings = state.get("timings") or {}
    for key, label in (("replay_enabled", "replay on"), ("drained", "drained")):
        when = _when(timings.get(key))
        if when:
            ax.axvline(when, color="#57606a", linestyle="--", linewidth=1)
            ax.annotate(
                label, (when, 1), xycoords=("data", "axes fraction"), xytext=(-3, -10),
                textcoords="offset points", fontsize=8, ha="right",
            )
    rate = drain_rate(state)
    title = "Buffer drain" + (f" (net {rate_label(rate)} messages/s)" if rate else "")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("messages")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def differences_figure(reconciliation: Reconciliation) -> Figure:
    """Differences by class (unexplained, in flight, explained), stacked by kind."""
    fig = RunbookFigure(figsize=(6, 3), layout="constrained")
    table = reconciliation.counts_by_class_and_kind()
    ax = fig.add_subplot()
    order = (UNEXPLAINED, IN_FLIGHT, EXPLAINED)
    labels = [c.replace("_", " ") for c in order]
    bottoms = [0] * len(order)
    for kind in KINDS:
        values = [table[c][kind] for c in order]
        ax.bar(
            labels,
            values,
            bottom=bottoms,
            color=[CLASS_COLOURS[c] for c in order],
            hatch=_KIND_HATCH[kind],
            edgecolor="white",
            label=kind,
        )
        bottoms = [b + v for b, v in zip(bottoms, values)]
    for i, total in enumerate(bottoms):
        ax.annotate(str(total), (i, total), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=9)
    ax.set_ylim(0, max(bottoms + [1]) * 1.2)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("keys")
    ax.set_title("Differences by class (hatching: kind)", fontsize=10, loc="left")
    handles = [Patch(facecolor="#8c959f", edgecolor="white", hatch=_KIND_HATCH[k], label=k) for k in KINDS]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def figure_png(fig: Figure, dpi: int = DPI) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def figure_png_base64(fig: Figure, dpi: int = DPI) -> str:
    return base64.b64encode(figure_png(fig, dpi)).decode("ascii")
