"""Feature build on Spark local[2] against DuckDB, same data, same run, as a ratio.

Both engines run ``build_features`` on the same raw directory, as configured in
``conf/features`` (DuckDB: one single-threaded instance per core, as the stage runs
it; Spark: the configured settings on ``local[2]``, the same two cores).
Spark's session start (a JVM) is timed apart: a cluster pays it once per job, not
per query. Spark then runs twice: the first build includes the JVM's warm-up (class
loading, JIT, code generation of the queries), the second is what a long-running
session costs.

The data set is the synthetic one of a ``conf/data`` preset (``synthetic`` = the
default size, 50,000 train applicants), generated once into
``benchmarks/out/<preset>/raw`` and shared with ``bench_features``.

    python -m benchmarks.bench_spark             # default size
    python -m benchmarks.bench_spark --full      # real scale (generation takes minutes)
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.bench_features import REPO_ROOT, ensure_data
from credit_scoring.config import FeaturesConfig, compose_config
from credit_scoring.features.build import build_features
from credit_scoring.features.engine import open_engine
from credit_scoring.logs import setup_logging

log = logging.getLogger("benchmarks.spark")


def _features_config() -> FeaturesConfig:
    return compose_config(conf_dir=REPO_ROOT / "conf")[1].features


def _build(raw: Path, engine: object, name: str) -> tuple[float, float]:
    """Wall seconds of one ``build_features`` and of its history step."""
    with tempfile.TemporaryDirectory(prefix=f"bench_spark_{name}_") as out:
        start = time.perf_counter()
        summary = build_features(raw, Path(out) / "features", engine=engine)  # type: ignore[arg-type]
        wall = time.perf_counter() - start
    return wall, summary.seconds["history"]


def run(preset: str) -> str:
    """Measure every configuration and return the result table."""
    raw = ensure_data(preset)
    cfg = _features_config()
    duckdb_options = cfg.duckdb.model_dump()
    spark_options = cfg.spark.model_dump()
    spark_options["master"] = "local[2]"

    rows: dict[str, tuple[float, float]] = {}
    threads = duckdb_options["threads"] or os.cpu_count()
    duck = f"DuckDB, {threads} single-thread instances"
    engine = open_engine("duckdb", **duckdb_options)
    try:
        rows[duck] = _build(raw, engine, "duckdb")
    finally:
        engine.close()
    start = time.perf_counter()
    engine = open_engine("spark", **spark_options)
    session_s = time.perf_counter() - start
    try:
        rows["Spark local[2], first build"] = _build(raw, engine, "spark")
        rows["Spark local[2], second build"] = _build(raw, engine, "spark")
    finally:
        engine.close()

    peer_wall, peer_history = rows[duck]
    lines = [
        f"feature build, DuckDB vs Spark: preset {preset!r}, {raw}",
        f"{'engine':<36} {'build (s)':>10} {'history (s)':>12} {'x DuckDB':>9}",
    ]
    for label, (wall, history) in rows.items():
        lines.append(f"{label:<36} {wall:>10.1f} {history:>12.1f} {history / peer_history:>8.1f}x")
    lines.append(f"Spark session start (JVM, local[2]): {session_s:.1f} s, not in the builds")
    lines.append(
        f"'x DuckDB' compares the history step with DuckDB's as configured ({peer_history:.1f} s "
        f"of {peer_wall:.1f} s); load average (1 min) at the end: {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the data if needed, measure, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_spark", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--full", action="store_true", help="real scale (conf/data/full.yaml)")
    args = parser.parse_args(argv)
    setup_logging()
    print(run("full" if args.full else "synthetic"))


if __name__ == "__main__":
    main()
