"""Dataset tools: building datasets (``translate data``) and checking them before training.

The training data layouts (``LAYOUTS``); each training method reads one of them, and
``translate.data.check.check_dataset`` checks a folder against one:

- ``paired``: images with A and B side by side (``A|B``, the pix2pix format), or ``A/`` + ``B/``
  folders with matching file names; a ``train/`` sub-folder is used when present (``val/`` or
  ``test/`` for validation).
- ``unpaired``: ``trainA/`` and ``trainB/`` (optionally ``testA/`` and ``testB/``).
- ``sr``: a folder of high-resolution images, or ``HR/`` + ``LR/`` folders with matching names
  (optionally under ``train/``).
- ``classes``: a folder of images, one sub-folder per class, or MNIST/Fashion-MNIST IDX files.

The builders write pairs in one of ``WRITE_LAYOUTS``: ``ab`` (one A|B side-by-side image per
pair) or ``folders`` (``A/`` and ``B/``); both are the ``paired`` layout.
"""

LAYOUTS = ("paired", "unpaired", "sr", "classes")
WRITE_LAYOUTS = ("ab", "folders")
