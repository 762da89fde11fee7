"""The `credit-scoring` command: what people do by hand, outside DVC.

Each subcommand is a thin shell over one library function; errors of this
product (``CreditScoringError``) become one readable message and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger("credit_scoring")


def _generate(args: argparse.Namespace) -> int:
    from credit_scoring.data.synthetic import generate

    generate(
        args.out,
        n_clients=args.n_clients,
        n_test_clients=args.n_test_clients,
        seed=args.seed,
        oracle_path=args.oracle,
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    from credit_scoring.data.loading import validate_dir

    report = validate_dir(args.raw_dir, strict=args.strict)
    print(report.format())
    return 0 if report.ok else 1


def _features_config(args: argparse.Namespace) -> DictConfig:
    """The ``features`` config the DVC stage reads, with this command's engine switches."""
    from hydra import compose, initialize_config_dir

    from credit_scoring.features.history import DEFAULT_SPEC_PATH

    overrides = []
    if args.engine:
        overrides.append(f"features.engine={args.engine}")
    if args.spark_master:
        overrides.append(f"features.spark.master={args.spark_master}")
    conf_dir = DEFAULT_SPEC_PATH.parents[1]
    with initialize_config_dir(config_dir=str(conf_dir), version_base=None):
        return compose(config_name="config", overrides=overrides).features


def _features(args: argparse.Namespace) -> int:
    from credit_scoring.features.build import build_features
    from credit_scoring.features.engine import engine_from_config
    from credit_scoring.features.history import load_spec

    cfg = _features_config(args)
    engine = engine_from_config(cfg)
    try:
        build_features(
            args.raw,
            args.out,
            spec=load_spec(cfg.history),
            engine=engine,
            strict=args.strict,
            chunk_rows=int(cfg.build.chunk_rows),
        )
    finally:
        engine.close()
    return 0


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
    gen.add_argument("--n-clients", type=int, default=30_000, help="train applicants")
    gen.add_argument(
        "--n-test-clients",
        type=int,
        default=None,
        help="test applicants (default: the real test/train ratio)",
    )
    gen.add_argument("--seed", type=int, default=42)
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
