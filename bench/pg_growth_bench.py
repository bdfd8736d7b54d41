"""``python -m bench.pg_growth_bench [--rounds 3] [--updates 3000]``

Does PostgreSQL's work per update stay flat as a new database fills? The Telegram benchmark's
workload (``bench.telegram_bench``) against the Nudgebot server alone, on one new database:
a warm-up of 1,000 updates, then ``--rounds`` runs of ``--updates`` updates, each printing
the server's and its PostgreSQL backends' CPU per update (from /proc; the server is local).
Plans made while the tables were empty and kept as they grow show as PostgreSQL's CPU per
update climbing from round to round. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import fresh_database, load, machine, pg_available, postgres_cpu
from bench.telegram_bench import Server, Workload, config_yaml, drive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_growth_bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=3000)
    args = parser.parse_args(argv)
    if why := pg_available():
        print(f"PostgreSQL unavailable: {why}")
        return 1
    print(machine())
    with tempfile.TemporaryDirectory() as folder, fresh_database("postgresql") as url:
        config = Path(folder) / "nudgebot.yaml"
        config.write_text(config_yaml(), encoding="utf-8")
        server = Server("nudgebot", url, str(config))
        try:
            work = Workload()
            asyncio.run(
                drive(server.port, [work.request(server.port) for _ in range(1000)], 32, 60)
            )
            for n in range(1, args.rounds + 1):
                requests = [work.request(server.port) for _ in range(args.updates)]
                cpu, db_cpu, began = server.cpu(), postgres_cpu(url), time.perf_counter()
                run = asyncio.run(drive(server.port, requests, 32, 120))
                cpu, db_cpu = server.cpu() - cpu, postgres_cpu(url) - db_cpu
                done = max(run.count, 1)
                print(
                    f"  round {n}: {run.count:,} stored ({run.errors} non-2xx) at "
                    f"{run.count / (time.perf_counter() - began):,.0f}/s; server CPU "
                    f"{cpu / done * 1000:.2f} ms/update, PostgreSQL CPU "
                    f"{db_cpu / done * 1000:.2f} ms/update (load {load()})"
                )
        finally:
            server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
