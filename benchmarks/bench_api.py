"""Serving latency: through the API vs the model server directly vs in process.

Measures the stack `make serve` runs, on the models and database of the last
`make pipeline` (the registered champions in the local MLflow store and the
published clients database), with both model servers and the API under gunicorn
started by the real launcher on free loopback ports. For one applicant,
sequentially over ``--calls`` calls, p50/p99 latency and throughput of:

- light model: POST /score through the API, a direct /invocations call, and the
  same pyfunc model called in process;
- full model (795 features, history as one JSON column): GET
  /clients/{id}/score?model=full through the API, a direct /invocations call with
  the model's logged serving example, and in process;

then the API's sustained throughput under ``--threads`` concurrent clients for
``--seconds``, with the CPU each server and the load generator spend per request
(read from /proc: the Linux machines this runs on), and the payload
of /compare/distribution next to the prototype's whole-column answer.

    make pipeline && python -m benchmarks.bench_api [--calls 500 --threads 8] [overrides]

Targets: API p50 < 15 ms, p99 < 60 ms, >= 150 req/s for one applicant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import requests

from credit_scoring.api.launcher import ServingStack
from credit_scoring.logs import setup_logging
from tests.conftest import free_port

log = logging.getLogger("benchmarks.api")

REPO_ROOT = Path(__file__).resolve().parents[1]

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
    """Start the stack on the pipeline's outputs, measure, print the tables, tear down."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the load run")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. serve.api.workers=3")
    args = parser.parse_args(argv)
    setup_logging()

    import mlflow
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from credit_scoring.registry import resolve_tracking_uri

    # Ports as overrides: the supervised programs' command lines interpolate them.
    ports = {name: free_port() for name in ("full", "light")}
    api_port = free_port()
    placed = [f"serve.model_servers.{name}.port={port}" for name, port in ports.items()]
    placed.append(f"serve.api.port={api_port}")
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base=None):
        cfg = compose(config_name="config", overrides=[*placed, *args.overrides])
    config = OmegaConf.to_container(cfg.serve, resolve=True)
    database = REPO_ROOT / "data" / "serving" / "clients.db"
    if not database.is_file():
        raise SystemExit(f"{database} not found: run `make pipeline` first")
    tracking_uri = resolve_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)

    models = {n: mlflow.pyfunc.load_model(f"models:/credit-scoring-{n}@champion") for n in ports}
    example = json.loads((REPO_ROOT / "models/full/model/serving_input_example.json").read_text())
    full_frame = pd.DataFrame(**example["dataframe_split"]).head(1)
    full_body = {"dataframe_split": json.loads(full_frame.to_json(orient="split", index=False))}
    light_frame = pd.DataFrame([APPLICANT]).astype(float)
    light_body = {"dataframe_split": json.loads(light_frame.to_json(orient="split", index=False))}

    stack = ServingStack(config, tracking_uri)
    stack.start()
    try:
        api = f"http://127.0.0.1:{api_port}"
        session = requests.Session()
        client_id = _some_client(database)
        server = {n: f"http://127.0.0.1:{p}/invocations" for n, p in ports.items()}
        for name, frame, body, through_api in (
            (
                "light",
                light_frame,
                light_body,
                lambda: session.post(f"{api}/score", json=APPLICANT),
            ),
            (
                "full",
                full_frame,
                full_body,
                lambda: session.get(f"{api}/clients/{client_id}/score?model=full"),
            ),
        ):
            model = models[name]
            in_process = _timed(lambda m=model, f=frame: m.predict(f), args.calls)
            direct = _timed(lambda n=name, b=body: session.post(server[n], json=b), args.calls)
            api_times = _timed(through_api, args.calls)
            reference = statistics.median(in_process) * 1000  # ms, as the rows print
            print(f"\n{name} model, one applicant, sequential calls (ratio: p50 / in process)")
            print(_row("in process (pyfunc.predict)", in_process, None))
            print(_row("model server /invocations", direct, reference))
            print(_row("through the API", api_times, reference))

        rate, cpu = _sustained(f"{api}/score", args.threads, args.seconds, stack)
        print(
            f"\nAPI POST /score (light), {args.threads} concurrent clients for "
            f"{args.seconds:.0f} s: {rate:.0f} req/s sustained"
        )
        cpus = os.cpu_count() or 1
        print(f"CPU per request ({cpus} CPUs give {cpus * 1000:,} ms of CPU per second):")
        for role, ms in cpu.items():
            print(f"  {role:<34} {ms:6.2f} ms")

        hist = session.get(f"{api}/compare/distribution?feature=AMT_INCOME_TOTAL&bins=50")
        column = session.get(f"{api}/legacy/compare/distribution_income")
        n_repaid = len(column.json())
        real_mb = len(column.content) / max(n_repaid, 1) * REAL_REPAID / 1e6
        print(
            f"\n/compare/distribution (50 bins): {len(hist.content):,} bytes; the prototype's "
            f"whole column: {len(column.content):,} bytes for {n_repaid:,} repaid clients "
            f"(~{real_mb:.1f} MB for the {REAL_REPAID:,} repaid clients of the real data)"
        )
    finally:
        stack.stop()


def _sustained(
    url: str, threads: int, seconds: float, stack: ServingStack
) -> tuple[float, dict[str, float]]:
    """Requests/s of ``threads`` keep-alive clients POSTing one applicant for ``seconds``,
    and the CPU time per request of each server (all its workers) and of this load
    generator, read from /proc: on 2 shared cores, what each part costs decides the rate.
    """
    body = json.dumps(APPLICANT).encode()
    headers = {"Content-Type": "application/json"}
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        with requests.Session() as s:
            while time.perf_counter() < deadline:
                s.post(url, data=body, headers=headers).raise_for_status()
                done[i] += 1

    groups = {name: process.pid for name, process in stack.processes.items()}
    before, self_before = _group_cpu(groups), _self_cpu()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(client, range(threads)))
    elapsed = time.perf_counter() - start
    after, self_after = _group_cpu(groups), _self_cpu()
    total = sum(done)
    cpu = {f"{name} (all workers)": (after[name] - before[name]) / total * 1000 for name in groups}
    cpu["load generator (this process)"] = (self_after - self_before) / total * 1000
    return total / elapsed, cpu


def _group_cpu(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the live processes of each process group."""
    tick = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys(groups, 0.0)
    by_group = {pgid: name for name, pgid in groups.items()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        name = by_group.get(int(fields[2]))  # field 5 of stat: the process group
        if name is not None:
            used[name] += (int(fields[11]) + int(fields[12])) / tick
    return used


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _some_client(database: Path) -> int:
    """A known client id from the published database."""
    import sqlite3

    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT SK_ID_CURR FROM clients LIMIT 1").fetchone()[0])


if __name__ == "__main__":
    main()
