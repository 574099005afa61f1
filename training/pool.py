"""Image pool of past generated images (Shrivastava et al. 2017, "Learning from Simulated and
Unsupervised Images through Adversarial Training", section 2.3; used by CycleGAN, Zhu et al. 2017).

The discriminator is updated with a mix of the newest fakes and fakes from earlier generator
versions, which damps oscillation. Pool of 50 by default; once full, each new image is, with
probability 1/2, swapped with a random stored one (the stored one is returned instead).
Randomness comes from the global torch RNG, whose state the training loop saves and restores,
so a resumed run draws the same choices. The contents are part of the checkpoint
(:meth:`state_dict`), so resume is exact.
"""

from __future__ import annotations

import torch


class ImagePool:
    """A buffer of up to ``size`` past fakes; ``query(images)`` returns a same-shaped batch."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []  # each [C, H, W], detached

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch [N, C, H, W] mixing ``images`` and stored ones; stores the new ones."""
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            if len(self.images) < self.size:  # fill up first: return the new image as is
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(()).item() < 0.5:  # return an old image, keep the new one in its place
                i = int(torch.randint(0, self.size, ()).item())
                old = self.images[i]
                self.images[i] = img.clone()
                out.append(old)
            else:
                out.append(img)
        return torch.stack(out)

    def state_dict(self) -> dict:
        """Pool contents as plain tensors (loadable with weights_only=True)."""
        return {"size": self.size, "images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        """Restore the contents saved by :meth:`state_dict`."""
        self.size = int(state["size"])
        self.images = [t.to(device) for t in state["images"]]
