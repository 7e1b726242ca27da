"""The compiled-kernel cache is keyed on every kernel source, so an edit to inlined math recompiles."""
import os
import shutil
import time

import numba

from kernels import backend


def test_an_edit_to_any_kernel_source_changes_the_cache_folder(tmp_path):
    here = os.path.dirname(backend.__file__)
    for name in os.listdir(here):
        if name.endswith(".py"):
            shutil.copy(os.path.join(here, name), tmp_path / name)
    before = backend._kernel_sources_digest(str(tmp_path))
    assert before == backend._kernel_sources_digest(here)
    with open(tmp_path / "pixel.py", "a") as fh:  # math that other files' kernels inline
        fh.write("\n# an edit\n")
    assert backend._kernel_sources_digest(str(tmp_path)) != before
    assert numba.config.CACHE_DIR.endswith(f"numba-{before}")


def test_only_the_folders_of_other_sources_unused_for_a_day_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    old, recent = tmp_path / "numba-0000000000000000", tmp_path / "numba-1111111111111111"
    old.mkdir()
    recent.mkdir()
    day_ago = time.time() - backend.STALE_CACHE_S - 60
    os.utime(old, (day_ago, day_ago))
    current = backend._cache_dir()
    assert not old.exists() and recent.exists()  # another version may be compiling into that one
    assert os.path.dirname(current) == str(tmp_path) and os.path.basename(current).startswith("numba-")
