"""Stage `generate`: materialize the configured raw data set in ``paths.raw``.

The first DVC stage, so the raw data are an output like any other: DVC reruns it
when its code, a value of ``conf/data`` or the defaults list choosing the data group
changes (no stamp file of our own), caches the files, and records their hash in
``dvc.lock``, which is the data version every training run is tagged with.

``data.source=synthetic`` generates the eight files (atomically: the directory is
replaced whole, so nothing but the eight files is hashed) and the oracle at
``paths.oracle``; it refuses to replace a directory holding any other file (a
Kaggle download copied in while ``data: synthetic`` is still chosen would be lost).
``data.source=kaggle`` generates nothing: it checks that the
files copied into ``paths.raw`` are there, and writes an oracle file with no rows
(real data have no known probabilities). The stage declares ``data/raw`` with
``persist: true``, so ``dvc repro`` never deletes the copied files before running
it (``dvc exp run`` first checks the locked version out: bring new files with
``dvc repro``).
"""

from __future__ import annotations

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

#: The oracle of real data: the header, no rows ("no probability is known").
NO_ORACLE = "SK_ID_CURR,probability\n"
#: What the synthetic set consists of: the only files it may replace.
GENERATED = frozenset(t.file_name for t in TABLES.values())


def materialize(data: DataConfig, raw: Path, oracle: Path) -> None:
    """Generate or check ``raw`` according to ``data.source``."""
    if data.source == "kaggle":
        missing = [
            t.file_name for t in TABLES.values() if t.required and not (raw / t.file_name).is_file()
        ]
        if missing:
            raise CreditScoringError(
                f"data.source=kaggle but {raw} lacks {', '.join(missing)}: copy the Kaggle "
                "'Home Credit Default Risk' files into it (or choose data: synthetic in "
                "conf/config.yaml)"
            )
        present = sorted(t.file_name for t in TABLES.values() if (raw / t.file_name).is_file())
        log.info("using the Kaggle files in %s: %s", raw, ", ".join(present))
        # The train stage reads the oracle file (a declared input): it exists, and
        # knows nothing.
        with atomic_file(oracle) as tmp:
            tmp.write_text(NO_ORACLE)
        return
    foreign = (
        sorted(p.name for p in raw.iterdir() if p.name not in GENERATED) if raw.is_dir() else []
    )
    if foreign:
        raise CreditScoringError(
            f"{raw} holds files the generator does not write ({', '.join(foreign)}), so "
            "they were copied there: choose data: kaggle in conf/config.yaml to use them, "
            f"or remove them to generate the synthetic set (which replaces {raw} whole)"
        )
    generate(
        raw,
        n_clients=data.n_clients,
        n_test_clients=data.n_test_clients,
        seed=data.seed,
        oracle_path=oracle,
        chunk_size=data.chunk_size,
        risk=data.risk,
    )


@stage
def main(cfg: DictConfig, conf: ProjectConfig) -> None:
    """Materialize ``paths.raw`` as ``data`` says."""
    materialize(conf.data, Path(conf.paths.raw), Path(conf.paths.oracle))


if __name__ == "__main__":
    main()
