"""Fixtures shared by the test suite: where the TLE snapshots live."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tle_dir() -> Path:
    """The shared TLE snapshots (``../shared/data/tle`` next to the repo); skip when absent."""
    path = (REPO_ROOT / ".." / "shared" / "data" / "tle").resolve()
    if not path.is_dir():
        pytest.skip(f"TLE snapshots not found at {path} (a plain clone has no ../shared/data/tle)")
    return path
