"""Serving latency: through the API vs the model server directly vs in process.

Measures the stack `make serve` runs, on the models and database of the last
`make pipeline` (the registered champions in the local MLflow store and the
published clients database), with both model servers and the API under gunicorn
started by the real launcher on free loopback ports, access control on (one API
key, as in production). For one applicant, sequentially over ``--calls`` calls,
p50/p99 latency of:

- light model: the pyfunc model called in process (the reference), MLflow's
  ``/invocations`` handler called in process (JSON parsing + predict + JSON
  answer, no HTTP), the model server over HTTP in each request format MLflow
  accepts (``dataframe_split``, ``inputs``, CSV), and POST /score through the API;
  the HTTP rows twice, with a keep-alive client and with a new connection per call
  (what the prototype's front end does);
- full model (795 features, history as one JSON column): in process, the model
  server with its logged serving example, and GET /clients/{id}/score?model=full;

then the API's sustained POST /score rate under ``--threads`` concurrent keep-alive
clients for ``--seconds``, next to the single-thread in-process rate (1 / mean
in-process time), with the CPU each server and the load generator spend per request
(read from /proc: the Linux machines this runs on), and the payload of
/compare/distribution next to the prototype's whole-column answer.

    make pipeline && python -m benchmarks.bench_api [--calls 500 --threads 8] [overrides]

Targets, as ratios to the in-process predict of the same run: through the API
p50 <= 3x (keep-alive), sustained POST /score with 8 clients >= 50% of the
single-thread in-process rate. The rate limits are policy, not capacity: the
benchmark raises them (``serve.api.rate_limits.*``) so that it measures the
stack, limiter included.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import resource
import secrets
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
#: The environment variable the benchmark's API key is handed over in (conf/serve).
KEYS_ENV = "CREDIT_SCORING_API_KEYS"
#: High enough never to bind: the benchmark measures capacity, not policy.
UNLIMITED = "1000000/second"


def _timed(call: Callable[[], object], calls: int) -> list[float]:
    for _ in range(min(20, calls)):
        call()  # warm-up: connections, caches
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def _p50(times: list[float]) -> float:
    return statistics.median(times) * 1000


def _row(name: str, times: list[float], reference: float | None) -> str:
    p50 = _p50(times)
    p99 = sorted(times)[int(0.99 * (len(times) - 1))] * 1000
    ratio = f"{p50 / reference:5.1f}x" if reference else "  ref"
    return f"  {name:<44} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {ratio}"


def _ok(response: requests.Response) -> requests.Response:
    response.raise_for_status()
    return response


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
    from mlflow.pyfunc.scoring_server import invocations

    from credit_scoring.config import compose_config
    from credit_scoring.registry import resolve_tracking_uri

    # Ports as overrides: the supervised programs' command lines interpolate them.
    ports = {name: free_port() for name in ("full", "light")}
    api_port = free_port()
    placed = [f"serve.model_servers.{name}.port={port}" for name, port in ports.items()]
    placed.append(f"serve.api.port={api_port}")
    placed += [f"serve.api.rate_limits.{s}={UNLIMITED}" for s in ("read", "score")]
    conf = compose_config([*placed, *args.overrides], REPO_ROOT / "conf")[1]
    config = conf.serve.model_dump(mode="json")
    database = REPO_ROOT / "data" / "serving" / "clients.db"
    if not database.is_file():
        raise SystemExit(f"{database} not found: run `make pipeline` first")
    tracking_uri = resolve_tracking_uri(conf.mlflow.tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    key = secrets.token_urlsafe(32)
    os.environ[KEYS_ENV] = f"bench:read+score:{key}"  # inherited by the API workers

    models = {n: mlflow.pyfunc.load_model(f"models:/credit-scoring-{n}@champion") for n in ports}
    example = json.loads((REPO_ROOT / "models/full/model/serving_input_example.json").read_text())
    # One row; its empty optional columns left out, as the API sends a stored client.
    full_frame = pd.DataFrame(**example["dataframe_split"]).head(1).dropna(axis=1, how="all")
    full_body = {"dataframe_split": json.loads(full_frame.to_json(orient="split", index=False))}
    light_frame = pd.DataFrame([APPLICANT]).astype(float)
    light_bodies = _request_formats(light_frame)

    stack = ServingStack(config, tracking_uri)
    stack.start()
    try:
        api = f"http://127.0.0.1:{api_port}"
        headers = {"Authorization": f"Bearer {key}"}
        session = requests.Session()
        session.headers.update(headers)
        client_id = _some_client(database)
        server = {n: f"http://127.0.0.1:{p}/invocations" for n, p in ports.items()}

        light = models["light"]
        in_process = _timed(lambda: light.predict(light_frame), args.calls)
        reference = _p50(in_process)
        schema = light.metadata.get_input_schema()
        split_bytes, _ = light_bodies["dataframe_split"]
        handler = _timed(
            lambda: invocations(split_bytes, "application/json", light, schema), args.calls
        )
        print("\nlight model, one applicant, sequential calls (ratio: p50 / in-process p50)")
        print(_row("in process (pyfunc.predict)", in_process, None))
        print(_row("MLflow /invocations handler, in process", handler, reference))
        for connection, post in (
            ("keep-alive", session.post),
            ("new connection per call", requests.post),
        ):
            print(f" {connection}:")
            for fmt, (body, content_type) in light_bodies.items():
                times = _timed(
                    lambda b=body, c=content_type, p=post: _ok(
                        p(server["light"], data=b, headers={"Content-Type": c})
                    ),
                    args.calls,
                )
                print(_row(f"model server /invocations ({fmt})", times, reference))
            api_times = _timed(
                lambda p=post: _ok(p(f"{api}/score", json=APPLICANT, headers=headers)), args.calls
            )
            print(_row("through the API (POST /score)", api_times, reference))

        full = models["full"]
        full_in_process = _timed(lambda: full.predict(full_frame), args.calls)
        full_reference = _p50(full_in_process)
        print("\nfull model, one stored client, sequential keep-alive calls")
        print(_row("in process (pyfunc.predict)", full_in_process, None))
        print(
            _row(
                "model server /invocations (dataframe_split)",
                _timed(lambda: _ok(session.post(server["full"], json=full_body)), args.calls),
                full_reference,
            )
        )
        print(
            _row(
                "through the API (GET /clients/{id}/score)",
                _timed(
                    lambda: _ok(session.get(f"{api}/clients/{client_id}/score?model=full")),
                    args.calls,
                ),
                full_reference,
            )
        )

        single_rate = len(in_process) / sum(in_process)
        rate, cpu = _sustained(f"{api}/score", headers, args.threads, args.seconds, stack)
        print(
            f"\nAPI POST /score (light), {args.threads} concurrent keep-alive clients for "
            f"{args.seconds:.0f} s: {rate:.0f} req/s sustained; single-thread in-process "
            f"predict: {single_rate:.0f} calls/s; ratio {rate / single_rate:.0%}"
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
        os.environ.pop(KEYS_ENV, None)


def _request_formats(frame: pd.DataFrame) -> dict[str, tuple[bytes, str]]:
    """The same rows as each request body MLflow's scoring server accepts."""
    split = json.loads(frame.to_json(orient="split", index=False))
    inputs = {name: frame[name].tolist() for name in frame.columns}
    csv = io.StringIO()
    frame.to_csv(csv, index=False)
    return {
        "dataframe_split": (json.dumps({"dataframe_split": split}).encode(), "application/json"),
        "inputs": (json.dumps({"inputs": inputs}).encode(), "application/json"),
        "csv": (csv.getvalue().encode(), "text/csv"),
    }


def _sustained(
    url: str, headers: dict[str, str], threads: int, seconds: float, stack: ServingStack
) -> tuple[float, dict[str, float]]:
    """Requests/s of ``threads`` keep-alive clients POSTing one applicant for ``seconds``,
    and the CPU time per request of each server (all its workers) and of this load
    generator, read from /proc: on 2 shared cores, what each part costs decides the rate.
    """
    body = json.dumps(APPLICANT).encode()
    sent: dict[str, Any] = {**headers, "Content-Type": "application/json"}
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def client(i: int) -> None:
        with requests.Session() as s:
            while time.perf_counter() < deadline:
                s.post(url, data=body, headers=sent).raise_for_status()
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
