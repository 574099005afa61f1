"""The training methods, by name: the one list. ``translate train METHOD`` offers exactly these.

A plain dict of plain imports. Adding a method means writing its file (see ``training/method.py``
for the contract), its presets, and one line here. The ``translate.methods`` entry point in
pyproject.toml points at ``METHODS``, so library tools (``translate data check --method``) find
the methods without importing the trainer.
"""

from __future__ import annotations

from training.cyclegan import CycleGAN
from training.dcgan import DCGAN
from training.method import Method
from training.pix2pix import Pix2Pix
from training.srgan import SRGAN

METHODS: dict[str, type[Method]] = {
    "pix2pix": Pix2Pix,
    "cyclegan": CycleGAN,
    "srgan": SRGAN,
    "dcgan": DCGAN,
}
