"""Paper-ready figures as PNG bytes: where samples exit (clean vs each attack) and accuracy vs cost.

Why ``matplotlib.figure.Figure`` and not pyplot: no global figure state and no backend switch; saving a
PNG renders with Agg. Figures come back as bytes so only ``results`` writes files.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from rdibench.report.summary import ModelSummary, data_labels, short_label

DPI = 150


def plot_name(model: str, kind: str = "exit_fractions") -> str:
    """``plots/<kind>_<model>.png`` with any character unsafe in a file name replaced by ``_``."""
    return f"plots/{kind}_{re.sub(r'[^A-Za-z0-9._-]', '_', model)}.png"


def exit_fractions_png(summary: ModelSummary) -> bytes | None:
    """Grouped bars per exit: the share of samples leaving there on clean inputs and under each attack.

    ``None`` when the model has no successful cell (nothing to draw).
    """
    groups = [("clean", summary.exit_fractions_clean)]
    groups += [(a.attack, a.exit_fractions_adv) for a in summary.attacks if a.exit_fractions_adv is not None]
    groups = [(name, values) for name, values in groups if values is not None]
    if not groups:
        return None
    exits = max(len(values) for _, values in groups)
    x = np.arange(exits)
    width = 0.8 / len(groups)
    fig = Figure(figsize=(max(7.5, 1.1 * exits + 3), 4.2), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, values) in enumerate(groups):
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, 100 * np.asarray(values), width, label=name)
    ax.set_xticks(x, [f"exit {k + 1}" for k in range(exits)])
    ax.set_xlabel("Exit (shallowest first; the last is the backbone's head)")
    ax.set_ylabel("Samples leaving at this exit (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{summary.model}: exit distribution\n{short_label(summary.label)}")
    ax.legend(title="inputs", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def tradeoff_png(summaries: Sequence[ModelSummary], attack: str | None = None) -> bytes | None:
    """TA and ATA (per-sample worst case, or ``attack``) against expected MFlops, one labelled pair per model.

    TA sits at the clean cost; ATA at the cost under that attack (for the worst case, the costliest attack),
    so the figure shows the accuracy *and* the efficiency an adversary can take away. ``None`` if empty.
    """
    points = [(s, *s.adversarial_point(attack)) for s in summaries if s.ta is not None and s.mflops_paper_clean]
    if not points:
        return None
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ata_label = f"ATA ({attack})" if attack else "ATA (worst case over attacks)"
    for i, (s, ata, cost) in enumerate(points):
        first, offset = i == 0, (5, 5 if i % 2 == 0 else -12)  # alternate so neighbouring names do not overlap
        ax.scatter(s.mflops_paper_clean, 100 * s.ta, marker="o", color="C0", label="TA (clean)" if first else None)
        ax.annotate(
            s.model, (s.mflops_paper_clean, 100 * s.ta), textcoords="offset points", xytext=offset, fontsize="small"
        )
        if ata is not None and cost is not None:
            ax.scatter(cost, 100 * ata, marker="s", color="C3", label=ata_label if first else None)
            line_label = "same model" if first else None
            ax.plot(
                [s.mflops_paper_clean, cost], [100 * s.ta, 100 * ata], color="0.6", lw=0.8, zorder=0, label=line_label
            )
            ax.annotate(s.model, (cost, 100 * ata), textcoords="offset points", xytext=offset, fontsize="small")
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("Expected cost (MFlops per image, paper convention)")
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(f"Accuracy vs. cost\n{', '.join(short_label(label) for label in data_labels(summaries))}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _png(fig)


def security_curve_png(summary: ModelSummary) -> bytes | None:
    """Accuracy against eps for each probed attack of a model (a security curve), ``None`` without one.

    The solid line is the routed prediction's accuracy (ATA); where the attack targets one exit, a dashed
    line shows that exit's accuracy (what the probes check). The dotted line marks the suite's eps.
    """
    curves = [(a, a.curve) for a in summary.attacks if a.curve is not None]
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for i, (result, curve) in enumerate(curves):
        color = f"C{i}"
        ax.plot(curve.eps, 100 * np.asarray(curve.ata), marker="o", color=color, label=f"{result.attack}: ATA")
        if curve.acc != curve.ata:
            ax.plot(curve.eps, 100 * np.asarray(curve.acc), marker="s", ls="--", color=color,
                    label=f"{result.attack}: attacked exit")  # fmt: skip
        if result.eps is not None:
            ax.axvline(result.eps, color=color, ls=":", lw=1)
    norms = sorted({c.norm for _, c in curves if c.norm})
    sizes = sorted({c.n for _, c in curves})
    ax.set_xlabel(f"eps ({', '.join(norms) or 'norm unknown'}, [0, 1] pixel scale; dotted: the suite's eps)")
    ax.set_ylabel("Accuracy under attack (%)")
    ax.set_ylim(0, 100)
    ax.set_title(
        f"{summary.model}: security curve\n{short_label(summary.label)}, first {', '.join(map(str, sizes))} images"
    )
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()
