"""The text report of a workspace summary (``str(summary)``, ``nsbi inspect``): aligned
tables of channels, samples, parameters, measurements and ratio models."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsbi.workflows.summary import WorkspaceSummary

__all__ = ["render"]


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    return f"{value:.6g}"


def _table(
    header: list[str], rows: list[list[str]], right: set[int], indent: str = "  "
) -> list[str]:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
            for k, cell in enumerate(row)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _selection_label(source: dict) -> str:
    parts = [source["selection"]] if "selection" in source else []
    if "entry_start" in source or "entry_stop" in source:
        parts.append(f"entries [{source.get('entry_start', 0)}, {source.get('entry_stop', 'end')})")
    return "; ".join(parts) or "-"


def render(summary: WorkspaceSummary) -> list[str]:
    binned = sum(c.kind == "binned" for c in summary.channels)
    components = sum(len(p.init) for p in summary.parameters)
    lines = [
        f"workspace   {summary.path or '(in memory)'} (version {summary.version})",
        f"channels    {len(summary.channels)} ({binned} binned, "
        f"{len(summary.channels) - binned} unbinned)",
        f"samples     {len(summary.samples)}",
        f"parameters  {len(summary.parameters)} ({components} components)",
        f"modifiers   {len(summary.modifiers)} (distinct name and type)",
    ]
    for channel in summary.channels:
        lines.append("")
        if channel.kind == "binned":
            counts = ", ".join(_number(v) for v in channel.observed or [])
            lines.append(
                f"channel {channel.name}: binned, {channel.n_bins} bins, observed "
                f"{_number(channel.n_observed)} events [{counts}]"
            )
            lines += _table(
                ["sample", "yield", "modifiers"],
                [
                    [s.name, _number(s.nominal_yield), ", ".join(map(str, s.modifiers)) or "-"]
                    for s in channel.samples
                ],
                right={1},
            )
            continue
        observed = f"{_number(channel.n_observed)} observed events"
        if (
            channel.n_observed is not None
            and channel.observed_sum_weights is not None
            and not math.isclose(channel.observed_sum_weights, channel.n_observed)
        ):
            observed += f" (sum of weights {_number(channel.observed_sum_weights)})"
        lines.append(
            f"channel {channel.name}: unbinned, observables {', '.join(channel.observables or [])};"
            f" {observed}"
        )
        lines.append(f"  reference: {' + '.join(channel.reference or [])}")
        lines += _table(
            ["sample", "events", "yield", "coefficient", "weight", "selection", "modifiers"],
            [
                [
                    s.name,
                    _number(s.n_events),
                    _number(s.nominal_yield),
                    s.coefficient or "1",
                    (s.source or {}).get("weight", "-"),
                    _selection_label(s.source or {}),
                    ", ".join(map(str, s.modifiers)) or "-",
                ]
                for s in channel.samples
            ],
            right={1, 2},
        )
        lines.append("  ntuples:")
        lines += _table(
            ["file:tree", "read for"],
            [[f"{n.file}:{n.tree}", ", ".join(n.used_by)] for n in channel.ntuples],
            right=set(),
            indent="    ",
        )
        models = [r for r in summary.ratio_models if r.channel == channel.name]
        lines.append("  ratio models:")
        if not models:
            lines.append("    none (a sole reference sample needs none)")
        base = summary.path.parent if summary.path is not None else None
        rows = []
        for model in models:
            shown = model.path
            if base is not None and shown.is_relative_to(base):
                shown = shown.relative_to(base)
            trained = f"{model.trained}, {model.members} member(s)" if model.trained else ""
            rows.append([model.name, model.status, str(shown), trained])
        if rows:
            lines += _table(["model", "status", "folder", "trained"], rows, set(), indent="    ")
        for model in models:
            if model.status != "missing":
                lines += [f"    {model.name}: {reason}" for reason in model.reasons]
        if any(model.status == "missing" for model in models):
            lines.append("    (train the missing ones with `nsbi train WORKSPACE`)")
    lines += ["", f"parameters of measurement {summary.measurement}"]
    rows = []
    for p in summary.parameters:
        for k, name in enumerate(p.component_names):
            lo, hi = p.bounds[k]
            rows.append(
                [
                    name + (" (POI)" if p.poi else ""),
                    _number(p.init[k]),
                    f"[{_number(lo)}, {_number(hi)}]",
                    "yes" if p.fixed[k] else "no",
                    p.constraint,
                    _number(p.auxdata[k]) if p.auxdata else "-",
                    _number(p.width[k]) if p.width else "-",
                    ", ".join(p.modifiers),
                ]
            )
    lines += _table(
        ["parameter", "init", "bounds", "fixed", "constraint", "auxdata", "width", "modifiers"],
        rows,
        right={1},
    )
    lines += ["", "measurements"]
    rows = []
    for m in summary.measurements:
        codes = ", ".join(f"{k}={v}" for k, v in m.interpolation.items())
        rows.append(
            [
                ("* " if m.name == summary.measurement else "  ") + m.name,
                f"POI {m.poi}",
                "parameters: " + (", ".join(m.parameters) or "-"),
                f"interpolation: {codes}" if codes else "",
            ]
        )
    lines += _table(["", "", "", ""], rows, set())[1:]
    if summary.problems:
        lines += ["", "problems"] + [f"  {problem}" for problem in summary.problems]
    return lines
