"""Shared test hooks."""

import pytest


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ARG001
    """Keep each phase's report on the test item (``item.rep_call``), so a fixture's teardown can tell
    whether the test failed (the browser test saves a screenshot then)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
