"""Cutover's write-unavailability window in the report: ``summary.json``'s ``downtime`` and the
report's "Cutover" section, from the run state's :class:`~runbook_lib.run_state.Downtime` and
:class:`~runbook_lib.run_state.Switch`.

The window is measured in step 05, after step 04 wrote the report: :func:`add_downtime_to_report`
adds it to the files 04 wrote (``summary.json`` gains ``downtime``; ``report.html`` gains its section,
rendered by the same template a report made after cutover renders it with), and changes nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .. import run_state, times
from .text import clock


def seconds_text(seconds: float | None) -> str | None:
    """A part of the window to a tenth of a second: ``6.3 s`` (cutover's parts are seconds long)."""
    return None if seconds is None else f"{seconds:.1f} s"

#: how each part of the window is labelled (run_state.DOWNTIME_PARTS order)
PART_LABELS = {
    "quiet_wait": "quiet-period wait (last write seen on the source \u2192 quiet confirmed)",
    "drain": "drain (\u2192 buffer drained, replay off)",
    "settings": "settings (\u2192 the target's settings checked)",
    "switch": "switch (\u2192 PutParameter answered)",
}
MARK_OPEN, MARK_CLOSE = "<!-- downtime -->", "<!-- /downtime -->"


def _downtime(value: Any) -> run_state.Downtime | None:
    if value is None or isinstance(value, run_state.Downtime):
        return value
    return run_state.Downtime.from_json(value)


def _switch(value: Any) -> run_state.Switch | None:
    if value is None or isinstance(value, run_state.Switch):
        return value
    return run_state.Switch.from_json(value)


def downtime_summary(downtime: Any, switch: Any = None) -> dict[str, Any] | None:
    """``summary.json``'s ``downtime``: the window's start (and what it is), end, seconds and parts;
    the first write on the target; the switch (parameter, value, version, what it held before).
    None when cutover measured nothing."""
    d, sw = _downtime(downtime), _switch(switch)
    if d is None or d.start is None or d.end is None:
        return None
    out: dict[str, Any] = {
        "seconds": d.seconds,
        "from": times.iso_second(d.start),
        "from_kind": d.start_kind,
        "to": times.iso_second(d.end),
        "to_kind": "switch" if d.switched else "settings",
        "parts": d.parts(),
        "first_target_write": times.iso_second(d.first_target_write) if d.first_target_write else None,
        "until_first_target_write_seconds": d.until_first_target_write_seconds,
        "first_write_note": d.first_write_note,
    }
    if sw is not None and sw.version is not None:
        out["switch"] = {
            "parameter": sw.parameter, "value": sw.value, "version": sw.version,
            "previous": ({"value": sw.previous_value, "version": sw.previous_version} if sw.previous_exists
                         else {"exists": False}),
        }
        if sw.undone:
            out["switch"]["undone"] = times.iso_second(sw.undone)
    return {k: v for k, v in out.items() if v is not None}


def downtime_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    """The report section's table, from :func:`downtime_summary`."""
    start = "last write seen on the source's stream" if summary.get("from_kind") == "last_source_write" else \
        "cutover began waiting for quiet (no write seen on the source meanwhile)"
    rows: list[tuple[str, Any]] = [
        ("write-unavailability window", seconds_text(summary.get("seconds"))),
        (f"from: {start}", clock(summary.get("from"))),
        ("to: " + ("the switch written" if summary.get("to_kind") == "switch" else
                   "the target's settings checked (no switch: the application is pointed by hand)"), clock(summary.get("to"))),
    ]
    rows += [(PART_LABELS[name], seconds_text(seconds)) for name, seconds in (summary.get("parts") or {}).items()]
    if summary.get("first_target_write"):
        rows += [("first write seen on the target's stream", clock(summary["first_target_write"])),
                 ("last write on the source \u2192 first write on the target", seconds_text(summary.get("until_first_target_write_seconds")))]
    if summary.get("first_write_note"):
        rows.append(("first write on the target", summary["first_write_note"]))
    sw = summary.get("switch")
    if sw:
        before = sw["previous"].get("value") if "value" in sw["previous"] else "did not exist"
        rows += [("switch: SSM parameter", sw["parameter"]), ("switch: value written", f"{sw['value']} (version {sw['version']})"),
                 ("switch: value before", before if not sw["previous"].get("version") else f"{before} (version {sw['previous']['version']})")]
        if sw.get("undone"):
            rows.append(("switch: put back (cutover --undo)", clock(sw["undone"])))
    return rows


def downtime_line(downtime: run_state.Downtime, switch: Any = None) -> str:
    """One line: the window and its parts (the step's outcome, the drill's console)."""
    parts = ", ".join(f"{name.replace('_', ' ')} {seconds:.1f} s" for name, seconds in downtime.parts().items())
    start = "last write on the source" if downtime.last_source_write else "quiet wait start"
    end = "switch" if downtime.switched else "settings checked"
    line = f"writes unavailable {downtime.seconds:.1f} s ({start} -> {end}: {parts})"
    if downtime.first_target_write is not None:
        line += f"; first write on the target {downtime.until_first_target_write_seconds:.1f} s after the last on the source"
    elif downtime.first_write_note:
        line += f"; {downtime.first_write_note}"
    return line


def downtime_frame(downtime: run_state.Downtime):
    import pandas as pd

    summary = downtime_summary(downtime)
    return pd.DataFrame([{"": label, "value": value} for label, value in downtime_rows(summary)]) if summary else pd.DataFrame()


def render_section(summary: dict[str, Any] | None) -> str:
    """The report's "Cutover" section, between its markers (empty markers-free text when none)."""
    from .html import environment

    if not summary:
        return ""
    return environment().get_template("downtime.html.j2").render(rows=downtime_rows(summary))


def add_downtime_to_report(run_dir: str | os.PathLike, state: run_state.RunState) -> bool:
    """Add the window to the report files step 04 wrote in ``run_dir`` (``summary.json``'s ``downtime``,
    ``report.html``'s section, replacing an earlier one); False when there is no report yet."""
    from .files import _atomic_write
    from .html import SUMMARY_FILE
    from .files import HTML_FILE

    run = Path(run_dir)
    summary_path, html_path = run / SUMMARY_FILE, run / HTML_FILE
    part = downtime_summary(state.downtime, state.switch)
    if part is None or not summary_path.exists():
        return False
    data = json.loads(summary_path.read_text())
    data["downtime"] = part
    _atomic_write(summary_path, json.dumps(data, indent=2) + "\n")
    if html_path.exists():
        page = html_path.read_text(encoding="utf-8")
        section = render_section(part)
        if MARK_OPEN in page and MARK_CLOSE in page:
            head, rest = page.split(MARK_OPEN, 1)
            page = head + section + rest.split(MARK_CLOSE, 1)[1]
        else:
            page = page.replace("</body>", section + "</body>", 1)
        _atomic_write(html_path, page)
    return True
