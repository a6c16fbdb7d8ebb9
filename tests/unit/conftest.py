"""Fixtures of the unit tests: the scripted fake engine's data directory and script."""
import pytest
from support.scripted import write_data, write_script


@pytest.fixture
def data(tmp_path):
    return write_data(tmp_path / "data")


@pytest.fixture
def script(tmp_path):
    return write_script(tmp_path / "scripted.json")
