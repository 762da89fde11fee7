"""Scoring speed: the logged models against their own LightGBM boosters, in one process.

The models are the exported champions of a pipeline run (``models/{full,light}/model``,
``make pipeline`` first), the rows the features stage's applicants (``data/features``)
tiled to ``--rows``: real fields, real history, real missing-value patterns.

Batch, rows per second on the same rows:

- ``booster``: the raw LightGBM booster on the already-encoded matrix (the peer);
- ``batch``: :func:`credit_scoring.models.pyfunc.batch_predictor`, the path publish,
  the registry gate and ``credit-scoring score`` take: the contract's conversion,
  encoding, the booster, calibration and the output frame;
- ``pyfunc.predict``: the same through MLflow's schema enforcement (``--pyfunc-rows``
  rows: MLflow checks each cell of an "any" column in Python).

One row, median seconds over ``--calls`` calls: a one-record DataFrame as a model
server builds it (the full model's history as its ``HISTORY`` record), through
``pyfunc.predict`` and through the batch path, for both models.

    python -m benchmarks.bench_scoring
    python -m benchmarks.bench_scoring --rows 50000 --calls 300
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import mlflow
import pandas as pd

from benchmarks.timing import median_seconds
from credit_scoring.contracts import model_io
from credit_scoring.logs import setup_logging
from credit_scoring.models.pyfunc import CreditScoringModel, batch_predictor

log = logging.getLogger("benchmarks.scoring")

ROOT = Path(__file__).resolve().parents[1]


def _best_seconds(call: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def _rows(features: Path, n: int) -> pd.DataFrame:
    frames = [pd.read_parquet(features / name) for name in ("train.parquet", "test.parquet")]
    rows = pd.concat(frames, ignore_index=True).drop(columns="TARGET")
    tiled = pd.concat([rows] * (n // len(rows) + 1), ignore_index=True).head(n)
    return tiled


def _record(rows: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    """The first row in record form, as ``mlflow models serve`` builds it from JSON."""
    one = rows.head(1)
    record = one.reindex(columns=[f for f in fields if f != model_io.HISTORY_COLUMN])
    if model_io.takes_history(fields):
        record = record.assign(HISTORY=model_io.history_json(one))
    return pd.DataFrame(record.to_dict(orient="records"))


def main(argv: Sequence[str] | None = None) -> None:
    """Time both models' batch and one-row scoring and print one table with the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="exported models")
    parser.add_argument("--features", type=Path, default=ROOT / "data" / "features")
    parser.add_argument("--rows", type=int, default=20_000, help="batch size")
    parser.add_argument("--pyfunc-rows", type=int, default=2_000, help="batch for pyfunc.predict")
    parser.add_argument("--calls", type=int, default=200, help="one-row calls per case")
    args = parser.parse_args(argv)
    setup_logging()
    # pyfunc.predict on feature rows warns about every column the light model ignores.
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    missing = [p for p in (args.models / "full" / "model", args.features) if not p.exists()]
    if missing:
        raise SystemExit(f"{missing[0]} not found: run `make pipeline` first")

    rows = _rows(args.features, args.rows)
    lines = [f"scoring, {len(rows):,} rows ({args.pyfunc_rows:,} for pyfunc.predict)"]
    one_row: dict[tuple[str, str], float] = {}
    for name in ("full", "light"):
        model = mlflow.pyfunc.load_model(str(args.models / name / "model"))
        inner = model.unwrap_python_model()
        assert isinstance(inner, CreditScoringModel)
        booster = inner.pipeline[-1].booster_
        encoded = inner.encode(rows)
        score = batch_predictor(model)
        peer = _best_seconds(lambda b=booster, e=encoded: b.predict(e))
        batch = _best_seconds(lambda s=score: s(rows))
        sample = rows.head(args.pyfunc_rows)
        pyfunc = _best_seconds(lambda m=model, s=sample: m.predict(s), repeat=1)
        lines += [
            f"  {name:5} booster         {len(rows) / peer:>12,.0f} rows/s",
            f"  {name:5} batch           {len(rows) / batch:>12,.0f} rows/s"
            f"   = 1/{batch / peer:.2f} of the booster",
            f"  {name:5} pyfunc.predict  {len(sample) / pyfunc:>12,.0f} rows/s"
            f"   = 1/{pyfunc / len(sample) * len(rows) / peer:.1f} of the booster",
        ]
        record = _record(rows, inner.fields)
        one_row[name, "pyfunc.predict"] = median_seconds(
            lambda m=model, r=record: m.predict(r), args.calls
        )
        one_row[name, "batch"] = median_seconds(lambda s=score, r=record: s(r), args.calls)
    lines.append(f"one row, median of {args.calls} calls")
    for path in ("pyfunc.predict", "batch"):
        full, light = one_row["full", path], one_row["light", path]
        lines.append(
            f"  {path:15} full {full * 1e3:7.2f} ms   light {light * 1e3:7.2f} ms"
            f"   full/light = {full / light:.2f}"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
