"""pytest-benchmark: how long the front end takes to check a large policy.

    python -m pytest benchmarks/bench_check.py --benchmark-columns=min,median,max
    python benchmarks/bench_check.py            # the size table, each case in a fresh process

A generated policy of 5,000 declarations (lets, segments, classifications,
scores, channels and offers reading each other in chains, as a big
catalogue does) goes from text to a checked ir.Program: parse, build,
resolve, type check. The target is well under 2 s.

The size cases (docs/GUARANTEES.md, "Policy size and limits"): one-line
declarations by the thousand, up to the token limit and past it; a 10 MB
string literal; the densest files at the token limit (one sum of 245,000
terms, refused for its depth, and an `and` chain of 122,000, which checks);
200 misspelled names among 20,000. Checking is linear: the table prints CPU
seconds and peak memory per case, so that the cost per token can be read
off and compared across sizes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

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


HEAD = "policy big\ninput customer key id {\n    id: int\n    a: int?\n    brand: string\n}\n"


def one_line_declarations(n: int) -> str:
    """n declarations of 6 tokens each, `let lK = a + K`."""
    return HEAD + "".join(f"let l{k} = a + {k}\n" for k in range(n))


def big_literal(size: int = 10_000_000) -> str:
    return HEAD + 'segment s = brand == "' + "x" * size + '"\n'


def dense_sum(terms: int) -> str:
    return HEAD + "let total = " + "+".join(["a"] * terms) + "\n"


def dense_and(terms: int) -> str:
    return HEAD + "segment all = " + " and ".join(["a>1"] * terms) + "\n"


def misspelled(names: int = 20_000, mistakes: int = 200) -> str:
    return (HEAD + "".join(f"let seg{k:06d} = a + {k}\n" for k in range(names))
            + "".join(f"let bad{k} = seg{k:05d}x + 1\n" for k in range(mistakes)))


CASES = {
    "20,000 one-line declarations": "one_line_declarations(20_000)",
    "40,000 one-line declarations": "one_line_declarations(40_000)",
    "80,000 one-line declarations (480,000 tokens)": "one_line_declarations(80_000)",
    "200,000 one-line declarations (over the token limit)": "one_line_declarations(200_000)",
    "10 MB string literal (over the string limit)": "big_literal()",
    "a sum of 245,000 terms (490,000 tokens, over the depth limit)": "dense_sum(245_000)",
    "an and chain of 122,000 comparisons (488,000 tokens)": "dense_and(122_000)",
    "200 misspellings among 20,000 names": "misspelled()",
    "5,000 catalogue declarations": "large_policy(5_000)",
}

CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from bench_check import *
from pol.compiler.frontend import check_text
text = eval(sys.argv[2])
t0 = time.perf_counter(); c0 = time.process_time()
out = check_text(text, name="bench.pol")
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "chars": len(text),
                  "result": "ok" if out.ok else sorted({d.code for d in out.diagnostics.errors})}))
"""


def measure(expression: str) -> dict:
    """Check the policy `expression` makes in a fresh process: seconds and peak memory."""
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", CHILD, here, expression], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


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


@pytest.mark.parametrize("case", list(CASES))
def test_size_case(benchmark, case):
    result = benchmark.pedantic(measure, args=(CASES[case],), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


if __name__ == "__main__":
    print(f"{'case':58} {'chars':>11} {'CPU s':>7} {'wall s':>7} {'peak MB':>8}  result")
    for name, expression in CASES.items():
        r = measure(expression)
        print(f"{name:58} {r['chars']:>11,} {r['cpu']:>7.2f} {r['wall']:>7.2f} {r['rss_mb']:>8.0f}  {r['result']}",
              flush=True)
