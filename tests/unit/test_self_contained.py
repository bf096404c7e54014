"""The suite needs nothing outside the repository: the audit hook installed by tests/conftest.py
refuses any read of the sibling ``shared`` folder, and no source file builds a path to it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.shared_guard import SHARED

ROOT = Path(__file__).resolve().parents[2]
# Naming ../shared, joining "shared" onto a path, or climbing out of the clone as openapi.py did.
OUT_TO_SHARED = re.compile(
    r"""\.\./shared|/\s*["']shared["']|join(path)?\(.*["']shared["']|parents\[3\]"""
)
#: The guard must name the folder it refuses, and this test the patterns it looks for.
ALLOWED = {ROOT / "tests" / "shared_guard.py", Path(__file__).resolve()}


def test_opening_a_file_in_the_shared_folder_is_refused() -> None:
    with pytest.raises(PermissionError, match="may not read"):
        open(Path(SHARED) / "specs" / "README.md").close()


def test_a_path_climbing_out_of_the_clone_to_it_is_refused_too() -> None:
    with pytest.raises(PermissionError, match="may not read"):
        (ROOT / "tests" / ".." / ".." / "shared" / "specs" / "salesforce.md").read_text()


@pytest.mark.parametrize("list_it", [os.listdir, os.scandir], ids=["listdir", "scandir"])
def test_listing_the_shared_folder_is_refused(list_it: object) -> None:
    with pytest.raises(PermissionError, match="may not read"):
        list_it(SHARED)  # type: ignore[operator]


def test_files_outside_it_still_open() -> None:
    assert (ROOT / "tests" / "contract" / "specs" / "SOURCES.md").read_text()
    assert "hubspot" in os.listdir(ROOT / "tests" / "contract" / "specs")


def test_no_source_file_builds_a_path_to_the_shared_folder() -> None:
    sources = [
        path
        for top in ("app", "schema", "tests")
        for path in sorted((ROOT / top).rglob("*.py"))
        if path.resolve() not in ALLOWED
    ]
    assert len(sources) > 100  # the walk found the code
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUT_TO_SHARED.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_pattern_catches_the_ways_a_path_to_it_was_built() -> None:
    for line in (
        '_BESIDE = Path(__file__).resolve().parents[3] / "shared" / "specs"',
        "SPECS = os.path.join(ROOT, '..', 'shared', 'specs')",
        '"""Validate traffic against the OpenAPI files in ../shared/specs."""',
        'specs = here.parent.parent.joinpath("shared", "specs")',
    ):
        assert OUT_TO_SHARED.search(line), line
    for innocent in ('public_jwk(rsa_key, "shared")', 'rs256(key, kid="shared")'):
        assert not OUT_TO_SHARED.search(innocent), innocent
