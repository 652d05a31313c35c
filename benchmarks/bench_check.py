"""pytest-benchmark: how long the front end takes to check a large policy.

    python -m pytest benchmarks/bench_check.py --benchmark-columns=min,median,max

A generated policy of 5,000 declarations (lets, segments, classifications,
scores, channels and offers reading each other in chains, as a big
catalogue does) goes from text to a checked ir.Program: parse, build,
resolve, type check. The target is well under 2 s.
"""
from __future__ import annotations

import time

import pytest

from pol.compiler.frontend import compile_text

FIELDS = 40


def large_policy(declarations: int = 5_000) -> str:
    """A valid policy with exactly `declarations` declarations after the input block."""
    lines = ["policy large version \"1\"", "input customer key id {", "    id: int"]
    lines += [f"    f{k}: {'float' if k % 3 else 'int'}?" for k in range(FIELDS)]
    lines += ["    brand: string", "    opt_out: bool", "    last_active: date", "}"]
    out: list[str] = []
    segments: list[str] = []
    channels: list[str] = []
    k = 0
    while len(out) < declarations:
        kind = k % 10
        if kind in (0, 1, 2):
            prev = f"l{k - 10}" if k >= 10 else f"f{k % FIELDS}"
            out.append(f"let l{k} = ({prev} + f{(k + 1) % FIELDS}) / 3 - coalesce(f{(k + 2) % FIELDS}, 0) * 40%")
        elif kind in (3, 4):
            base = f"l{k - 3}" if k >= 3 else "f1"
            out.append(f"segment s{k} \"分群{k}\" = {base} > {k % 97} and brand in (\"全球通\", \"神州行\")"
                       f" or days_since(last_active) between 30 and 90")
            segments.append(f"s{k}")
        elif kind == 5:
            out.append(f"classify c{k} \"星级\" {{\n    when l{k - 5} >= 300 => \"金卡\"\n"
                       f"    when {segments[-1]} => \"银卡\"\n    else => \"普通\"\n}}")
        elif kind == 6:
            out.append(f"score r{k} = clamp(0.35 * min(f{k % FIELDS}, 3) / 3 + 0.65 * l{k - 6}, 0, 1)")
        elif kind == 7:
            out.append(f"channel ch{k} when not opt_out and f{k % FIELDS} < 4")
            channels.append(f"ch{k}")
        else:
            via = ", ".join(channels[-2:])
            out.append(f"offer o{k} \"权益{k}\" {{\n    category cat{k % 7}\n    eligible when {segments[-1]}"
                       f" and not {segments[-2] if len(segments) > 1 else segments[-1]}\n"
                       f"    priority 40 + 20 * r{k - kind + 6}\n    channels {via}\n}}")
        k += 1
    return "\n".join(lines + out) + "\n"


@pytest.fixture(scope="module")
def policy_text() -> str:
    return large_policy(5_000)


def test_check_5000_declarations(benchmark, policy_text):
    program = benchmark.pedantic(compile_text, args=(policy_text,), kwargs={"name": "large.pol"},
                                 rounds=3, iterations=1)
    total = (len(program.lets) + len(program.segments) + len(program.classifies) + len(program.scores)
             + len(program.channels) + len(program.offers))
    assert total == 5_000
    assert len(program.order) == len(program.lets) + len(program.segments) + len(program.classifies) + \
        len(program.scores)


if __name__ == "__main__":
    text = large_policy()
    t0 = time.perf_counter()
    compile_text(text, name="large.pol")
    print(f"checked 5,000 declarations ({len(text.splitlines()):,} lines) in {time.perf_counter() - t0:.2f} s")
