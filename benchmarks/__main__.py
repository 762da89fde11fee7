"""Run every benchmark module (``benchmarks/bench_*.py``) at its default settings, in name order.

Options belong to each benchmark (``python -m benchmarks.bench_features --full``); this
runner takes none, so the modules' own argument parsers see an empty command line. A
benchmark that fails is logged and the others still run; the exit status reports it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

import benchmarks
from credit_scoring.logs import setup_logging

log = logging.getLogger("benchmarks")


def main() -> int:
    """Run each benchmark's ``main()``; return 1 if any of them raised."""
    argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__).parse_args()
    setup_logging()
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    failed = []
    for name in names:
        log.info("benchmark %s", name)
        try:
            importlib.import_module(f"benchmarks.{name}").main()
        except Exception:
            log.exception("benchmark %s failed", name)
            failed.append(name)
    if failed:
        log.error("failed benchmarks: %s", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
