"""pol.loop: closing the loop of a campaign.

- diff.py: several versions of a policy over one input in one pass, and
  what changes between them (`pol.diff`, `pol diff`);
- effect.py: treatment against control groups, from a run's assignments
  (or decision logs) and the outcomes observed after it (`pol effect`);
- report/: one self-contained HTML page of a run, a diff and an effect
  (`pol report`).
"""
