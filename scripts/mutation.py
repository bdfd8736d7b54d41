"""``make mutation``: mutation testing of the modules where a silent bug costs most.

Each module is mutated by mutmut (one small change at a time: a flipped comparison, a
dropped condition, a changed number or keyword) and only the test files that exercise it
are run against each mutant; a mutant the tests do not fail "survived". Those are pure, fast
test files where one exists (each mutant costs one run of them): no servers, no subprocesses;
a fast file of exact outputs goes first, so ``-x`` stops most runs within a second. Every
survivor is either killed by a new test or listed in docs/testing.md with why it is equivalent.

The run happens in a scratch copy of the working tree (build/mutation/<module>), because
mutmut edits the file in place; the checkout is never touched. It is not part of CI (tens of
minutes); run it before resolving an issue that touches these modules:

    make mutation                      # every module below
    make mutation ONLY="outbox routing"  # a subset, by the names in the first column

String mutations are off: they turn every error message and log text into a survivor
without saying anything about behaviour (states and other strings that matter are compared
by tests through the behaviour they select).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "build" / "mutation"


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    tests: tuple[str, ...]


TARGETS = (
    Target("outbox", "storage/outbox_repo.py", (
        "tests/engine/test_engine_outbox.py", "tests/engine/test_storage_outbox_schema.py",
        "tests/engine/test_delivery_lanes.py")),
    Target("outbox_updates", "storage/outbox_updates_repo.py", (
        "tests/engine/test_engine_outbox.py", "tests/engine/test_engine_actions.py")),
    Target("webhook_hmac", "bot/web/hooks.py", ("tests/web/test_web_hooks.py",)),
    Target("telegram_secret", "adapters/telegram/webhook.py", (
        "tests/telegram/test_telegram_ingest.py",)),
    Target("conversation", "bot/domain/conversation.py", ("tests/domain/test_conversation.py",)),
    Target("routing", "bot/domain/routing.py", ("tests/engine/test_routing.py",)),
    Target("ladder", "bot/domain/ladder.py", ("tests/engine/test_ladder_pure.py",)),
    Target("clock", "bot/domain/clock.py", (
        "tests/domain/test_clock.py", "tests/domain/test_clock_dst_gap.py")),
    Target("rotation", "bot/domain/rotation.py", (
        "tests/domain/test_rotation.py", "tests/domain/test_rotation_edges.py")),
    Target("stats", "bot/domain/stats.py", ("tests/domain/test_stats_summary.py",)),
    Target("telegram_render", "adapters/telegram/render.py", (
        "tests/telegram/test_telegram_render.py",)),
    Target("htmltext", "bot/domain/htmltext.py", ("tests/polled/test_polling_domain.py",)),
    Target("untrusted", "bot/domain/untrusted.py", (
        "tests/security/test_untrusted_exact.py", "tests/security/test_untrusted_text.py")),
    Target("inbox_recent", "bot/inbox/recent.py", ("tests/inbox/test_recent_ids.py",)),
    Target("inbox_batcher", "bot/inbox/batcher.py", (
        "tests/inbox/test_inbox_batching.py", "tests/inbox/test_inbox_batcher.py")),
    Target("threading", "bot/domain/threading.py", (
        "tests/domain/test_threading_rules.py", "tests/telegram/test_telegram_updates.py")),
)  # fmt: skip

# mutmut 2 stops a mutant's test run after 10 × the clean run's time (a hang is a kill); a
# run that tests no mutant for STALL seconds, past that on a busy machine, is stuck instead.
STALL = 1200
KILLED = {"ok_killed", "bad_timeout", "ok_suspicious"}  # a hang or a crawl is caught too
# Present in a module's scratch directory while a run owns it. `mutmut show` (which the
# report uses) re-reads the file's lines into mutmut's cache: done while a mutant is applied,
# it records the mutated line, and the run's worker then dies on "Mutant.line is required".
RUNNING = "RUNNING"


def scratch_copy(target: Target) -> Path:
    """The working tree's files (tracked and new, as they are now) under build/mutation/."""
    dest = WORK / target.name  # kept between runs: mutmut's cache there resumes a run
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    for rel in listed:
        source = REPO / rel
        if source.is_file() and not rel.startswith("build/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def run(target: Target, python: str, budget: float) -> dict[str, object]:
    where = scratch_copy(target)
    # mutmut 2 counts only exit status 1 as a failing run; a mutant that breaks collection
    # (pytest's 2) would pass as a survivor, so any pytest failure is 1 here. The runner is
    # ONE process (pytest in-process), not `sh -c 'pytest || exit 1'`: on a timeout mutmut
    # kills the process it started, and a pytest left behind by a killed shell keeps mutmut's
    # pty open, so mutmut waited for ever on a mutant that loops (untrusted #67, clock #140).
    args = ["-x", "-q", "-p", "no:cacheprovider", *target.tests]
    code = f"import sys, pytest; sys.exit(1 if pytest.main({args!r}) else 0)"
    runner = shlex.join([python, "-c", code])
    command = [
        "nice", "-n", "10", python, "-m", "mutmut", "run",
        "--paths-to-mutate", target.path, "--runner", runner,
        "--disable-mutation-types", "string,fstring", "--simple-output", "--no-progress",
    ]  # fmt: skip
    started = time.monotonic()
    marker = where / RUNNING
    marker.write_text(str(os.getpid()), encoding="utf-8")
    try:
        finished = _supervise(command, where, started + budget)
    finally:
        # mutmut restores the file after each mutant; a timeout may leave one applied.
        shutil.copy2(REPO / target.path, where / target.path)
        marker.unlink(missing_ok=True)
    return _collect(target, python, finished, round(time.monotonic() - started))


def _collect(target: Target, python: str, finished: bool | None, seconds: int) -> dict[str, object]:
    where = WORK / target.name
    statuses = _statuses(where)
    if finished is None:
        finished = bool(statuses) and all(s != "untested" for _, s in statuses)
    survivors = [_show(where, python, i) for i, status in statuses if status == "bad_survived"]
    total = sum(1 for _, s in statuses if s != "untested")
    killed = sum(1 for _, s in statuses if s in KILLED)
    return {
        "name": target.name, "path": target.path, "tested": total, "killed": killed,
        "untested": sum(1 for _, s in statuses if s == "untested"), "survivors": survivors,
        "finished": finished, "seconds": seconds,
    }  # fmt: skip


def _tested(where: Path) -> int:
    return sum(1 for _, status in _statuses(where) if status != "untested")


def _supervise(command: list[str], where: Path, deadline: float) -> bool:
    """Run mutmut until every mutant is tested or ``deadline``; True when all were.

    mutmut 2 hands mutants to a worker process; when that worker dies (a killed test run
    can take it along) the parent waits forever. A run that tests no mutant for ``STALL``
    seconds is stopped and started again: mutmut resumes from its cache. A run that ends by
    itself having tested nothing new is not started again: what it left untested it will
    never test (the duplicate-line trap in docs/testing.md)."""
    while time.monotonic() < deadline:
        log = (where / "mutmut.log").open("a")
        proc = subprocess.Popen(command, cwd=where, stdout=log, stderr=log, start_new_session=True)
        done, last = _tested(where), time.monotonic()
        before = done
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(5)
            now_done = _tested(where)
            if now_done != done:
                done, last = now_done, time.monotonic()
            elif time.monotonic() - last > STALL:
                break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if all(status != "untested" for _, status in _statuses(where)) and _statuses(where):
            return True
        if proc.returncode is not None and proc.returncode >= 0 and _tested(where) == before:
            return False  # mutmut finished on its own and skipped what is left
    return False


def _running(where: Path) -> bool:
    try:
        os.kill(int((where / RUNNING).read_text(encoding="utf-8")), 0)
    except (OSError, ValueError):
        return False  # no marker, or its run is gone (killed before it could remove it)
    return True


def _statuses(where: Path) -> list[tuple[int, str]]:
    cache = where / ".mutmut-cache"
    if not cache.exists():
        return []
    with sqlite3.connect(cache) as conn:
        return list(conn.execute("SELECT id, status FROM Mutant ORDER BY id"))


def _show(where: Path, python: str, mutant_id: int) -> str:
    shown = subprocess.run(
        [python, "-m", "mutmut", "show", str(mutant_id)],
        cwd=where, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    lines = [ln for ln in shown.splitlines() if ln.startswith(("-", "+", "@@")) and ln[:3] != "---"]
    lines = [ln for ln in lines if not ln.startswith("+++")]
    return f"#{mutant_id} " + " | ".join(ln.strip() for ln in lines)


def report(results: list[dict[str, object]]) -> str:
    out = ["| module | file | mutants | killed | score | survivors | complete |",
           "| --- | --- | ---: | ---: | ---: | ---: | --- |"]  # fmt: skip
    for r in results:
        tested, killed = int(r["tested"]), int(r["killed"])  # type: ignore[call-overload]
        score = f"{100 * killed / tested:.1f} %" if tested else "—"
        survivors = r["survivors"]
        assert isinstance(survivors, list)
        done = "yes" if r["finished"] else f"no ({r['untested']} not run)"
        out.append(f"| {r['name']} | {r['path']} | {tested} | {killed} | {score} | "
                   f"{len(survivors)} | {done} |")  # fmt: skip
    for r in results:
        survivors = r["survivors"]
        assert isinstance(survivors, list)
        if survivors:
            out.append(f"\nSurvivors in {r['path']}:")
            out.extend(f"  {s}" for s in survivors)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="module names (first column); default: all")
    parser.add_argument("--budget", type=float, default=1800, help="seconds per module")
    parser.add_argument(
        "--report-only", action="store_true", help="print what the last runs left in build/mutation"
    )
    args = parser.parse_args(argv)
    names = {t.name for t in TARGETS}
    unknown = [n for n in args.only if n not in names]
    if unknown:
        parser.error(f"unknown module {unknown}; choose from {sorted(names)}")
    by_name = {t.name: t for t in TARGETS}
    chosen = [by_name[n] for n in args.only] if args.only else list(TARGETS)  # in the order given
    if args.report_only:
        busy = [t.name for t in chosen if _running(WORK / t.name)]
        if busy:
            print(f"skipped while a run owns them: {', '.join(busy)}", file=sys.stderr)
        done = [t for t in chosen if (WORK / t.name / ".mutmut-cache").exists()]
        done = [t for t in done if t.name not in busy]
        print(report([_collect(t, sys.executable, finished=None, seconds=0) for t in done]))
        return 0
    results = []
    for target in chosen:
        print(f"mutating {target.path} against {', '.join(target.tests)} …", flush=True)
        result = run(target, sys.executable, args.budget)
        results.append(result)
        print(report([result]).splitlines()[2], f"({result['seconds']} s)", flush=True)
    text = report(results)
    print("\n" + text)
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "report.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
