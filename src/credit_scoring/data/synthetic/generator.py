"""Chunked generation and writing of the eight files (and the oracle)."""

from __future__ import annotations

import logging
import math
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import numpy as np
from tqdm import tqdm

from credit_scoring.data.schema import SIDE_TABLES, TABLES
from credit_scoring.data.synthetic.applicants import make_applicants
from credit_scoring.data.synthetic.csv_format import format_floats, format_rows, header
from credit_scoring.data.synthetic.history import IdCounters, make_history
from credit_scoring.data.synthetic.risk import RiskModel, default_log_odds, logistic
from credit_scoring.data.synthetic.scenario import Shift
from credit_scoring.data.synthetic.streams import BLOCK_SIZE, BlockStreams, Level
from credit_scoring.errors import CreditScoringError
from credit_scoring.io import atomic_dir, atomic_file, usable_cpus

log = logging.getLogger(__name__)

#: Real test/train applicant ratio: 48,744 test for 307,511 train.
TEST_RATIO = 48_744 / 307_511


def default_test_clients(n_clients: int) -> int:
    """Test applicants for ``n_clients`` train applicants at the real ratio."""
    return round(n_clients * TEST_RATIO)


def generate(
    out_dir: Path | str,
    *,
    n_clients: int,
    n_test_clients: int | None = None,
    seed: int = 42,
    oracle_path: Path | str | None = None,
    chunk_size: int = 50_000,
    progress: bool = True,
    risk: RiskModel | None = None,
    shift: Shift | None = None,
) -> None:
    """Write a synthetic Home Credit data set (8 CSV files) into ``out_dir``, atomically.

    ``n_clients`` train applicants (with TARGET) and ``n_test_clients`` test ones
    (``None``: the real ratio) get ids from 100002 upward, interleaved. If
    ``oracle_path`` is given, a CSV ``SK_ID_CURR,probability,history_risk`` of every
    applicant's true default probability and latent history risk is written there.
    ``chunk_size`` applicants are generated per vectorized step (rounded up to whole
    blocks of 1,000); it bounds memory and does not change the output. ``risk``
    overrides coefficients of the latent risk model (see the package docstring).
    ``shift`` draws a drifted population (``scenario.Shift``; none: the default process).
    """
    n_test = default_test_clients(n_clients) if n_test_clients is None else n_test_clients
    if n_clients < 1 or n_test < 0 or chunk_size < 1:
        raise CreditScoringError(
            f"need n_clients >= 1, n_test_clients >= 0 and chunk_size >= 1 "
            f"(got {n_clients}, {n_test}, {chunk_size})"
        )
    model = risk or RiskModel()
    shift = shift if shift is not None and not shift.is_identity else None
    total = n_clients + n_test
    blocks_per_chunk = math.ceil(chunk_size / BLOCK_SIZE)
    n_blocks = math.ceil(total / BLOCK_SIZE)
    rows = dict.fromkeys(TABLES, 0)
    defaults = 0
    ids = IdCounters()

    with ExitStack() as stack:
        raw = stack.enter_context(atomic_dir(out_dir))
        # Workers exit before the directory is swapped in (or removed, on an error).
        pool = stack.enter_context(ThreadPoolExecutor(usable_cpus(), thread_name_prefix="csv"))
        in_flight: dict[str, Future[tuple[memoryview, int]]] = {}
        files: dict[str, BinaryIO] = {}
        for name, schema in TABLES.items():
            files[name] = stack.enter_context((raw / schema.file_name).open("wb"))
            files[name].write(header(schema))
        oracle = None
        if oracle_path is not None:
            oracle = stack.enter_context(stack.enter_context(atomic_file(oracle_path)).open("wb"))
            oracle.write(b"SK_ID_CURR,probability,history_risk\n")

        def write(formatted: dict[str, Future[tuple[memoryview, int]]]) -> None:
            """Append one chunk's formatted lines to each file, in table order."""
            for name, future in formatted.items():
                text, count = future.result()
                files[name].write(text)
                rows[name] += count

        starts = range(0, n_blocks, blocks_per_chunk)
        for first_block in tqdm(starts, desc="generate", unit="chunk", disable=not progress):
            n_chunk_blocks = min(blocks_per_chunk, n_blocks - first_block)
            index = np.arange(
                first_block * BLOCK_SIZE, min(total, (first_block + n_chunk_blocks) * BLOCK_SIZE)
            )
            level = Level(np.bincount(index // BLOCK_SIZE - first_block, minlength=n_chunk_blocks))
            rs = BlockStreams(seed, first_block, n_chunk_blocks)

            app = make_applicants(rs, level, index, n_clients, total)
            if shift is not None:  # before the risk: the oracle is the drifted process's truth
                shift.apply(app.columns)
            log_odds = default_log_odds(model, app.columns, app.history_risk)
            if shift is not None:
                log_odds = log_odds + shift.default_log_odds
            probability = logistic(log_odds)
            app.columns["TARGET"] = (rs.uniform(level) < probability).astype(np.int64)
            history = make_history(
                rs,
                level,
                app.columns["SK_ID_CURR"],
                app.history_risk,
                ids,
                event_shift=shift.event_log_odds if shift is not None else None,
            )

            train = ~app.is_test
            defaults += int(app.columns["TARGET"][train].sum())
            tables = {
                name: {k: v[mask] for k, v in app.columns.items()}
                for name, mask in (("application_train", train), ("application_test", app.is_test))
            }
            tables.update((name, history[name]) for name in SIDE_TABLES)
            # This chunk is formatted on the pool while the previous one is written and
            # the next one drawn: the text, not the draws, is most of the work.
            formatting = {
                name: pool.submit(format_rows, TABLES[name], columns)
                for name, columns in tables.items()
            }
            write(in_flight)
            in_flight = formatting
            if oracle is not None:
                _write_oracle(oracle, app.columns["SK_ID_CURR"], probability, app.history_risk)
        write(in_flight)

    summary = ", ".join(f"{name} {count:,}" for name, count in rows.items())
    log.info("wrote %s: %s rows", out_dir, summary)
    log.info("train default rate %.4f (%d of %d)", defaults / n_clients, defaults, n_clients)


def _write_oracle(
    out: BinaryIO, sk_id_curr: np.ndarray, probability: np.ndarray, history_risk: np.ndarray
) -> None:
    # h is rounded like the probabilities: the file is byte-identical on every machine.
    p_text = format_floats(probability).to_pylist()
    h_text = format_floats(np.round(history_risk, 12)).to_pylist()
    rows = zip(sk_id_curr.tolist(), p_text, h_text, strict=True)
    out.write("".join(f"{i},{p},{h}\n" for i, p, h in rows).encode())
