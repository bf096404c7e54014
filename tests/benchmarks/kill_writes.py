"""Issue 14: a real gateway under write load (750 createLead with idempotency keys from a few
concurrent clients) killed with SIGKILL twice mid-way and started again on the same files.
Counted in the Salesforce simulator afterwards: leads lost (a key whose lead never appears)
and duplicated (an email with more than one lead). The aim is 0 and 0."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.demo import DEMO_ENV, demo_config
from tests.benchmarks import harness
from tests.benchmarks.report import table

LEADS = 750
CLIENTS = 5
KILLS = 2
LATENCY_MS = 150  # a Salesforce create takes a while: kills land with creates in flight
LEAD_POSTS = "POST /services/data/{version}/sobjects/Lead"
CREATE = """mutation($input: CreateLeadInput!, $key: String) {
  createLead(input: $input, idempotencyKey: $key) { status syncJobId userErrors { code } } }"""
BY_EMAIL = """query($e: String) {
  leads(first: 5, filter: {email: $e}) { edges { node { id } } } }"""


@contextlib.contextmanager
def _serving(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [harness.CRMGRAPH, "serve", "--config", str(config)],
        env={**os.environ, **DEMO_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def _config(simulators_url: str, port: int, files: Path) -> Path:
    config = demo_config(simulators_url)
    config["server"] = {"port": port, "graphiql": False}
    config["auth"] = {"anonymous_role": "admin"}
    config["limits"] = {"rate": None}
    config["cache"] = {"enabled": False}
    config["writes"] = {
        "outbox_path": str(files / "outbox.sqlite3"),
        "worker_interval": 0.05,
        "backoff_base": 0.05,
        "max_attempts": 100,
        "default_phone_region": "GB",
    }
    path = files / "crmgraph.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _lead(n: int, run: str) -> dict[str, Any]:
    return {
        "firstName": "Load",
        "lastName": f"Test {n}",
        "email": f"load.{run}.{n}@example.com",
        "company": "Kill Nine Ltd",
        "brand": "luckyspin",
    }


async def _send(client: httpx.AsyncClient, lead: dict[str, Any], key: str) -> dict[str, Any]:
    """One createLead as a careful client sends it: resent with the same key until answered
    (the gateway may be dead, or starting again)."""
    while True:
        try:
            response = await client.post(
                "/graphql", json={"query": CREATE, "variables": {"input": lead, "key": key}}
            )
            if response.status_code == 200:
                answer: dict[str, Any] = response.json()["data"]["createLead"]
                if [e["code"] for e in answer["userErrors"]] != ["IN_PROGRESS"]:
                    return answer
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)


async def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp)
        async with harness.simulators() as sims:
            port = harness.free_port()
            base = f"http://127.0.0.1:{port}"
            config = _config(sims, port, files)
            async with httpx.AsyncClient(base_url=sims) as control:
                await control.put(
                    "/salesforce/__config",
                    json={"routes": {LEAD_POSTS: {"latency_ms": LATENCY_MS}}},
                )
            run_id = uuid.uuid4().hex[:8]
            work = [(_lead(n, run_id), f"bench-{run_id}-{n}") for n in range(LEADS)]
            answered: dict[str, dict[str, Any]] = {}
            queue: asyncio.Queue[tuple[dict[str, Any], str]] = asyncio.Queue()
            for item in work:
                queue.put_nowait(item)
            started = time.monotonic()
            kills = 0
            proc_box: list[subprocess.Popen[bytes]] = []
            with contextlib.ExitStack() as stack:
                proc_box.append(stack.enter_context(_serving(config)))
                await harness.wait_until_up(f"{base}/healthz")
                async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                    progressed = asyncio.Event()

                    async def worker() -> None:
                        while not queue.empty():
                            lead, key = queue.get_nowait()
                            answered[key] = await _send(client, lead, key)
                            progressed.set()

                    async def killer() -> None:
                        nonlocal kills
                        for at in (LEADS // 3, 2 * LEADS // 3)[:KILLS]:
                            while len(answered) < at:
                                progressed.clear()
                                await progressed.wait()
                            proc_box[-1].send_signal(signal.SIGKILL)
                            proc_box[-1].wait()
                            kills += 1
                            proc_box.append(stack.enter_context(_serving(config)))
                            await harness.wait_until_up(f"{base}/healthz")

                    await asyncio.gather(killer(), *(worker() for _ in range(CLIENTS)))
                    sent_in = time.monotonic() - started
                    # Drain: every key answers APPLIED once the worker is done.
                    drain_started = time.monotonic()
                    pending = [item for item in work if answered[item[1]]["status"] != "APPLIED"]
                    queued_answers = len(pending)
                    while pending and time.monotonic() - drain_started < 120:
                        await asyncio.sleep(0.5)
                        replays = await asyncio.gather(*(_send(client, *i) for i in pending))
                        pending = [
                            i
                            for i, a in zip(pending, replays, strict=True)
                            if a["status"] != "APPLIED"
                        ]
                    drained_in = time.monotonic() - drain_started
                    counts: list[int] = []
                    for start in range(0, LEADS, 50):
                        chunk = work[start : start + 50]
                        found = await asyncio.gather(
                            *(
                                client.post(
                                    "/graphql",
                                    json={"query": BY_EMAIL, "variables": {"e": lead["email"]}},
                                )
                                for lead, _ in chunk
                            )
                        )
                        counts += [len(r.json()["data"]["leads"]["edges"]) for r in found]
    lost = sum(1 for n in counts if n == 0)
    duplicated = sum(1 for n in counts if n > 1)
    print(
        table(
            f"createLead x{LEADS}, {CLIENTS} clients, gateway killed -9 {kills}x mid-load",
            [
                "leads",
                "kills",
                "answered QUEUED",
                "unapplied after drain",
                "lost",
                "duplicated",
                "load s",
                "drain s",
            ],
            [[LEADS, kills, queued_answers, len(pending), lost, duplicated, sent_in, drained_in]],
        )
    )
