"""Bulk import: 10,000 leads through `crmgraph import leads`, a real process, against the
Salesforce simulator with 50 ms latency and a rate limit, the same limit configured as the
source's own pace. The floor is what the limit allows: the requests needed over the rate, plus
one round trip. Peak memory is the import process's own high-water mark (``VmHWM``), read from
``/proc`` while it runs: not ``wait4``'s ``ru_maxrss``, which Linux carries over from the
spawning process through ``exec`` (a ``/bin/true`` spawned by a 300 MiB process reports 313 MiB),
so it gave the benchmark's own size whenever that was larger.
"""

from __future__ import annotations

import asyncio
import csv
import math
import os
import re
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml
from faker import Faker

from app.demo import DEMO_ENV, demo_config
from tests.benchmarks.harness import CRMGRAPH, free_port, process, wait_until_up

LEADS = 10_000
LATENCY_MS = 50
RATE = 25  # requests a second, at the simulator and as the source's configured pace
BATCH = 200
SEED = 7

# `crmgraph` with the import command, however app/cli.py is wired.
CREATE_MANY = "POST /services/data/{version}/composite/sobjects"
_SUMMARY = re.compile(r"upstream requests: (\d+); wall time ([\d.]+)s")


def write_leads(path: Path, count: int) -> None:
    fake = Faker("en_GB")
    fake.seed_instance(SEED)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["firstName", "lastName", "email", "phone", "company", "leadSource", "brand"])
        for i in range(count):
            first, last = fake.first_name(), fake.last_name()
            local = re.sub(r"[^a-z]", "", f"{first}.{last}".lower()) or "lead"
            out.writerow(
                [
                    first,
                    last,
                    f"{local}.{i}@{fake.domain_name()}",
                    f"+44 20 7946 {i % 10_000:04d}" if i % 2 else "",
                    fake.company(),
                    "Web",
                    "luckyspin" if i % 3 else "goldcoast",
                ]
            )


def high_water_kib(pid: int) -> int | None:
    """The process's peak resident memory so far (KiB), or None once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def watch_peak(pid: int, done: threading.Event, peak: list[int]) -> None:
    """Keep the largest high-water mark seen, every 5 ms until ``done``."""
    while not done.wait(0.005):
        seen = high_water_kib(pid)
        if seen is not None:
            peak[0] = max(peak[0], seen)


def run_import(argv: list[str], env: dict[str, str]) -> tuple[int, str, float, int]:
    """Exit status, stdout, wall seconds and peak RSS (KiB) of one import process."""
    read, write = os.pipe()
    started = time.perf_counter()
    pid = os.posix_spawn(
        CRMGRAPH,
        [CRMGRAPH, *argv],
        env,
        file_actions=[
            (os.POSIX_SPAWN_DUP2, write, 1),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_CLOSE, read),
        ],
    )
    os.close(write)
    done, peak = threading.Event(), [0]
    watcher = threading.Thread(target=watch_peak, args=(pid, done, peak))
    watcher.start()
    try:
        with os.fdopen(read, encoding="utf-8") as pipe:
            stdout = pipe.read()  # to the end: the process has closed its output, at exit
    finally:
        done.set()
        watcher.join()
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - started
    return os.waitstatus_to_exitcode(status), stdout, wall, peak[0]


async def run() -> None:
    print(f"== bulk import: {LEADS:,} leads, {LATENCY_MS} ms latency, {RATE} requests/s ==")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory(prefix="crmgraph-import-") as folder,
        process("simulate", "--port", str(port), "--only", "salesforce"),
    ):
        await wait_until_up(f"{base}/salesforce/__stats")
        work = Path(folder)
        leads = work / "leads.csv"
        write_leads(leads, LEADS)
        config = demo_config(base)
        sf = config["sources"]["salesforce"]  # type: ignore[index]
        sf["resilience"] = {"rate_limit": {"requests": RATE, "per_seconds": 1}}
        config["writes"] = {
            "outbox_path": str(work / "outbox.sqlite3"),
            "default_phone_region": "GB",
        }
        config_file = work / "crmgraph.yaml"
        config_file.write_text(yaml.safe_dump(config))
        async with httpx.AsyncClient(base_url=f"{base}/salesforce") as client:
            # Salesforce's API allowance counts API calls, not the OAuth token request: the
            # limit is on the data route the import uses.
            limit = {"rate_limit": {"requests": RATE, "per_seconds": 1}}
            faults = {"latency_ms": LATENCY_MS, "routes": {CREATE_MANY: limit}}
            (await client.put("/__config", json=faults)).raise_for_status()
            (await client.post("/__reset")).raise_for_status()
            argv = ["import", "leads", str(leads), "--config", str(config_file)]
            code, stdout, wall, maxrss = await asyncio.to_thread(
                run_import, argv, {**os.environ, **DEMO_ENV}
            )
            stats = (await client.get("/__stats")).json()
        match = _SUMMARY.search(stdout)
        if code != 0 or match is None:
            print(f"  the import failed (exit {code}):\n{stdout}")
            return
        import_wall = float(match.group(2))
        needed = math.ceil(LEADS / BATCH)  # the collections (the token is not rate-limited)
        floor = needed / RATE + LATENCY_MS / 1000
        refused = stats["refused"]["total"]
        print(f"  {stdout.splitlines()[0]}")
        print(
            f"  wall time (import)          {import_wall:8.2f} s   {LEADS / import_wall:8.0f} rec/s"
        )
        print(f"  wall time (process, exec→exit){wall:6.2f} s   {LEADS / wall:8.0f} rec/s")
        print(
            f"  upstream requests           {stats['total']:8d}     (the importer counted "
            f"{match.group(1)}; refused by the limit: {refused})"
        )
        print(f"  peak memory (import process){maxrss / 1024:7.1f} MiB")
        print(
            f"  floor the limit allows      {floor:8.2f} s   "
            f"({needed} requests / {RATE}/s + {LATENCY_MS} ms)"
        )
        print(
            f"  ratio to the floor          {import_wall / floor:8.2f}x import, "
            f"{wall / floor:.2f}x process (aim: within 1.15x)\n"
        )
