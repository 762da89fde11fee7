"""The stability chart: score PSI and the top drifting inputs against the PSI bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from credit_scoring.monitoring.stability import Bands, Stability

_COLOURS = {"stable": "#4c9a2a", "watch": "#e0a100", "shift": "#c0392b"}


def psi_chart(stable: Stability, bands: Bands, top_n: int, path: Path, *, title: str) -> Path:
    """Two panels: the score's share per reference decile (reference vs current), and a bar
    per input (score first, then the ``top_n`` inputs by PSI) coloured by band, with the
    band limits drawn; saved as a PNG at ``path``."""
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])

    bins = stable.score_bins[stable.score_bins["bin"] != "missing"].reset_index(drop=True)
    x = np.arange(len(bins))
    left.bar(x - 0.2, bins["reference_share"], 0.4, label="reference (training)", color="#7f8c8d")
    left.bar(x + 0.2, bins["current_share"], 0.4, label="current", color="#2c7fb8")
    left.set_xticks(x, [str(i + 1) for i in x])
    left.set_xlabel("decile of the reference's predicted probability (1 = lowest risk)")
    left.set_ylabel("share of applicants")
    left.set_title(f"score PSI {stable.score_psi:.3f} ({stable.score_band})")
    left.legend(loc="upper right", fontsize=8)

    top = stable.top(top_n)
    names = ["SCORE (probability)", *top["input"].tolist()]
    values = [stable.score_psi, *top["psi"].tolist()]
    colours = [_COLOURS[bands.read(v)] for v in values]
    y = np.arange(len(names))[::-1]
    xmax = max(max(values) * 1.18, bands.shift * 1.3)
    # The bands as shaded backgrounds, so a bar's reading needs no legend lookup.
    right.axvspan(
        0, bands.stable, color=_COLOURS["stable"], alpha=0.08, label=f"stable < {bands.stable}"
    )
    right.axvspan(bands.stable, bands.shift, color=_COLOURS["watch"], alpha=0.10,
                  label=f"watch {bands.stable}-{bands.shift}")  # fmt: skip
    right.axvspan(
        bands.shift, xmax, color=_COLOURS["shift"], alpha=0.06, label=f"shift > {bands.shift}"
    )
    right.barh(y, values, color=colours)
    for yi, value in zip(y, values, strict=True):
        right.text(value, yi, f" {value:.3f}", va="center", fontsize=7)
    right.set_yticks(y, names, fontsize=8)
    right.set_xlabel("PSI")
    right.set_title(f"top {len(top)} drifting inputs (of {len(stable.inputs)})")
    right.set_xlim(0, xmax)
    right.legend(loc="lower right", fontsize=7)
    fig.suptitle(f"Population stability, {title} model")
    fig.savefig(path, dpi=110)
    return path
