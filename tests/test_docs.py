"""The user documentation runs: every example in docs/LANGUAGE.md and
docs/API.md is checked or executed here, and fails the suite as soon as the
text around it no longer holds.

How an example is marked in the Markdown (the reader sees everything but the
HTML comments, which say what the test checks):

* ```pol     a complete policy file. It must check with no error and no
             warning, and every `test` block in it must pass (the reference
             evaluator, as `pol test`); the vectorized evaluator must give
             each test's customer the same decision. Comments right before
             the fence may say:
               <!-- file: NAME -->        the block is also the file NAME in
                                          the document's folder (for imports,
                                          `pol` commands and Python examples)
               <!-- error: CODE, ... -->  it must not check, and the error
                                          codes are exactly these (a code may
                                          add `at LINE:COL`)
               <!-- warning: CODE -->     it checks, with exactly these warnings
               <!-- tests: 1 passed, 1 failed -->  its tests end so (a test
                                          that fails on purpose, for a
                                          `pol test` session)
* ```csv     data; with `<!-- file: NAME -->` it is written to the folder.
* ```text    a display (a syntax outline, a schema): nothing to run.
* ```python  the blocks of one document run in order in one namespace, in the
             document's folder, and assert what the text states.
* ```console `$ pol ...` lines run the `pol` command in-process in the same
             folder, in document order with the Python blocks; the lines
             below a command are its output (stdout and stderr as they
             interleave), where `...` matches any text, and `$ echo $?`
             prints the last exit status.
* tables after `<!-- values [as of YYYY-MM-DD] -->` (columns `expression`,
  `value`) and `<!-- errors -->` (columns `expression`, `error`): fragments,
  not programs. Each expression is wrapped in the minimal program
  `input example key id { id: int }` + `let v = EXPRESSION` (WRAPPER below)
  and evaluated by the reference evaluator for the record {id: 1}; its value
  and type must be those of the value column (itself evaluated the same
  way), or checking must fail with exactly the error code given.

The document's folder is a fresh temporary folder holding every `file:` block
of that document, so examples read nothing beside the repository.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCUMENTS = ("LANGUAGE.md", "API.md")
WRAPPER = "input example key id { id: int }\nlet v = EXPRESSION\n"
KINDS = {"pol", "csv", "text", "python", "console"}
DIRECTIVES = {"file", "error", "warning", "tests", "values", "errors"}
RUN_DATE = dt.date(2026, 11, 1)      # the as-of date of test blocks that give none


# ---------------------------------------------------------------- reading the Markdown

@dataclass
class Example:
    doc: str
    line: int                       # of the opening fence, or of the table's header
    kind: str                       # a fence's language, or "values" / "errors"
    text: str = ""
    directives: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)    # a table's (line, cells)

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_CELL_CODE = re.compile(r"^`(.*)`$")


def directives_of(body: str) -> dict:
    """`file: x.pol; error: E-TYPE-002 at 3:5` -> {"file": ..., "error": ...};
    `values as of 2026-11-01` -> {"values": "as of 2026-11-01"}."""
    out = {}
    for part in re.split(r"[;\n]", body):
        part = part.strip()
        if part:
            word = re.match(r"[a-z]+", part)
            key = word.group(0) if word else part
            out[key] = part[len(key):].lstrip(": ").strip()
    return out


def parse(doc: str, text: str) -> list[Example]:
    """Every example of a document, with the directives of the comments
    that come right before it (blank lines between are fine)."""
    examples: list[Example] = []
    lines = text.split("\n")
    pending: dict = {}
    k = 0
    while k < len(lines):
        line = lines[k]
        stripped = line.strip()
        if stripped.startswith("<!--"):
            end = k
            while "-->" not in lines[end]:
                end += 1
            body = "\n".join(lines[k:end + 1])
            for m in _COMMENT.finditer(body):
                pending.update(directives_of(m.group(1)))
            k = end + 1
            continue
        if stripped.startswith("```"):
            kind = stripped[3:].strip()
            end = k + 1
            while not lines[end].strip().startswith("```"):
                end += 1
            examples.append(Example(doc, k + 1, kind, "\n".join(lines[k + 1:end]) + "\n", pending))
            pending = {}
            k = end + 1
            continue
        if stripped.startswith("|") and ("values" in pending or "errors" in pending):
            kind = "values" if "values" in pending else "errors"
            ex = Example(doc, k + 1, kind, directives=pending)
            while k < len(lines) and lines[k].strip().startswith("|"):
                cells = [c.strip() for c in lines[k].strip().strip("|").split("|")]
                ex.rows.append((k + 1, cells))
                k += 1
            examples.append(ex)
            pending = {}
            continue
        assert not (stripped and pending), f"{doc}:{k + 1}: a directive {pending} with no example after it"
        k += 1
    assert not pending, f"{doc}: a directive {pending} at the end, with no example after it"
    return examples


def document(name: str) -> list[Example]:
    return parse(name, (DOCS / name).read_text(encoding="utf-8"))


def write_files(examples: list[Example], folder: Path) -> None:
    for ex in examples:
        if "file" in ex.directives:
            (folder / ex.directives["file"]).write_text(ex.text, encoding="utf-8")


# ---------------------------------------------------------------- running the examples

def check_policy(ex: Example, folder: Path) -> None:
    """A ```pol block: checks as the text says, and its tests pass."""
    from pol.compiler.frontend import check_path, check_text
    name = ex.directives.get("file")
    out = check_path(folder / name) if name else check_text(ex.text, f"{ex.where}.pol", base_dir=folder)
    diags = out.diagnostics

    def codes(items, with_positions: bool) -> list[str]:
        return sorted({d.code + (f" at {d.line}:{d.column}" if with_positions else "") for d in items})

    for severity, found in (("error", diags.errors), ("warning", diags.warnings)):
        wanted = sorted(c.strip() for c in ex.directives.get(severity, "").split(",") if c.strip())
        got = codes(found, any(" at " in w for w in wanted))
        assert got == wanted, f"{ex.where}: expected {severity}s {wanted}, the policy gives {got}:\n" + \
            "\n".join(f"  {d.code} {d.line}:{d.column} {d.message}" for d in diags.items)
    if diags.errors:
        return
    from pol.testing.policytest import own_tests, run_test
    program = out.program
    tests = own_tests(program, str(folder / name) if name else f"{ex.where}.pol")
    outcomes = [run_test(program, t, RUN_DATE) for t in tests]
    failed = [str(o) for o in outcomes if not o.passed]
    if "tests" in ex.directives:
        counts = f"{len(outcomes) - len(failed)} passed, {len(failed)} failed"
        assert counts == ex.directives["tests"], f"{ex.where}: the tests end {counts}"
    else:
        assert not failed, f"{ex.where}: a test block of the example fails:\n" + "\n".join(failed)
    for t, o in zip(tests, outcomes):
        if o.passed:
            same_decision_in_vector_evaluator(program, t)


_ARROW = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "string": pa.string(),
          "date": pa.date32(), "timestamp": pa.timestamp("us"),
          "list<int>": pa.list_(pa.int64()), "list<string>": pa.list_(pa.string())}


def same_decision_in_vector_evaluator(program, test) -> None:
    """The test's customer through Policy.evaluate(engine="vector") decides
    as the reference evaluator does: the examples are differential cases too.
    A test leaves fields out (null) that the data of a run may not: every
    field is made nullable for this; and capacities are dropped, since one
    customer's decision knows none."""
    from dataclasses import replace

    from pol.api.policy import Policy
    given = dict(test.given)
    fields = tuple(replace(f, nullable=True) for f in program.input.fields)
    program = replace(program, input=replace(program.input, fields=fields),
                      offers=tuple(replace(o, capacity=None, settings=tuple(s for s in o.settings if s[0] != "capacity"))
                                   for o in program.offers))
    if given.get(program.input.key) is None:
        return          # a run has a key in every row
    policy = Policy(program)
    day = test.as_of or RUN_DATE
    table = pa.table({f.name: pa.array([given.get(f.name)], _ARROW[f.type.value]) for f in fields})
    # the test's events (LANGUAGE.md section 12), as tables and as records
    events = {h.name: [dict(v) for name, v in test.events if name == h.name] for h in program.histories}
    tables = {h.name: pa.table({f.name: pa.array([e.get(f.name, given[program.input.key] if f.name == h.key else None)
                                                  for e in events[h.name]], _ARROW[f.type.value])
                                for f in h.fields}) for h in program.histories}
    result = policy.evaluate(table, as_of=day, params=dict(test.params), engine="vector", history=tables)
    if not policy.addresses(given, as_of=day, params=dict(test.params), history=events):
        # outside the population (LANGUAGE.md 3.14): in no output
        assert result.customers.num_rows == result.assignments.num_rows == 0, test.name
        assert not policy.decide(given, as_of=day, params=dict(test.params), engine="reference",
                                 history=events).offers, test.name
        return
    row = result.customers.to_pylist()[0]
    ref = policy.decide(given, as_of=day, params=dict(test.params), engine="reference", history=events)
    assert {**ref.segments, **ref.classifications, **ref.scores, **ref.arms} == \
        {k: v for k, v in row.items() if k not in (program.input.key, "offers")}, test.name
    mine = [(a["offer"], a["rank"], a["channel"], a["priority"], a["control"])
            for a in result.assignments.to_pylist()]
    assert mine == [(a.offer, a.rank, a.channel, a.priority, a.control) for a in ref.offers], test.name


def code_cell(ex: Example, line: int, cell: str) -> str:
    m = _CELL_CODE.match(cell)
    assert m, f"{ex.doc}:{line}: write the cell in backticks: {cell}"
    return m.group(1)


def evaluate_fragment(expr: str, as_of: dt.date | None):
    """(python type name, repr) of `let v = expr` for the record {id: 1}, or the error codes."""
    from pol.compiler.frontend import check_text
    from pol.reference.interp import evaluate_row
    out = check_text(WRAPPER.replace("EXPRESSION", expr))
    if not out.ok:
        return sorted({d.code for d in out.diagnostics.errors})
    v = evaluate_row(out.program, {"id": 1}, as_of or RUN_DATE).values["v"]
    return type(v).__name__, repr(v)


def check_table(ex: Example) -> None:
    (_, header), (_, rule), *rows = ex.rows
    want = ["expression", "value" if ex.kind == "values" else "error"]
    assert [h.lower() for h in header[:2]] == want, f"{ex.where}: the columns must start {want}"
    date = re.fullmatch(r"(?:as of (\d{4}-\d\d-\d\d))?", ex.directives.get(ex.kind, ""))
    assert date, f"{ex.where}: write <!-- values as of YYYY-MM-DD -->"
    as_of = dt.date.fromisoformat(date.group(1)) if date.group(1) else None
    wrong = []
    for line, cells in rows:
        expr = code_cell(ex, line, cells[0])
        assert as_of or "today" not in expr or ex.kind == "errors", \
            f"{ex.doc}:{line}: say the date: <!-- values as of ... -->"
        got = evaluate_fragment(expr, as_of)
        if ex.kind == "values":
            expected = evaluate_fragment(code_cell(ex, line, cells[1]), as_of)
        else:
            expected = [code_cell(ex, line, cells[1])]
        if got != expected:
            wrong.append(f"{ex.doc}:{line}: {expr} gives {got}, the table says {expected}")
    assert not wrong, "\n".join(wrong)


def run_command(argv: list[str]) -> tuple[int, str]:
    """`pol ARGS` in-process: the exit status and stdout/stderr interleaved."""
    from pol.cli.main import main
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            status = main(argv)
        except SystemExit as e:         # argparse's usage errors
            status = e.code if isinstance(e.code, int) else 1
    return status, buf.getvalue()


def output_matches(expected: str, actual: str) -> bool:
    """Line ends ignored; `...` anywhere matches any text, newlines included."""
    def norm(s: str) -> str:
        return "\n".join(x.rstrip() for x in s.strip("\n").split("\n"))
    pattern = ".*".join(re.escape(part) for part in norm(expected).split("..."))
    return re.fullmatch(pattern, norm(actual), re.S) is not None


def run_console(ex: Example) -> None:
    commands: list[tuple[str, list[str]]] = []
    for line in ex.text.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{ex.where}: a console block starts with '$ pol ...'"
            commands[-1][1].append(line)
    status = None
    for command, expected in commands:
        argv = shlex.split(command)
        if argv == ["echo", "$?"]:
            got = f"{status}\n"
        else:
            assert argv[0] == "pol", f"{ex.where}: only `pol ...` and `echo $?` run here: {command}"
            status, got = run_command(argv[1:])
        want = "\n".join(expected)
        assert output_matches(want, got), f"{ex.where}: `{command}` printed\n{got}\nbut the text shows\n{want}"


def run_sequence(examples: list[Example]) -> None:
    """The Python and console blocks of a document, in order, in one namespace."""
    namespace: dict = {"__name__": "docs_example"}
    for ex in examples:
        if ex.kind == "python":
            exec(compile(ex.text, ex.where, "exec"), namespace)
        elif ex.kind == "console":
            run_console(ex)


# ---------------------------------------------------------------- the tests

ALL = {name: document(name) for name in DOCUMENTS}
POLICIES = [ex for exs in ALL.values() for ex in exs if ex.kind == "pol"]
TABLES = [ex for exs in ALL.values() for ex in exs if ex.kind in ("values", "errors")]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A fresh folder per document, holding its files; the working folder."""
    monkeypatch.chdir(tmp_path)

    def make(doc: str) -> Path:
        write_files(ALL[doc], tmp_path)
        return tmp_path
    return make


@pytest.mark.parametrize("ex", POLICIES, ids=[ex.where for ex in POLICIES])
def test_policy_example(ex, folder):
    check_policy(ex, folder(ex.doc))


@pytest.mark.parametrize("ex", TABLES, ids=[ex.where for ex in TABLES])
def test_expression_table(ex):
    check_table(ex)


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_python_and_console_examples(doc, folder):
    folder(doc)
    run_sequence(ALL[doc])


def test_every_block_is_of_a_known_kind_and_the_documents_have_examples():
    for doc, examples in ALL.items():
        for ex in examples:
            assert ex.kind in KINDS | {"values", "errors"}, f"{ex.where}: unknown block kind '{ex.kind}'"
            assert ex.kind != "csv" or "file" in ex.directives, f"{ex.where}: a csv block is a file"
            assert set(ex.directives) <= DIRECTIVES, f"{ex.where}: unknown directive {set(ex.directives) - DIRECTIVES}"
        kinds = {ex.kind for ex in examples}
        assert {"pol", "python", "console"} <= kinds, doc
    assert len(POLICIES) >= 20 and len(TABLES) >= 10


def section(heading: str) -> str:
    """The text of LANGUAGE.md under the heading that starts so, up to the next one of its level."""
    text = (DOCS / "LANGUAGE.md").read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index("\n" + heading)
    end = text.find("\n" + level + " ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_the_error_list_names_every_code_the_engine_reports():
    """Section 10 lists each code once, and no code the source does not have."""
    source = "".join(p.read_text(encoding="utf-8") for folder in ("dsl", "compiler", "engine")
                     for p in (ROOT / folder).rglob("*.py"))
    # a code is reported where it is a string of its own: "E-TYPE-002"
    reported = set(re.findall(r"\"([EW]-[A-Z]+-\d{3})\"", source))
    listed = re.findall(r"^\| `([EW]-[A-Z]+-\d{3})` \|", section("### 10.2"), re.M)
    assert len(listed) == len(set(listed)), "a code is listed twice"
    assert set(listed) == reported, (sorted(reported - set(listed)), sorted(set(listed) - reported))


def test_the_function_table_names_every_function():
    from pol.compiler.frontend.expressions import FUNCTIONS
    text = section("### 4.8")
    table = text[text.index("| function |"):].split("\n\n")[0]
    listed = set(re.findall(r"^\| `([a-z_]+)\(", table, re.M))
    assert listed == set(FUNCTIONS), (sorted(set(FUNCTIONS) - listed), sorted(listed - set(FUNCTIONS)))


def test_the_sections_the_code_cites_exist():
    """Comments and docs cite 'LANGUAGE.md section N': each N is a heading."""
    text = (DOCS / "LANGUAGE.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\d+)\. ", text, re.M))
    cited = set()
    files = [ROOT / "README.md"] + [p for folder in ("dsl", "compiler", "engine", "tests", "benchmarks", "docs")
                                    for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".lark")]
    for p in files:
        cited |= set(re.findall(r"LANGUAGE\.md[, (]*section (\d+)", p.read_text(encoding="utf-8")))
    assert cited and cited <= headings, sorted(cited - headings)


def test_the_documents_point_at_no_missing_file():
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        text = page.read_text(encoding="utf-8")
        targets = re.findall(r"\]\(([^)#\s]+)", text) + re.findall(r"`((?:docs/)?[A-Za-z_/.-]+\.md)`", text)
        for t in targets:
            if "://" in t:
                continue
            here = (page.parent / t).resolve() if not t.startswith("docs/") else ROOT / t
            assert here.exists() or (ROOT / t).exists(), f"{page.name} points at a missing file: {t}"


# ---------------------------------------------------------------- the checker catches a wrong text

def _examples(markdown: str) -> list[Example]:
    return parse("T.md", markdown)


def test_a_wrong_expectation_in_a_policy_example_fails(tmp_path):
    (ex,) = _examples('```pol\ninput c key id { id: int }\nsegment big = id > 10\n'
                      'test "t" { given { id: 5 } expect big }\n```\n')
    with pytest.raises(AssertionError, match="a test block of the example fails"):
        check_policy(ex, tmp_path)


def test_a_wrong_error_code_fails(tmp_path):
    (ex,) = _examples('<!-- error: E-TYPE-001 -->\n```pol\ninput c key id { id: int }\nsegment s = id == "1"\n```\n')
    with pytest.raises(AssertionError, match=r"E-TYPE-002"):
        check_policy(ex, tmp_path)
    ex.directives["error"] = "E-TYPE-002 at 2:16"
    check_policy(ex, tmp_path)


def test_a_wrong_value_in_a_table_fails():
    (ex,) = _examples("<!-- values -->\n| expression | value |\n|---|---|\n| `7 % -3` | `-2` |\n| `7 / 2` | `3` |\n")
    with pytest.raises(AssertionError, match=r"7 / 2 gives \('float', '3.5'\)"):
        check_table(ex)


def test_wrong_console_output_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.pol").write_text("input c key id { id: int }\n", encoding="utf-8")
    (ex,) = _examples("\n".join(["```console", "$ pol check p.pol", "p.pol: ok ...", "$ echo $?", "1", "```"]))
    with pytest.raises(AssertionError, match=r"`echo \$\?` printed\s+0"):
        run_console(ex)
    assert output_matches("\n".join(["a ...", "...", "z"]), "a b\nc\nz")
    assert not output_matches("a\nz", "a\nb\nz")


def test_a_directive_without_an_example_is_refused():
    with pytest.raises(AssertionError, match="no example after it"):
        _examples("<!-- error: E-TYPE-002 -->\nSome text.\n")
