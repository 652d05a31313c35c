"""`pol report`: one self-contained HTML page of a run, and of a diff and
an effect when given.

- data.py: the folders' files (summary.json, changes.parquet,
  effect.json) -> plain values for the page (sizes, funnels, flows);
- charts.py: those values -> Plotly figures (as JSON);
- page.html.j2: the page (Jinja2, every string escaped), with Plotly's
  own plotly.min.js embedded, so the page needs no network;
- build.py: the page written; cli.py: the command.
"""
