"""translate: train, export and serve image-to-image GANs (pix2pix, CycleGAN, SRGAN, DCGAN).

The library is the core; the ``translate`` CLI, the trainers (``training``) and the gRPC
server (``serving``) are thin shells around it. Importing ``translate`` is cheap: submodules
(``translate.nets``, ``translate.images``, ``translate.backends`` ...) are imported on use.
"""

__version__ = "0.1.0"
