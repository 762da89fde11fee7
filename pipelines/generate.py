"""Stage `data`: materialize the configured raw data set in ``paths.raw``.

``data.source=synthetic`` generates the eight files (and the oracle at
``paths.oracle``) unless ``data/raw`` already holds a set generated with the same
parameters, recorded in a stamp file next to it (``data/raw`` itself must hold
exactly the eight CSV files, since data.dvc hashes the directory).
``data.source=kaggle`` generates nothing and checks that the files are there (and
writes an oracle file with no rows: real data have no known probabilities).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from omegaconf import DictConfig

from credit_scoring.config import DataConfig, ProjectConfig
from credit_scoring.data.schema import TABLES
from credit_scoring.data.synthetic import generate
from credit_scoring.errors import CreditScoringError
from credit_scoring.io import atomic_file
from credit_scoring.stage import stage

log = logging.getLogger("credit_scoring.pipelines.generate")


def stamp_path(raw: Path) -> Path:
    """Where the parameters of the generated ``raw`` directory are recorded (outside it)."""
    return raw.parent / f".{raw.name}_params.json"


def materialize(data: DataConfig, raw: Path, oracle: Path) -> None:
    """Generate or check ``raw`` according to ``data.source``."""
    if data.source == "kaggle":
        missing = [
            t.file_name for t in TABLES.values() if t.required and not (raw / t.file_name).is_file()
        ]
        if missing:
            raise CreditScoringError(
                f"data.source=kaggle but {raw} lacks {', '.join(missing)}: download the Kaggle "
                "'Home Credit Default Risk' files into it (or use data=synthetic)"
            )
        log.info("using the Kaggle files in %s", raw)
        if not oracle.is_file():
            # Real data have no true probabilities; the train stage declares the oracle
            # file as an input, so it exists with its header and no rows ("unknown").
            with atomic_file(oracle) as tmp:
                tmp.write_text("SK_ID_CURR,probability\n")
        return
    params = {
        "n_clients": data.n_clients,
        "n_test_clients": data.n_test_clients,
        "seed": data.seed,
        "risk": dataclasses.asdict(data.risk),
        "oracle": str(oracle),
    }
    stamp = stamp_path(raw)
    complete = all((raw / t.file_name).is_file() for t in TABLES.values()) and oracle.is_file()
    if complete and stamp.is_file() and json.loads(stamp.read_text()) == params:
        log.info("%s already holds this data set (%s); nothing to do", raw, stamp)
        return
    generate(
        raw,
        n_clients=params["n_clients"],
        n_test_clients=params["n_test_clients"],
        seed=params["seed"],
        oracle_path=oracle,
        chunk_size=data.chunk_size,
        risk=data.risk,
    )
    with atomic_file(stamp) as tmp:
        tmp.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n")


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    """Materialize ``paths.raw`` as ``data`` says."""
    materialize(conf.data, Path(conf.paths.raw), Path(conf.paths.oracle))


if __name__ == "__main__":
    main()
