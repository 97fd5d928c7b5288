"""Reports of evaluation runs: a Table-1-style Markdown table, a CSV, and plots (PNG, matplotlib Agg).

* :func:`average_rows` adds a macro average over datasets per method (each dataset weighs the same,
  as in the paper's "Avg." column).
* :func:`markdown_table` renders the headline table (GenAcc per dataset with EM in parentheses,
  then the average) followed by a detail table with every metric: GenAcc, EM, F1, span check, judge,
  documents and input tokens given to the generator, turns and searches.
* :func:`write_csv` writes the same rows in long form; :func:`write_wide_csv` one metric in the
  paper's layout (a line per method, a column per dataset, the average).
* :func:`plot_genacc` draws GenAcc per dataset per method; :func:`plot_training_curves` draws
  training metrics from the JSONL logs the trainer writes.
* :func:`write_report` does all of it for one run folder.

Example::

    paths = write_report("runs/eval")            # table.md, table.csv, genacc.png
    plot_training_curves(["runs/train/log.jsonl"], "runs/eval/training.png")
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.run import METRIC_COLUMNS, load_results
from retrievers.corpus import iter_records

log = logging.getLogger(__name__)

AVERAGE = "average"

_HEADERS = {
    "genacc": "GenAcc",
    "em": "EM",
    "f1": "F1",
    "span": "Span",
    "judge": "Judge",
    "docs": "Docs",
    "input_tokens": "Input tok.",
    "turns": "Turns",
    "searches": "Searches",
}

#: training-log keys plotted by default when present (others can be asked for by name)
DEFAULT_CURVES = (
    "reward",
    "gbr",
    "genacc",
    "genacc_rag",
    "searches",
    "turns",
    "docs_selected",
    "kl",
    "entropy",
)


def _ordered(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def average_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method, the unweighted mean over its datasets of each metric (``dataset = "average"``).

    A metric missing (None) on any dataset stays None in the average. ``n`` is the total count.
    """
    out = []
    for method in _ordered([r["method"] for r in rows]):
        mine = [r for r in rows if r["method"] == method and r["dataset"] != AVERAGE]
        avg: dict[str, Any] = {"method": method, "dataset": AVERAGE, "n": sum(r["n"] for r in mine)}
        for col in METRIC_COLUMNS:
            vals = [r.get(col) for r in mine]
            avg[col] = None if any(v is None for v in vals) or not vals else sum(vals) / len(vals)
        out.append(avg)
    return out


def _fmt(value: Any, col: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if col in ("docs", "turns", "searches"):
        return f"{value:.2f}"
    if col == "input_tokens":
        return f"{value:.0f}"
    return f"{value:.1f}"


def markdown_table(
    rows: Sequence[dict[str, Any]], title: str | None = None, notes: Sequence[str] = ()
) -> str:
    """The headline table (GenAcc (EM) per dataset and the average) plus the full detail table.

    Args:
        rows: results rows (``method``, ``dataset``, ``n`` and the metric columns), without averages.
        title: an optional heading.
        notes: lines printed under the headline table (e.g. how the run differs from the paper's).

    Returns:
        Markdown text.
    """
    rows = [r for r in rows if r["dataset"] != AVERAGE]
    datasets = _ordered([r["dataset"] for r in rows])
    methods = _ordered([r["method"] for r in rows])
    avgs = {r["method"]: r for r in average_rows(rows)}
    cell = {(r["method"], r["dataset"]): r for r in rows}
    lines = []
    if title:
        lines += [f"## {title}", ""]
    counts = ", ".join(f"{d}: {cell[(methods[0], d)]['n']}" for d in datasets if (methods[0], d) in cell)
    lines += [f"GenAcc % (EM % in parentheses); questions per dataset: {counts}.", ""]
    header = ["Method", *datasets, "Avg."]
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for m in methods:
        cells = [m]
        for d in datasets:
            r = cell.get((m, d))
            if r is not None and r.get("skipped"):
                cells.append(f"skipped: {r['skipped']}")
                continue
            cells.append("–" if r is None else f"{_fmt(r['genacc'], 'genacc')} ({_fmt(r['em'], 'em')})")
        a = avgs[m]
        cells.append(f"**{_fmt(a['genacc'], 'genacc')}** ({_fmt(a['em'], 'em')})")
        lines.append("| " + " | ".join(cells) + " |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "Every metric, per dataset and averaged over datasets (Docs and Input tok.: given to the "
        "generator, per question; Judge: judge-only accuracy, – without a judge).",
        "",
    ]
    header = ["Method", "Dataset", "N", *(_HEADERS[c] for c in METRIC_COLUMNS)]
    lines += [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(header) - 2)) + "|",
    ]
    for m in methods:
        mine = [cell[(m, d)] for d in datasets if (m, d) in cell]
        for r in mine + ([avgs[m]] if len(datasets) > 1 else []):
            cells = [m, r["dataset"], str(r["n"]), *(_fmt(r.get(c), c) for c in METRIC_COLUMNS)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write the rows plus per-method averages in long form (one line per method and dataset)."""
    rows = [r for r in rows if r["dataset"] != AVERAGE]
    full = []
    for m in _ordered([r["method"] for r in rows]):
        full += [r for r in rows if r["method"] == m] + [a for a in average_rows(rows) if a["method"] == m]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["method", "dataset", "n", *METRIC_COLUMNS])
        writer.writeheader()
        for r in full:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in writer.fieldnames})
    return path


def write_wide_csv(rows: Sequence[dict[str, Any]], path: str | os.PathLike, metric: str = "genacc") -> Path:
    """One metric in the paper's layout: a line per method, a column per dataset, then the average."""
    rows = [r for r in rows if r["dataset"] != AVERAGE]
    datasets = _ordered([r["dataset"] for r in rows])
    cell = {(r["method"], r["dataset"]): r.get(metric) for r in rows}
    avgs = {r["method"]: r.get(metric) for r in average_rows(rows)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["method", *datasets, AVERAGE])
        for m in _ordered([r["method"] for r in rows]):
            values = [cell.get((m, d)) for d in datasets] + [avgs.get(m)]
            writer.writerow([m, *("" if v is None else round(v, 4) for v in values)])
    return path


NOTES_FILE = "notes.json"


def read_notes(run_dir: str | os.PathLike) -> list[str]:
    """The notes an evaluation saved beside its results (``notes.json``), or none."""
    path = Path(run_dir) / NOTES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, path: str | os.PathLike, dpi: int) -> Path:
    """Write ``fig`` to ``path`` (its folder created) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def plot_genacc(rows: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "GenAcc") -> Path:
    """A grouped bar chart: GenAcc per dataset (groups, plus the average), one bar per method, each
    with its value, and the naive-RAG score as a dashed line across each group."""
    return _save_png(genacc_figure(rows, title), path, dpi=120)


def genacc_figure(rows: Sequence[dict[str, Any]], title: str = "GenAcc") -> Any:
    """The matplotlib figure of :func:`plot_genacc` (the caller saves and closes it)."""
    plt = _pyplot()
    rows = [r for r in rows if r["dataset"] != AVERAGE]
    datasets = _ordered([r["dataset"] for r in rows])
    methods = _ordered([r["method"] for r in rows])
    groups = datasets + ([AVERAGE] if len(datasets) > 1 else [])
    cell = {(r["method"], r["dataset"]): r for r in list(rows) + average_rows(rows)}
    width = 0.8 / max(1, len(methods))
    fig, ax = plt.subplots(figsize=(max(7.0, 0.45 * len(groups) * max(1, len(methods)) + 4), 4.5))
    colours = plt.get_cmap("tab10" if len(methods) <= 10 else "tab20")  # one distinct colour a method
    for i, m in enumerate(methods):
        xs = [g + (i - (len(methods) - 1) / 2) * width for g in range(len(groups))]
        ys = [(cell.get((m, d)) or {}).get("genacc") or 0.0 for d in groups]
        bars = ax.bar(
            xs, ys, width=width, label=m, color=colours(i % colours.N), edgecolor="black", linewidth=0.4
        )
        labels = [
            "skipped" if (cell.get((m, d)) or {}).get("skipped") else f"{y:.1f}" for d, y in zip(groups, ys)
        ]
        ax.bar_label(bars, labels=labels, fontsize=6, rotation=90, padding=2)  # zero bars get a value too
    for g, d in enumerate(groups):  # naive RAG: the line the searchers are to beat
        rag = (cell.get(("naive-rag", d)) or {}).get("genacc")
        if rag is not None:
            ax.hlines(rag, g - 0.45, g + 0.45, colors="black", linestyles="--", linewidth=1,
                      label="naive RAG" if g == 0 else None)  # fmt: skip
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("GenAcc (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def read_training_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a training JSONL log: one JSON object per line with a ``step`` (or ``global_step``) and metrics.

    Blank lines are skipped; a bad line raises ``CorpusError`` (a ``ValueError``) naming file and line. Lines without a
    step get their position as step.
    """
    out = []
    for _, rec in iter_records(path):
        rec.setdefault("step", rec.get("global_step", len(out)))
        out.append(rec)
    return out


def plot_training_curves(
    logs: Sequence[str | os.PathLike],
    path: str | os.PathLike,
    keys: Sequence[str] | None = None,
) -> Path:
    """Training curves from one or more JSONL logs: one panel per metric, one line per log.

    Args:
        logs: JSONL training logs (see :func:`read_training_log`); each becomes a line labelled by its
            parent folder name.
        path: the PNG to write.
        keys: the metrics to draw; default: those of :data:`DEFAULT_CURVES` found in the logs, else
            every numeric key.

    Returns:
        The PNG path. Raises ``ValueError`` when no requested metric appears in any log.
    """
    return _save_png(training_figure(logs, keys), path, dpi=110)


def training_figure(logs: Sequence[str | os.PathLike], keys: Sequence[str] | None = None) -> Any:
    """The matplotlib figure of :func:`plot_training_curves` (the caller saves and closes it)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    series = {str(p): read_training_log(p) for p in logs}
    short = {name: Path(name).parent.name or name for name in series}
    # runs are named by their folder; two runs with the same folder name get their whole path
    labels = {n: (s if list(short.values()).count(s) == 1 else n) for n, s in short.items()}
    present: list[str] = []
    for recs in series.values():
        for rec in recs:
            for k, v in rec.items():
                if (
                    k not in ("step", "global_step")
                    and isinstance(v, (int, float))
                    and not isinstance(v, bool)
                ):
                    present.append(k)
    present = _ordered(present)
    if keys:
        chosen = [k for k in keys if k in present]
    else:
        chosen = [k for k in DEFAULT_CURVES if k in present] or present
    if not chosen:
        raise ValueError(f"no metric to plot in {list(series)} (asked for {list(keys or DEFAULT_CURVES)})")
    cols = min(3, len(chosen))
    nrows = math.ceil(len(chosen) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, chosen):
        for name, recs in series.items():
            pts = [(r["step"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot(
                    [p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=labels[name]
                )
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # optimizer steps are whole numbers
    for ax in list(axes.flat)[len(chosen) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize="small")  # every run is named, one run included
    fig.tight_layout()
    return fig


def write_report(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    training_logs: Sequence[str | os.PathLike] = (),
    title: str | None = None,
    notes: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write ``table.md``, ``table.csv`` (long form), ``table-genacc.csv`` and ``table-em.csv`` (the
    paper's layout), ``genacc.png`` (and ``training.png`` given logs) for a run.

    Args:
        run_dir: an evaluation folder holding ``results.json``.
        out_dir: where to write (default: ``run_dir``).
        training_logs: JSONL training logs to plot.
        title: a heading for the Markdown table.
        notes: lines under the headline table; saved as ``notes.json`` in ``run_dir`` (None: the saved
            ones, if any).

    Returns:
        Name -> written path.
    """
    rows = load_results(run_dir)
    if notes is None:
        notes = read_notes(run_dir)
    else:
        (Path(run_dir) / NOTES_FILE).write_text(json.dumps(list(notes), indent=2) + "\n", encoding="utf-8")
    out = Path(out_dir or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table.md": out / "table.md"}
    paths["table.md"].write_text(markdown_table(rows, title=title, notes=notes), encoding="utf-8")
    paths["table.csv"] = write_csv(rows, out / "table.csv")
    paths["table-genacc.csv"] = write_wide_csv(rows, out / "table-genacc.csv", "genacc")
    paths["table-em.csv"] = write_wide_csv(rows, out / "table-em.csv", "em")
    paths["genacc.png"] = plot_genacc(rows, out / "genacc.png")
    if training_logs:
        paths["training.png"] = plot_training_curves(training_logs, out / "training.png")
    return paths
