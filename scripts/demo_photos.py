"""Collect the sample photos that ship inside installed pip packages (no network needed).

scikit-image (``skimage/data/*.png|jpg``), scikit-learn (``sklearn/datasets/images``) and, when
it is installed, matplotlib (``mpl-data/sample_data/grace_hopper.jpg``). Packages are located
with ``importlib.util.find_spec`` and their data folders read directly, so nothing is imported
or downloaded. Usable on its own: ``python scripts/demo_photos.py OUT_DIR`` copies them.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

# (package, path inside it, photo file names). Colour photos only: the edges -> photo demo needs
# real colours; scikit-image's grey and synthetic images (camera, coins, text, ...) are left out.
SOURCES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("skimage", "data", ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                         "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png")),
    ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
    ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
)


def package_dir(name: str) -> Path | None:
    """Folder of an installed package, or None when it is not installed (found without importing it)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_sample_photos() -> list[Path]:
    """Paths of every listed sample photo that is installed, in the order of :data:`SOURCES`."""
    found = []
    for package, sub, names in SOURCES:
        root = package_dir(package)
        if root is None:
            continue
        found += [root / sub / n for n in names if (root / sub / n).is_file()]
    return found


def copy_sample_photos(dst: Path, names: list[str] | None = None) -> list[Path]:
    """Copy the installed sample photos (or only those whose stem is in ``names``) into ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    out = []
    for p in find_sample_photos():
        if names is None or p.stem in names:
            shutil.copyfile(p, dst / p.name)
            out.append(dst / p.name)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/demo_photos.py OUT_DIR")
    copied = copy_sample_photos(Path(sys.argv[1]))
    print(f"copied {len(copied)} photos to {sys.argv[1]}: {', '.join(p.name for p in copied)}")
