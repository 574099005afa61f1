"""DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks"), optionally class-conditional (Mirza & Osindero 2014,
"Conditional Generative Adversarial Nets": the label is an input of both G and D).

z ~ N(0, I) of size nz -> image. D step on real and (detached) fake images, then the G step with
the non-saturating loss (target "real" for the fakes). Labels of fakes are the labels of the
real batch, so the class balance of the data is kept.

Data: the classes layout (an image folder, class sub-folders, or MNIST IDX files), resized to
image_size; the class names (folder names, IDX label values) are stored with the model, so
``translate generate --class 7`` means the folder ``7/`` whatever its label number. Validation
(on a val split: ``DIR/val`` beside ``DIR/train``, or the ``t10k-*`` IDX files): a Frechet
distance of 8x8-pooled pixels between generated and real images (a sanity signal, not FID);
best.pt has the lowest. Sample grids: generated | real. Health: the spread of DIVERSITY_SEEDS
images from fixed latents (per class) warns of mode collapse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from training.data import ImageFolderDataset, collate
from training.method import Method, NetworkSpec, TrainConfig, set_requires_grad
from training.validation import fd_pixels8
from translate.errors import ConfigError
from translate.losses import GANLoss, gradient_penalty

MIN_IMAGE_SIZE = 8  # images are resized to image_size; below this they are thumbnails, not data
DIVERSITY_SEEDS = 16  # fixed latents per class for the health monitor's mode-collapse check
DIVERSITY_CLASSES = 16  # classes per check (all of them, in turns, when there are more)


@dataclass
class DCGANConfig(TrainConfig):
    """DCGAN (Radford et al. 2016), optionally class-conditional (Mirza & Osindero 2014)."""

    method: str = "dcgan"
    nz: int = 100
    image_size: int = 64
    num_classes: int = 0  # > 0: conditional; = the number of classes in the data (class folders or IDX labels)
    class_filter: list = field(default_factory=list)  # keep only these classes (folder names or IDX labels)
    batch_size: int = 128
    n_epochs: int = 25
    n_epochs_decay: int = 0
    in_channels: int = 3  # channels of the data images (= generator output channels)
    out_channels: int = 3
    netG: str = "dcgan_g"
    netG_kwargs: dict = field(default_factory=lambda: {"ngf": 64})
    netD: str = "dcgan_d"
    netD_kwargs: dict = field(default_factory=lambda: {"ndf": 64})

    def check(self) -> None:
        """Validate the DCGAN fields; data channels and output channels are the same thing here.
        (Which image sizes work is the networks' to say: see :meth:`Method.check_config`.)"""
        super().check()
        if self.nz < 1 or self.num_classes < 0:
            raise ConfigError("nz must be >= 1 and num_classes >= 0")
        if self.in_channels != self.out_channels:
            raise ConfigError("for dcgan in_channels (data) and out_channels (generator) must be equal")


class DCGAN(Method):
    """Latent-to-image generator and its discriminator."""

    config_class = DCGANConfig
    family = "dcgan"
    data_layout = "classes"
    generators = ("G",)
    best_metric = "val/fd_pixels8"
    higher_is_better = False

    @classmethod
    def networks(cls, cfg) -> dict[str, NetworkSpec]:
        """G: z (+ label) -> image_size images; D judges image_size images (+ label)."""
        c, k, size = cfg.out_channels, cfg.num_classes, cfg.image_size
        return {
            "G": NetworkSpec(cfg.netG, {**cfg.netG_kwargs, "nz": cfg.nz, "out_channels": c, "image_size": size,
                                        "num_classes": k}, "netG"),
            "D": NetworkSpec(cfg.netD, {**cfg.netD_kwargs, "in_channels": c, "image_size": size, "num_classes": k},
                             "netD"),
        }

    @classmethod
    def dataset(cls, cfg, root, *, train=True, exclude=()):
        """Images (with class labels from sub-folders or IDX labels) resized to image_size."""
        return ImageFolderDataset(root, image_size=cfg.image_size, channels=cfg.out_channels,
                                  class_filter=cfg.class_filter, train=train, exclude=exclude)

    @classmethod
    def check_data(cls, cfg, dataset) -> None:
        """A conditional model has one label per class of the data: num_classes must be their number."""
        names = list(getattr(dataset, "class_names", []))
        if cfg.num_classes and cfg.num_classes != len(names):
            found = (f"{len(names)} classes ({', '.join(names[:20])}{' ...' if len(names) > 20 else ''})" if names
                     else "no classes (no class folders or IDX labels)")
            fix = f"set num_classes={len(names)}" if names else "give class folders, or num_classes=0"
            raise ConfigError(f"num_classes={cfg.num_classes} but the data has {found}: {fix} "
                              "(class_filter picks classes)")

    @classmethod
    def min_image_size(cls, cfg=None) -> int:
        """Images are resized to image_size; only thumbnails are refused."""
        return MIN_IMAGE_SIZE

    def __init__(self, cfg, device) -> None:
        super().__init__(cfg, device)
        self.make_optimizers()
        self.gan = GANLoss(cfg.gan_mode).to(device)
        # fixed latents for sample grids, from their own generator so they do not disturb training RNG
        gen = torch.Generator().manual_seed(cfg.seed)
        self.fixed_z = torch.randn(64, cfg.nz, generator=gen).to(device)
        k = cfg.num_classes
        self.fixed_labels = (torch.arange(64) % k).to(device) if k else None

    def image_size(self) -> int:
        """Output size of the generator."""
        return int(self.cfg.image_size)

    def train_step(self, batch: dict, o) -> dict[str, torch.Tensor]:
        """D step on real vs. fake, then G step; returns the losses."""
        G, D, cfg = self.nets["G"], self.nets["D"], self.cfg
        real = batch["B"]  # [N, C, S, S]
        labels = batch["label"] if cfg.num_classes else None  # [N] int64 or None
        z = torch.randn(real.shape[0], cfg.nz, device=real.device)  # [N, nz]
        with o.autocast():
            fake = G(z, labels)

        set_requires_grad(D, True)
        with o.autocast():
            pred_real, pred_fake = D(real, labels), D(fake.detach(), labels)
            loss_D = self.gan(pred_real, True) + self.gan(pred_fake, False)
            if cfg.gan_mode == "wgangp":
                extra = (labels,) if labels is not None else ()
                loss_D = loss_D + gradient_penalty(D, real, fake, *extra)
        o.step("D", loss_D)

        set_requires_grad(D, False)
        with o.autocast():
            loss_G = self.gan(D(fake, labels), True, for_discriminator=False)
        o.step("G", loss_G)
        self.last_fake = fake.detach()
        return {"D": loss_D.detach(), "G": loss_G.detach(),
                "D_real": pred_real.detach().mean(), "D_fake": pred_fake.detach().mean()}

    @torch.no_grad()
    def sample(self, batch: dict, generators: dict) -> list[torch.Tensor]:
        """A grid of fixed latents (same z at every step, so progress is visible), and real images."""
        n = min(16, batch["B"].shape[0])
        fake = generators["G"](self.fixed_z[:n], None if self.fixed_labels is None else self.fixed_labels[:n])
        return [fake, batch["B"][:n]]

    @torch.no_grad()
    def fixed_samples(self, generators: dict, round_: int = 0) -> dict[str, torch.Tensor]:
        """DIVERSITY_SEEDS images from fixed latents, per class for a conditional model (at most
        DIVERSITY_CLASSES classes per check, taking turns, so a check stays cheap with many classes)."""
        G, z = generators["G"], self.fixed_z[:DIVERSITY_SEEDS]
        k = self.cfg.num_classes
        if not k:
            return {"all": G(z, None)}
        names = self.class_names or [str(i) for i in range(k)]
        first = (round_ * DIVERSITY_CLASSES) % k
        labels = [(first + i) % k for i in range(min(k, DIVERSITY_CLASSES))]
        return {names[c]: G(z, torch.full((len(z),), c, dtype=torch.int64, device=z.device)) for c in labels}

    @torch.no_grad()
    def validate(self, items, generators, to_device) -> dict[str, float]:
        """Frechet distance (8x8-pooled pixels) between generated images (a fixed z) and real ones."""
        b = to_device(collate(items))
        z = torch.randn(len(items), self.cfg.nz, generator=torch.Generator().manual_seed(self.cfg.seed))
        labels = b["label"] if self.cfg.num_classes else None
        return fd_pixels8(generators["G"](z.to(self.device), labels), b["B"])
