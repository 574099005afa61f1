"""A small Fashion-MNIST CNN: the benchmarks' classifier and feature network.

CycleGAN's paper scores translations with an FCN trained on the target data ("FCN-score": does
an off-the-shelf classifier see the intended class?); DCGAN-era papers compare sample and data
statistics in a classifier's feature space. No pretrained Fashion-MNIST network ships in a
package here, so this script trains one (two conv blocks, 128-d penultimate layer; its test
accuracy is printed and stored with it) on the 60k training images and caches it under
``bench/data/fmnist/classifier.pt``. ``quality_cyclegan.py`` uses its class predictions and
``quality_dcgan.py`` / ``quality_pix2pix.py`` its 128-d features for a Frechet distance, reported
as "FD (fmnist-cnn)", never FID.

    python scripts/bench/classifier.py [--quick] [--epochs N] [--force]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, print_table, write_result  # noqa: E402

IDX_DIR = ROOT / "bench" / "data" / "fmnist" / "idx"
CACHE = ROOT / "bench" / "data" / "fmnist" / "classifier.pt"
CLASS_NAMES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")


class FashionCNN(nn.Module):
    """conv16-conv16-pool-conv32-conv32-pool-fc128-fc10 on [N, 1, 28, 28] in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 1|3, H, W] in [-1, 1] -> [N, 128]; RGB is averaged to grey, any size resized to 28."""
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, 10]."""
        return self.head(self.features(x))


class FeatureNet(nn.Module):
    """The 128-d feature layer as a module, for ``translate.metrics.TorchFeatureExtractor``."""

    def __init__(self, cnn: FashionCNN) -> None:
        super().__init__()
        self.cnn = cnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in [-1, 1] -> [N, 128]."""
        return self.cnn.features(x)


def read_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``train`` or ``t10k``: uint8 images [N, 28, 28] and int64 labels [N]."""
    from translate.data.idx import read_idx

    images = read_idx(IDX_DIR / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(IDX_DIR / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return images, labels


def to_input(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W] (or [N, H, W, 1]) -> float [N, 1, H, W] in [-1, 1]."""
    if images.ndim == 4:
        images = images[..., 0]
    return torch.from_numpy(np.array(images)).float().div(127.5).sub(1).unsqueeze(1)


@torch.no_grad()
def predict(cnn: FashionCNN, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Predicted classes [N] of a [-1, 1] batch [N, C, H, W]."""
    cnn.eval()
    return np.concatenate([cnn(x[i:i + batch]).argmax(1).numpy() for i in range(0, len(x), batch)])


def train(epochs: int, seed: int = 0, log=print) -> tuple[FashionCNN, float]:
    """Train on the 60k training images (Adam 1e-3, batch 128, random 2-px shifts); returns (net, test accuracy)."""
    torch.manual_seed(seed)
    images, labels = read_split("train")
    x, y = to_input(images), torch.from_numpy(labels)
    cnn = FashionCNN()
    opt = torch.optim.Adam(cnn.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        cnn.train()
        order = torch.randperm(len(x), generator=gen)
        t0 = time.time()
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            xb = x[idx]
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=gen))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))  # cheap augmentation: small translations
            loss = F.cross_entropy(cnn(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        log(f"classifier epoch {epoch + 1}/{epochs}: last loss {loss.item():.3f} ({time.time() - t0:.0f} s)")
    test_images, test_labels = read_split("t10k")
    acc = float((predict(cnn, to_input(test_images)) == test_labels).mean())
    return cnn.eval(), acc


def load_or_train(epochs: int = 3, force: bool = False, log=print) -> tuple[FashionCNN, dict]:
    """The cached classifier (trained and cached on first use); returns (net, {"test_accuracy", "epochs"})."""
    if CACHE.is_file() and not force:
        state = torch.load(CACHE, weights_only=True)
        cnn = FashionCNN()
        cnn.load_state_dict(state["state_dict"])
        return cnn.eval(), {"test_accuracy": state["test_accuracy"], "epochs": state["epochs"], "cached": True}
    if not (IDX_DIR / "train-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"Fashion-MNIST not found under {IDX_DIR}: run scripts/get_bench_data.sh first")
    cnn, acc = train(epochs, log=log)
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": cnn.state_dict(), "test_accuracy": acc, "epochs": epochs}, CACHE)
    return cnn, {"test_accuracy": acc, "epochs": epochs, "cached": False}


def feature_extractor(cnn: FashionCNN):
    """A ``TorchFeatureExtractor`` over the 128-d features; its results are named "FD (fmnist-cnn)"."""
    from translate.metrics import TorchFeatureExtractor

    return TorchFeatureExtractor(FeatureNet(cnn), "fmnist-cnn", normalization="minus1_1", batch_size=256)


def main() -> int:
    """Train (or load) the classifier and report its test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 epoch (about a minute on 2 cores)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 3, quick 1)")
    parser.add_argument("--force", action="store_true", help="retrain even when a cached classifier exists")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    epochs = args.epochs or (1 if args.quick else 3)
    t0 = time.time()
    _, info = load_or_train(epochs, force=args.force)
    row = {"net": "FashionCNN (128-d features)", "epochs": info["epochs"], "test_accuracy": info["test_accuracy"],
           "cached": info["cached"], "seconds": time.time() - t0}
    print_table([row], list(row))
    write_result("classifier", {"quick": args.quick, "rows": [row]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
