"""Writing outputs: atomically, with the pipeline's Parquet options, beside the work.

A failed stage leaves the previous output, or nothing, never half of one. The two
overlap helpers keep one piece of work in flight beside the caller's (Arrow,
Parquet, DuckDB and zstd release the GIL, so a second core does it) and hold at
most two pieces at once, so memory stays bounded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

T = TypeVar("T")
R = TypeVar("R")


def usable_cpus() -> int:
    """The cores this process may run on: its affinity mask, not the machine's count.

    A container or ``taskset`` limits the mask; sizing thread pools by
    ``os.cpu_count()`` there would oversubscribe the cores the process really has.
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a scratch directory next to ``target`` that replaces it only on success.

    The scratch directory lives on the same file system, so the final swap is two
    renames; on any exception it is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    scratch.chmod(0o777 & ~_umask())  # mkdtemp makes the directory private (0700)
    try:
        yield scratch
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        target.rename(old)
    scratch.rename(target)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(target: Path | str) -> Iterator[Path]:
    """Yield a scratch file path that atomically replaces ``target`` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    scratch = Path(tmp)
    scratch.chmod(0o666 & ~_umask())  # mkstemp makes the file private (0600)
    try:
        yield scratch
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    os.replace(scratch, target)


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options for the pipeline's Parquet files (``pq.ParquetWriter(..., **options)``).

    Dictionary encoding only for the text columns: on the numbers (hundreds of
    float aggregates) it hashes every value of every row group and costs about a
    third of the writing time, for files only about a quarter smaller.
    """
    text = [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]
    return {"use_dictionary": text or False}


def read_ahead(pool: Executor, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """``fn(item)`` of each item, in order, the next one running on ``pool`` meanwhile.

    While the caller works on one result, the next item's ``fn`` runs: two results
    at most are alive. An error of ``fn`` is raised when its result is reached.
    """
    pending: Future[R] | None = None
    for item in items:
        ahead = pool.submit(fn, item)
        if pending is not None:
            yield pending.result()
        pending = ahead
    if pending is not None:
        yield pending.result()


class WriteBehind:
    """Writes run on ``pool`` one after another, behind the caller.

    Each :meth:`submit` first waits for the previous write (whose error is raised
    there), so one write is in flight at most; :meth:`wait` waits for the last one.
    """

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._pending: Future[Any] | None = None

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` once the previous write is done."""
        self.wait()
        self._pending = self._pool.submit(fn, *args, **kwargs)

    def wait(self) -> None:
        """Wait for the write in flight, if any (raising its error)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
