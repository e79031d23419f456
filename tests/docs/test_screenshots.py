"""The figures of the docs: every one referenced exists, is small, and is made by
docs/make_screenshots.py, which runs."""

from __future__ import annotations

import re

import pyhf
import torch

from tests.docs.helpers import DOCS, load_docs_script

IMAGE = re.compile(r"!\[[^\]]*\]\((images/[^)\s]+)\)")
MAX_BYTES = 150 * 1024


def referenced_images() -> set[str]:
    return {name for page in DOCS.glob("*.md") for name in IMAGE.findall(page.read_text())}


def test_referenced_images_exist_and_are_small():
    images = referenced_images()
    assert images, "the docs should show the main plots"
    for name in sorted(images):
        path = DOCS / name
        assert path.is_file(), (
            f"{name} is referenced but missing; run python docs/make_screenshots.py"
        )
        assert path.stat().st_size < MAX_BYTES, f"{name}: {path.stat().st_size} bytes"


def test_every_referenced_image_is_generated():
    script = load_docs_script("make_screenshots")
    assert referenced_images() == {f"images/{name}" for name in script.FIGURES}


def test_make_screenshots_runs(tmp_path):
    script = load_docs_script("make_screenshots")
    threads, dtype = torch.get_num_threads(), torch.get_default_dtype()
    try:
        assert script.main(["--output", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
        torch.set_default_dtype(dtype)
        pyhf.set_backend("numpy")
    for name in script.FIGURES:
        path = tmp_path / name
        assert path.is_file() and 0 < path.stat().st_size < MAX_BYTES, name
