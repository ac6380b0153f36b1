"""Shared fixtures: the shared data folder, FLORES-200, held-out English text, a process pool."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from reference import DIVERSE_LANGS, flores_members, member_lines
from toksmith.corpora import find_shared

# Nothing written into the checkout: no example database, and Hypothesis' caches go to the temp folder.
# No deadline either (CI machines are shared).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "toksmith-tests-hypothesis")
settings.register_profile(
    "toksmith",
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile("toksmith")


def n_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


@pytest.fixture(scope="session")
def shared() -> Path:
    s = find_shared()
    if s is None:
        pytest.skip("shared data folder not found (set TOKSMITH_SHARED)")
    return s


@pytest.fixture(scope="session")
def tokenizers_dir(shared: Path) -> Path:
    return shared / "tokenizers"


@pytest.fixture(scope="session")
def flores_zip(shared: Path) -> Path:
    p = shared / "corpora" / "flores200" / "flores200.zip"
    if not p.exists():
        pytest.skip(f"{p} is missing")
    return p


@pytest.fixture(scope="session")
def flores_all_members(flores_zip: Path) -> list[str]:
    members = flores_members(flores_zip)
    assert len(members) == 2 * 204, "FLORES-200 zip should hold 204 dev and 204 devtest files"
    return members


@pytest.fixture(scope="session")
def flores_diverse_lines(flores_zip: Path) -> list[str]:
    """150 lines from each of ~20 diverse languages (the first 75 of dev and of devtest)."""
    out: list[str] = []
    with zipfile.ZipFile(flores_zip) as z:
        for lang in DIVERSE_LANGS:
            for split in ("dev", "devtest"):
                out += member_lines(z.read(f"{split}/{lang}.{split}").decode("utf-8"))[:75]
    return out


@pytest.fixture(scope="session")
def heldout_text(shared: Path) -> str:
    p = shared / "corpora" / "gutenberg-en" / "heldout.txt"
    if not p.exists():
        pytest.skip(f"{p} is missing")
    return p.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def pool() -> Iterator[ProcessPoolExecutor]:
    """A process pool (spawned, so no Rust thread pool is inherited through fork)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n_workers(), mp_context=ctx) as ex:
        yield ex
