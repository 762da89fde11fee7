"""Ingest and feature stages against the plain pandas recipe, on the same data.

Each step runs alone in a fresh subprocess, so that none inherits another's heap:
wall time is measured in the child around the one call (interpreter start and
imports excluded), peak memory is the child's own resident-set high-water mark
(``VmHWM``). The steps: the ingest stage (raw CSV -> validated Parquet), the
feature stage on its output (``build_features``, DuckDB SQL over the Parquet
files), the pandas recipe (raw CSV -> the 795-column matrix, in memory), a child
that only parses the raw CSV files (pyarrow, all cores: the least time anything
reading them needs) and one that only imports everything (the floor every peak
includes).

The data set is the synthetic one described by a ``conf/data`` preset (``synthetic``:
50,000 train applicants by default; ``full``: the real scale, 307,511 + 48,744),
generated once into ``benchmarks/out/<preset>/raw`` and reused. The targets apply at
full scale: the feature stage at least 3 times faster than the recipe with at most
half its peak memory, and ingest + features together at least as fast as the recipe.

    python -m benchmarks.bench_features            # default size
    python -m benchmarks.bench_features --full     # real scale (generation takes minutes)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from credit_scoring.logs import setup_logging

log = logging.getLogger("benchmarks.features")

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_ROOT = REPO_ROOT / "benchmarks" / "out"

#: The targets at full scale (feature-stage speed-up, its memory fraction, and the
#: speed-up of ingest + features together).
TARGET_SPEEDUP = 3.0
TARGET_MEMORY_FRACTION = 0.5
TARGET_PIPELINE_SPEEDUP = 1.0

#: What each worker runs, in this order (features reads what ingest wrote);
#: "imports" measures the floor the others share.
IMPLEMENTATIONS = {
    "ingest": "ingest stage (CSV -> Parquet)",
    "build_features": "feature stage (DuckDB SQL)",
    "oracle": "pandas recipe (oracle)",
    "parse": "parse the CSVs only (pyarrow)",
    "imports": "imports only (floor)",
}


@dataclass(frozen=True)
class Measurement:
    """One implementation's run.

    ``wall_s`` is timed around the call, ``cpu_s`` (user + system, whole child) is less
    sensitive to a busy machine, ``peak_rss`` is in bytes, ``steps`` is
    ``build_features``' own per-step timing (empty for the others).
    """

    wall_s: float
    cpu_s: float
    peak_rss: int
    steps: dict[str, float]


def _data_preset(name: str) -> DictConfig:
    """The ``conf/data/<name>.yaml`` preset, composed by Hydra like the pipeline's."""
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        return compose(config_name=f"data/{name}").data


def ensure_data(preset: str) -> Path:
    """The raw directory of ``preset``, generated on first use (atomically, by ``generate``)."""
    from credit_scoring.data.synthetic import generate  # only the parent generates

    raw = OUT_ROOT / preset / "raw"
    if (raw / "application_train.csv").exists():
        log.info("reusing %s (delete it to regenerate)", raw)
        return raw
    cfg = _data_preset(preset)
    log.info("generating %s train applicants into %s", f"{cfg.n_clients:,}", raw)
    generate(
        raw,
        n_clients=cfg.n_clients,
        n_test_clients=cfg.n_test_clients,
        seed=cfg.seed,
        chunk_size=cfg.chunk_size,
    )
    return raw


def _work(implementation: str, raw: Path, out: Path, result: Path) -> None:
    """Child side: import, run one implementation once, write its timings to ``result``.

    The imports are here, not at the top, so that the parent stays light and the
    "imports" child measures exactly what both implementations load.
    """
    import pyarrow.csv

    from credit_scoring.config import compose_config
    from credit_scoring.data.ingest import ingest
    from credit_scoring.features.build import build_configured
    from tests.oracle import oracle_features

    # The build as the DVC stage runs it (conf/features: the spec, the engine's threads
    # and memory limit, chunk and partition sizes).
    features = compose_config(conf_dir=REPO_ROOT / "conf")[1].features
    start = time.perf_counter()
    steps: dict[str, float] = {}
    if implementation == "ingest":
        ingest(raw, out / "ingested")
    elif implementation == "build_features":
        steps = build_configured(out / "ingested", out / "features", features).seconds
    elif implementation == "oracle":
        oracle_features(raw)
    elif implementation == "parse":
        # The floor of any implementation that reads the raw files: multi-threaded
        # Arrow parsing, nothing kept, checked or computed.
        for path in sorted(raw.glob("*.csv")):
            pyarrow.csv.read_csv(path)
    wall = time.perf_counter() - start
    result.write_text(json.dumps({"wall_s": wall, "steps": steps, "peak_rss": _own_peak_rss()}))


def _own_peak_rss() -> int:
    """This process's resident-set high-water mark in bytes (``VmHWM``, Linux).

    Read in the child rather than from ``wait4``: the kernel's ``ru_maxrss`` of a child
    also counts the parent's pages at the fork, so a parent that has just generated
    the data would inflate every figure, the floor included.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(implementation: str, raw: Path, out: Path) -> Measurement:
    """Run ``implementation`` in a fresh interpreter; its wall time and peak RSS."""
    with tempfile.TemporaryDirectory() as scratch:
        result, errors = Path(scratch) / "result.json", Path(scratch) / "stderr.log"
        command = [sys.executable, "-m", "benchmarks.bench_features", "--worker", implementation]
        command += [str(raw), str(out), str(result)]
        with errors.open("wb") as stderr:
            child = subprocess.Popen(command, cwd=REPO_ROOT, stdout=stderr, stderr=stderr)
            # wait4 rather than RUSAGE_CHILDREN: the one child's own CPU time.
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            tail = errors.read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{implementation} failed (exit {child.returncode}):\n{tail}")
        timing = json.loads(result.read_text())
    return Measurement(
        wall_s=timing["wall_s"],
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss=timing["peak_rss"],
        steps=timing["steps"],
    )


def report(preset: str, raw: Path, runs: dict[str, Measurement]) -> str:
    """The result table with the ratios and, at full scale, whether each target is met."""
    cfg = _data_preset(preset)
    lines = [
        f"features benchmark: preset {preset!r} ({cfg.n_clients:,} train applicants), {raw}",
        f"{'implementation':<30} {'wall (s)':>9} {'cpu (s)':>9} {'peak RSS (MB)':>14}",
    ]
    for name, run in runs.items():
        lines.append(
            f"{IMPLEMENTATIONS[name]:<30} {run.wall_s:>9.2f} {run.cpu_s:>9.2f} "
            f"{run.peak_rss / 2**20:>14.0f}"
        )
    fast, slow, ingested = runs["build_features"], runs["oracle"], runs["ingest"]
    steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in fast.steps.items())
    lines.append(f"feature stage steps (s): {steps}")
    lines.append(
        f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    speedup = slow.wall_s / fast.wall_s
    fraction = fast.peak_rss / slow.peak_rss
    together = slow.wall_s / (ingested.wall_s + fast.wall_s)
    bound = slow.wall_s / runs["parse"].wall_s
    lines.append(
        f"parsing alone is {runs['parse'].wall_s / slow.wall_s:.0%} of the pandas recipe's time: "
        f"anything reading the raw files is at most {bound:.1f}x faster than the recipe"
    )
    verdicts = {
        f"feature stage speed-up {speedup:.1f}x (target >= {TARGET_SPEEDUP:.0f}x)": speedup
        >= TARGET_SPEEDUP,
        f"feature stage memory fraction {fraction:.2f} (target <= {TARGET_MEMORY_FRACTION})": (
            fraction <= TARGET_MEMORY_FRACTION
        ),
        f"ingest + features speed-up {together:.2f}x (target >= {TARGET_PIPELINE_SPEEDUP:.0f}x)": (
            together >= TARGET_PIPELINE_SPEEDUP
        ),
    }
    scale_note = "" if preset == "full" else " [targets apply at full scale]"
    for text, met in verdicts.items():
        lines.append(f"{text}: {'met' if met else 'NOT met'}{scale_note}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Generate (if needed), measure both implementations and the floor, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_features", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--full", action="store_true", help="real scale (conf/data/full.yaml)")
    parser.add_argument(
        "--worker", nargs=4, metavar=("IMPL", "RAW", "OUT", "RESULT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        implementation, raw, out, result = args.worker
        _work(implementation, Path(raw), Path(out), Path(result))
        return

    setup_logging()
    preset = "full" if args.full else "synthetic"
    raw = ensure_data(preset)
    out = OUT_ROOT / preset / "features"
    runs = {}
    for implementation in IMPLEMENTATIONS:
        log.info("measuring %s", IMPLEMENTATIONS[implementation])
        runs[implementation] = measure(implementation, raw, out)
    print(report(preset, raw, runs))


if __name__ == "__main__":
    main()
