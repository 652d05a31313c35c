# `pytest policies/` runs the test blocks of the policies here, as `pol test` does.
from pol.testing.pytest_plugin import pytest_collect_file  # noqa: F401
