from pathlib import Path

import pytest

from tests.conftest import copy_of_default_pack


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A copy of the shipped pack that a test may change."""
    return copy_of_default_pack(tmp_path)
