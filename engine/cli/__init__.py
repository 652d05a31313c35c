"""The `pol` command (main.py) and what only it uses: `pol run` (run.py),
its progress line and summary text, `pol demo` and `pol gen`."""
