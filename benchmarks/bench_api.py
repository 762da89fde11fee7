"""Serving latency: POST /score through the API vs the model server directly vs in process.

Builds the same throwaway stack as tests/integration/test_serving.py (tiny data,
both contract models registered as @champion, published database, both model
servers and the API under gunicorn on free loopback ports), then measures for
one applicant, sequentially over ``--calls`` calls: p50/p99 latency and
throughput of (1) POST /score through the API, (2) a direct /invocations call to
the light model server, (3) the same pyfunc model called in process; and under
``--threads`` concurrent clients, the API's throughput. It also prints the
payload size of /compare/distribution next to the prototype's whole-column answer.

    python -m benchmarks.bench_api
    python -m benchmarks.bench_api --calls 500 --threads 8

Targets: API p50 < 15 ms, p99 < 60 ms, >= 150 req/s.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import requests

from credit_scoring.logs import setup_logging

log = logging.getLogger("benchmarks.api")

#: Clients who repaid (TARGET = 0) in the real application_train: 307,511 - 24,825.
REAL_REPAID = 282_686

APPLICANT = {
    "AMT_INCOME_TOTAL": 150000,
    "AMT_GOODS_PRICE": 450000,
    "AMT_CREDIT": 500000,
    "AMT_ANNUITY": 25000,
}


def _timed(call: Callable[[], object], calls: int) -> list[float]:
    for _ in range(min(20, calls)):
        call()  # warm-up: connections, caches
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _row(name: str, times: list[float], reference: float | None) -> str:
    p50 = statistics.median(times) * 1000
    p99 = sorted(times)[int(0.99 * (len(times) - 1))] * 1000
    rate = len(times) / sum(times)
    ratio = f"{p50 / reference:6.1f}x" if reference else "   ref"
    return f"{name:<34} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {rate:8.0f} req/s  {ratio}"


def main(argv: list[str] | None = None) -> None:
    """Build the stack, measure, print the table, tear down."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    setup_logging()

    import mlflow

    from credit_scoring.api.launcher import ServingStack
    from credit_scoring.publish import load_champion, publish
    from tests.integration.test_serving import FEATURES, _free_port, _register_models
    from tests.unit.test_api_app import serve_config
    from tests.unit.test_api_publish import SETTINGS, tiny_clients

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        clients = tiny_clients(n_train=2000, n_test=300, seed=3)
        tracking_uri = _register_models(tmp, clients)
        champions = {n: load_champion(n, f"credit-scoring-{n}", "champion") for n in FEATURES}
        database_url = f"sqlite:///{tmp / 'clients.db'}"
        publish(clients, champions, database_url, SETTINGS)
        mlflow.set_tracking_uri(None)
        ports = {"full": _free_port(), "light": _free_port()}
        config = serve_config(database_url, ports)
        api_port = _free_port()
        config["api"].update(
            host="127.0.0.1", port=api_port, workers=2, threads=4, timeout=30, graceful_timeout=3
        )
        config.update(startup_timeout=120, stop_timeout=10)
        stack = ServingStack(config, tracking_uri)
        stack.start()
        try:
            api = f"http://127.0.0.1:{api_port}"
            session = requests.Session()
            light_server = f"http://127.0.0.1:{ports['light']}/invocations"
            direct_body = {
                "dataframe_split": {"columns": list(APPLICANT), "data": [list(APPLICANT.values())]}
            }
            frame = pd.DataFrame([APPLICANT]).astype(float)
            light = champions["light"]

            in_process = _timed(lambda: light.predict(frame), args.calls)
            direct = _timed(lambda: session.post(light_server, json=direct_body), args.calls)
            through_api = _timed(lambda: session.post(f"{api}/score", json=APPLICANT), args.calls)
            reference = statistics.median(in_process) * 1000  # ms, as the rows print
            print("\nPOST /score, one applicant, light model, sequential calls")
            print(_row("in process (pyfunc.predict)", in_process, None))
            print(_row("model server /invocations", direct, reference))
            print(_row("API POST /score", through_api, reference))

            def burst(_: int) -> None:
                with requests.Session() as s:
                    for _ in range(args.calls // args.threads):
                        s.post(f"{api}/score", json=APPLICANT)

            start = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(burst, range(args.threads)))
            total = (args.calls // args.threads) * args.threads
            rate = total / (time.perf_counter() - start)
            print(f"API POST /score, {args.threads} concurrent clients: {rate:.0f} req/s")

            hist = session.get(f"{api}/compare/distribution?feature=AMT_INCOME_TOTAL&bins=10")
            column = session.get(f"{api}/legacy/compare/distribution_income")
            n_repaid = len(column.json())
            real_mb = len(column.content) / max(n_repaid, 1) * REAL_REPAID / 1e6
            print(
                f"\n/compare/distribution: {len(hist.content)} bytes; prototype's whole column: "
                f"{len(column.content)} bytes for {n_repaid} repaid clients "
                f"(~{real_mb:.1f} MB for the {REAL_REPAID:,} repaid clients of the real data)"
            )
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
