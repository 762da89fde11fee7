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

from credit_scoring.errors import CreditScoringError
from credit_scoring.logs import setup_logging

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


def _features(args: argparse.Namespace) -> int:
    from credit_scoring.features.build import build_features

    build_features(args.raw, args.out, strict=args.strict)
    return 0


def _score(args: argparse.Namespace) -> int:
    from credit_scoring.batch import score_batch

    summary = score_batch(
        args.raw,
        args.out,
        model=args.model,
        model_uri=args.model_uri,
        fmt=args.format,
        applications=args.applications,
        batch_size=args.batch_size,
        strict=args.strict,
    )
    print(summary)
    return 0


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
    feat.set_defaults(func=_features)

    score = sub.add_parser(
        "score", help="score a new batch of applicants with the champion (one row each)"
    )
    score.add_argument("--raw", type=Path, required=True, help="directory of the raw CSV files")
    score.add_argument("--out", type=Path, required=True, help="output file (written atomically)")
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
    score.set_defaults(func=_score)
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
