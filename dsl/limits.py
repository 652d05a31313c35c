"""How large a policy may be: the limits `pol check` enforces, so that
whatever it accepts also runs (docs/GUARANTEES.md, "Policy size and limits").

Each limit is far above what a policy written by people, or generated from
a catalogue or a model, reaches; each has its own diagnostic:

  E-LIMIT-002  an expression nested more than MAX_DEPTH levels deep
               (compiler/frontend/nesting.py)
  E-LIMIT-003  a string literal longer than MAX_STRING characters (dsl/build.py)
  E-LIMIT-004  a name longer than MAX_NAME characters (dsl/build.py)
  E-LIMIT-005  a file larger than MAX_FILE characters, or of more than
               MAX_TOKENS tokens (dsl/parser.py)

(E-LIMIT-001, an expression the checker could not follow, is the front
end's last resort, compiler/frontend/driver.py; with these limits it does
not occur.)
"""

# Levels of operators and function calls, as the typed IR nests them: `not`
# 200 times; a sum of 201 terms (each `+` is a level); 200 `else if`s. A
# chain of `and`s (or of `or`s) is one level, however long.
MAX_DEPTH = 200
MAX_STRING = 65_536
MAX_NAME = 256
# Per file. Checking costs about 17 us of CPU and 550 bytes per token (a
# name, a number, a string, an operator) on the shared 2-core build machine,
# however the file is written: a file at MAX_TOKENS checks there in about
# 8 s and 300 MB (benchmarks/bench_check.py). Characters beyond the tokens
# (comments, strings) cost little; MAX_FILE bounds them.
MAX_TOKENS = 500_000
MAX_FILE = 16 * 1024 * 1024
