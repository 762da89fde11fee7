"""The `credit-scoring` command: what people do by hand, outside DVC.

Each subcommand is a thin shell over one library function; errors of this
product (``CreditScoringError``) become one readable message and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging

if TYPE_CHECKING:
    from credit_scoring.config import DataConfig, FeaturesConfig

log = logging.getLogger("credit_scoring")


def _synthetic_defaults() -> DataConfig:
    """The synthetic data set's settings (``conf/data/synthetic.yaml``): ``make data``'s.

    ``generate`` with no option writes the very files the pipeline's data step does
    (same size, seed and risk coefficients), so the two cannot drift apart.
    """
    from credit_scoring.config import compose_config

    return compose_config(["data=synthetic"])[1].data


def _generate(args: argparse.Namespace) -> int:
    from credit_scoring.data.synthetic import generate
    from credit_scoring.data.synthetic.scenario import load_scenario

    # Explicit options win over the scenario's values, which win over the configured ones.
    defaults = _synthetic_defaults()
    n_clients, n_test, seed = defaults.n_clients, defaults.n_test_clients, defaults.seed
    shift = None
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
        n_clients, n_test, seed = scenario.n_clients, scenario.n_test_clients, scenario.seed
        shift = scenario.shift
        log.info("scenario %s: %s", scenario.name, scenario.description)
    generate(
        args.out,
        n_clients=args.n_clients if args.n_clients is not None else n_clients,
        n_test_clients=args.n_test_clients if args.n_test_clients is not None else n_test,
        seed=args.seed if args.seed is not None else seed,
        oracle_path=args.oracle,
        chunk_size=defaults.chunk_size,
        risk=defaults.risk,
        shift=shift,
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from credit_scoring.data.loading import validate_dir

    report = validate_dir(args.raw_dir, strict=args.strict)
    print(report.format())
    return 0 if report.ok else 1


def _features_config(args: argparse.Namespace) -> FeaturesConfig:
    """The ``features`` config the DVC stage reads, with this command's engine switches."""
    from credit_scoring.config import compose_config

    overrides = []
    if args.engine:
        overrides.append(f"features.engine={args.engine}")
    if args.spark_master:
        overrides.append(f"features.spark.master={args.spark_master}")
    return compose_config(overrides)[1].features


def _features(args: argparse.Namespace) -> int:
    from credit_scoring.features.build import build_configured

    build_configured(args.raw, args.out, _features_config(args), strict=args.strict)
    return 0


def _score(args: argparse.Namespace) -> int:
    from credit_scoring.batch import score_batch

    if args.engine == "spark" or (args.engine is None and _features_config(args).engine == "spark"):
        return _score_on_spark(args)
    summary = score_batch(
        Path(args.raw),
        Path(args.out),
        model=args.model,
        model_uri=args.model_uri,
        fmt=args.format,
        applications=args.applications,
        batch_size=args.batch_size,
        strict=args.strict,
        features=_features_config(args),
    )
    print(summary)
    return 0


def _score_on_spark(args: argparse.Namespace) -> int:
    """``score --engine spark``: features on Spark, the model through ``spark_udf``."""
    from credit_scoring.batch import REGISTERED_NAMES
    from credit_scoring.features.engine import engine_from_config
    from credit_scoring.spark_batch import score_on_spark

    if args.format not in (None, "parquet") or args.applications is not None:
        raise CreditScoringError(
            "--engine spark reads the applicants from --raw (application_test, else "
            "application_train, as CSV or Parquet) and writes Parquet parts under --out: "
            "--format csv/kaggle and --applications are for the local engine"
        )
    model_uri = args.model_uri or f"models:/{REGISTERED_NAMES[args.model]}@champion"
    engine = engine_from_config(_features_config(args))
    try:
        print(score_on_spark(args.raw, args.out, model_uri=model_uri, engine=engine))
    finally:
        engine.close()
    return 0


def _instant(text: str) -> datetime:
    """An ISO 8601 time for --since/--until, as naive UTC (the prediction log's clock)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _monitor(args: argparse.Namespace) -> int:
    from credit_scoring.config import compose_config
    from credit_scoring.monitoring.monitor import run_monitor
    from credit_scoring.registry import resolve_tracking_uri

    _, conf = compose_config(args.overrides, args.config_dir)
    result = run_monitor(
        conf.monitoring,
        model=args.model,
        current=args.current,
        reference=args.reference or Path(conf.paths.features),
        out=args.out,
        tracking_uri=resolve_tracking_uri(conf.mlflow.tracking_uri),
        experiment_name=conf.mlflow.experiment_name,
        current_tables=[t for t in args.tables.split(",") if t],
        models_dir=Path(conf.paths.models),
        since=args.since,
        until=args.until,
        features=conf.features,
    )
    print((args.out / "summary.md").read_text(), end="")
    return result.exit_code


def _add_engine_switches(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and ``--spark-master``: the ``features.engine`` and
    ``features.spark.master`` config values, for one run."""
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default=None,
        help="SQL engine of the history aggregates (default: features.engine in conf/)",
    )
    parser.add_argument(
        "--spark-master",
        default=None,
        help="Spark master URL, e.g. spark://host:7077 (default: features.spark.master)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, separate from ``main`` so tests and docs can inspect it."""
    parser = argparse.ArgumentParser(prog="credit-scoring", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="write a synthetic data set in the Home Credit format")
    gen.add_argument("--out", type=Path, required=True, help="directory for the 8 CSV files")
    gen.add_argument(
        "--n-clients",
        type=int,
        default=None,
        help="train applicants (default: the scenario's, else data.n_clients in conf/data)",
    )
    gen.add_argument(
        "--n-test-clients",
        type=int,
        default=None,
        help="test applicants (default: the real test/train ratio)",
    )
    gen.add_argument(
        "--seed",
        type=int,
        default=None,
        help="default: the scenario's, else data.seed in conf/data",
    )
    gen.add_argument(
        "--scenario",
        default=None,
        help="a named population of conf/data/scenarios/ (baseline: new seed; shifted: drifted)",
    )
    gen.add_argument(
        "--oracle",
        type=Path,
        default=None,
        help="CSV of each applicant's true default probability and latent history risk",
    )
    gen.set_defaults(func=_generate)

    val = sub.add_parser("validate", help="check a directory of Home Credit CSV files")
    val.add_argument("raw_dir", type=Path)
    val.add_argument("--strict", action="store_true", help="treat warnings as errors")
    val.set_defaults(func=_validate)

    feat = sub.add_parser("features", help="build the feature tables and the 795-column matrix")
    feat.add_argument("--raw", type=Path, required=True, help="directory of the raw CSV files")
    feat.add_argument("--out", type=Path, required=True, help="output directory")
    feat.add_argument("--strict", action="store_true", help="treat warnings as errors")
    _add_engine_switches(feat)
    feat.set_defaults(func=_features)

    score = sub.add_parser(
        "score", help="score a new batch of applicants with the champion (one row each)"
    )
    # Strings, not paths: with --engine spark they may be URLs (s3a://bucket/batch).
    score.add_argument("--raw", required=True, help="directory of the raw CSV files")
    score.add_argument(
        "--out",
        required=True,
        help="output file (written atomically); with --engine spark, a directory of Parquet parts",
    )
    score.add_argument("--model", choices=("full", "light"), default="full")
    score.add_argument(
        "--model-uri", default=None, help="score with this model instead of the champion"
    )
    score.add_argument(
        "--format",
        choices=("parquet", "csv", "kaggle"),
        default=None,
        help="default: csv for a .csv output, else parquet; kaggle: SK_ID_CURR,TARGET",
    )
    score.add_argument(
        "--applications",
        type=Path,
        default=None,
        help="the applicants' file (default: application_test.csv, else application_train.csv)",
    )
    score.add_argument("--batch-size", type=int, default=20_000, help="rows scored at once")
    score.add_argument("--strict", action="store_true", help="treat warnings as errors")
    _add_engine_switches(score)
    score.set_defaults(func=_score)

    mon = sub.add_parser(
        "monitor",
        help="stability and drift of new applicants against the champion's training population",
        description="Exit code 0: nothing crossed monitoring.alerts; 3: an alert fired (the "
        "report names the reason); 2: bad input.",
    )
    mon.add_argument(
        "--current",
        required=True,
        help="a directory of raw applicant tables (or feature tables), or the prediction "
        "log's database URL (sqlite:///data/monitoring/predictions.db)",
    )
    mon.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="the training population: a feature directory or a raw directory "
        "(default: paths.features, the champion's training data)",
    )
    mon.add_argument("--model", choices=["full", "light"], default="full")
    mon.add_argument("--out", type=Path, required=True, help="report directory (replaced)")
    mon.add_argument(
        "--tables",
        default="application_train,application_test",
        help="application tables of a --current directory to monitor (comma-separated)",
    )
    mon.add_argument("--since", type=_instant, default=None, help="prediction log: from (ISO 8601)")
    mon.add_argument(
        "--until", type=_instant, default=None, help="prediction log: until, exclusive"
    )
    mon.add_argument("--config-dir", type=Path, default=None, help=argparse.SUPPRESS)
    mon.add_argument(
        "overrides",
        nargs="*",
        help="config overrides, e.g. monitoring.alerts.score_psi=0.2",
    )
    mon.set_defaults(func=_monitor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    setup_logging()
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CreditScoringError as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())
