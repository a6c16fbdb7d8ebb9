"""Atomic writes that others can read (harness.run.io)."""
import os
import stat

from harness.run import io


def test_written_files_and_directories_are_readable_by_others(tmp_path):
    io.write_json(tmp_path / "a.json", {"x": 1})
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~io.UMASK
    with io.atomic_dir(tmp_path / "d") as tmp:
        (open(os.path.join(tmp, "f"), "w")).close()
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~io.UMASK
    if io.UMASK == 0o022:
        assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044
