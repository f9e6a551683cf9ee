"""Parse benchmark: the bundled library plus 1,000 generated runbooks.

Run: .venv/bin/python bench/parse_bench.py
The last line is machine-readable (`BENCH parse ...`).
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.runbook import parse_runbook  # noqa: E402 - after the sys.path tweak
from bot.runbook.library import discover  # noqa: E402

GENERATED = 1000
SEED = 20240601  # fixed: the same corpus on every run


def generate(index: int, rng: random.Random) -> str:
    """One plausible runbook; sizes vary from a 3-step card to a long procedure."""
    phases = rng.randint(2, 8)
    out = [
        "---",
        f"id: GEN-{index:04d}",
        f"title: Generated runbook {index}",
        f"owner: Team {rng.randint(1, 9)}",
        f"severity: SEV{rng.randint(1, 3)}",
        "tags: [generated, bench]",
        "---",
        "",
        f"# Generated runbook {index}",
        "",
        "**Scenario:** the thing is on fire & <!channel> must not ping.",
        "",
    ]
    for p in range(phases):
        name = rng.choice(["Prerequisites", "Steps", "Diagnosis", "Validation", "Mitigation"])
        out += [f"## {name} {p}", "", "Some context paragraph with `code` and **bold**.", ""]
        for s in range(rng.randint(1, 12)):
            marker = rng.choice(["1.", "- [ ]", "2)"])
            out.append(f"{marker} Do step {s} of phase {p}: run the [check](https://x.io/{s})")
            if rng.random() < 0.4:
                out += ["   ```bash", f"   kubectl get pods -n ns{s} | grep -v Running", "   ```"]
            if rng.random() < 0.3:
                out += ["   - detail one", "   - detail two"]
        if rng.random() < 0.3:
            out += ["", "| a | b |", "|---|---|", "| 1 | 2 |"]
        out.append("")
    out += ["## Rollback", "", "- Undo everything.", ""]
    return "\n".join(out)


def run(sources: list[tuple[str, bytes]]) -> tuple[float, list[float], int]:
    """(total ms, per-file µs, steps parsed)."""
    times: list[float] = []
    steps = 0
    for path, data in sources:
        start = time.perf_counter()
        runbook, _ = parse_runbook(data, path)
        times.append((time.perf_counter() - start) * 1e6)
        steps += runbook.step_count if runbook is not None else 0
    return sum(times) / 1000, times, steps


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    files, _ = discover([ROOT / "runbooks"])
    library = [(str(f), f.read_bytes()) for f in files]
    rng = random.Random(SEED)
    generated = [(f"gen/{i}.md", generate(i, rng).encode()) for i in range(GENERATED)]
    parse_runbook(b"## Steps\n1. warm up\n", "warm.md")  # import/compile costs out of the timing

    lib_ms, lib_times, lib_steps = run(library)
    gen_ms, gen_times, gen_steps = run(generated)
    every = lib_times + gen_times

    print(f"{'corpus':<10} {'files':>6} {'bytes':>10} {'total ms':>9} {'p50 µs':>8} "
          f"{'p99 µs':>8} {'steps/s':>10}")  # fmt: skip
    for name, corpus, ms, times, steps in (
        ("library", library, lib_ms, lib_times, lib_steps),
        ("generated", generated, gen_ms, gen_times, gen_steps),
    ):
        size = sum(len(data) for _, data in corpus)
        rate = steps / (ms / 1000) if ms else 0.0
        print(
            f"{name:<10} {len(corpus):>6} {size:>10} {ms:>9.1f} {pct(times, 0.5):>8.0f} "
            f"{pct(times, 0.99):>8.0f} {rate:>10.0f}"
        )
    print(
        f"BENCH parse library_files={len(library)} library_ms={lib_ms:.1f} "
        f"generated_files={len(generated)} generated_ms={gen_ms:.1f} "
        f"per_file_p50_us={statistics.median(every) if every else 0:.0f} "
        f"per_file_p99_us={pct(every, 0.99):.0f}"
    )


if __name__ == "__main__":
    main()
