#!/usr/bin/env bash
# Install the offline benchmark data (package-registry sources below) and build the benchmark data sets under bench/data/.
#
#   scripts/get_bench_data.sh [--quick]
#
# Sources (all from package registries, nothing else is downloaded):
#   Debian dataset-fashion-mnist       /usr/share/datasets/fashion-mnist/*-ubyte.gz (IDX, 60k + 10k)
#   Debian mate-backgrounds            /usr/share/backgrounds/mate/nature/*.jpg (12 photos)
#   Debian plasma-workspace-wallpapers /usr/share/wallpapers/*/contents/images/ (largest file of each)
#   Debian opencv-doc                  only examples/data/ and examples/dnn_superres/butterfly.png are
#                                      extracted from the .deb (apt-get download + dpkg-deb | tar)
#   scikit-image (pip, in .venv)       astronaut, chelsea, coffee, rocket, motorcycle_left
#
# Data sets (built with the product's `translate data` commands where one exists):
#   bench/data/photos/train/        training photos: wallpapers + opencv-doc photos (held-out ones excluded),
#                                   shorter side reduced to at most 720 px so that detail per pixel is
#                                   closer to the evaluation photos
#   bench/data/photos/set5like/     held-out "Set5-like" SR evaluation photos: butterfly (Set5), baboon
#                                   (Set14), astronaut, chelsea, coffee (scikit-image). NOT the real Set5.
#   bench/data/photos/heldout/      held-out photos for edges -> photo testing (set5like + rocket, motorcycle)
#   bench/data/sr/train/            random 192x192 HR crops of photos/train (LR is made on the fly, bicubic /4)
#   bench/data/edges2photos/        HED edges -> photo pairs (A|B PNGs, 256 px): train/ from photos/train
#                                   (random crops), test/ from photos/heldout
#   bench/data/fmnist/idx/          links to the Fashion-MNIST IDX files
#   bench/data/fmnist/sneaker2boot/ CycleGAN trainA/testA = sneaker (7), trainB/testB = ankle boot (9)
#   bench/data/fmnist/classes/      class folders 0..9 (DCGAN)
#   bench/data/fmnist/edges2items/  HED edges -> item pairs at 64 px (sandal 5, sneaker 7, bag 8, ankle boot 9),
#                                   train/ and test/
#
# Idempotent: each set is rebuilt only when its marker file (.complete-quick / .complete-full) is
# missing; a full build also satisfies --quick. --quick builds small sets (38 min on a busy 2-core machine,
# mostly HED edge detection).
set -euo pipefail

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,33p' "$0" | grep '^#'; exit 0 ;;
    *) echo "unknown argument: $arg (use --quick or nothing)" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
TRANSLATE=("$PY" -m translate.cli)
DATA="$ROOT/bench/data"
MODE=$([ "$QUICK" = 1 ] && echo quick || echo full)
mkdir -p "$DATA"
cd "$ROOT"

say() { echo "== $*"; }

# done_marker DIR: true when DIR was built at this size (or full)
done_marker() { [ -f "$1/.complete-full" ] || { [ "$MODE" = quick ] && [ -f "$1/.complete-quick" ]; }; }
mark() { rm -f "$1"/.complete-*; touch "$1/.complete-$MODE"; }
fresh() { rm -rf "$1"; mkdir -p "$1"; }

# ------------------------------------------------------------------ packages
need_pkgs=()
[ -d /usr/share/datasets/fashion-mnist ] || need_pkgs+=(dataset-fashion-mnist)
[ -d /usr/share/backgrounds/mate/nature ] || need_pkgs+=(mate-backgrounds)
[ -d /usr/share/wallpapers ] || need_pkgs+=(plasma-workspace-wallpapers)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
  say "apt-get install ${need_pkgs[*]}"
  $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}" \
    || { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends "${need_pkgs[@]}"; }
fi

OCV="$DATA/src/opencv-doc"
OCV_EX="$OCV/usr/share/doc/opencv-doc/examples"
if [ ! -f "$OCV_EX/dnn_superres/butterfly.png" ]; then
  say "opencv-doc: extracting examples/data and dnn_superres/butterfly.png"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download opencv-doc)
  mkdir -p "$OCV"
  dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$OCV" --wildcards \
    './usr/share/doc/opencv-doc/examples/data/*' './usr/share/doc/opencv-doc/examples/dnn_superres/butterfly.png'
  rm -rf "$tmp"
fi

# ------------------------------------------------------------------ photos
# Natural photos of opencv-doc examples/data (charts, text, logos, paintings and renders left out;
# baboon and butterfly are held out for evaluation).
OCV_PHOTOS="aero1.jpg aero3.jpg aloeL.jpg apple.jpg basketball1.png board.jpg building.jpg chicky_512.png
ela_original.jpg fruits.jpg graf1.png home.jpg leuvenA.jpg messi5.jpg orange.jpg rubberwhale1.png smarties.png
squirrel_cls.jpg stuff.jpg"
SKIMAGE_DIR=$("$PY" -c "import importlib.util, pathlib; print(pathlib.Path(importlib.util.find_spec('skimage').origin).parent / 'data')")

PHOTOS="$DATA/photos"
if ! done_marker "$PHOTOS"; then
  say "photos: training photos and held-out evaluation photos"
  fresh "$PHOTOS"
  mkdir -p "$PHOTOS/raw" "$PHOTOS/set5like" "$PHOTOS/heldout"
  for f in /usr/share/backgrounds/mate/nature/*.jpg; do cp "$f" "$PHOTOS/raw/mate_$(basename "$f")"; done
  for d in /usr/share/wallpapers/*/contents/images; do
    name=$(basename "$(dirname "$(dirname "$d")")")
    # the largest file of each wallpaper (names are WIDTHxHEIGHT.ext)
    big=$(ls "$d" | grep -E '^[0-9]+x[0-9]+\.(jpg|png)$' | awk -Fx '{split($2, h, "."); print $1 * h[1], $0}' \
          | sort -n | tail -1 | cut -d' ' -f2)
    [ -n "$big" ] && cp "$d/$big" "$PHOTOS/raw/plasma_${name}.${big##*.}"
  done
  for f in $OCV_PHOTOS; do cp "$OCV_EX/data/$f" "$PHOTOS/raw/ocv_$f"; done
  cp "$OCV_EX/dnn_superres/butterfly.png" "$PHOTOS/set5like/butterfly.png"
  for f in astronaut.png chelsea.png coffee.png; do cp "$SKIMAGE_DIR/$f" "$PHOTOS/set5like/$f"; done
  "$PY" - "$OCV_EX/data/baboon.jpg" "$PHOTOS/set5like/baboon.png" <<'EOF'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").save(sys.argv[2])  # lossless copy of the decoded JPEG
EOF
  cp "$PHOTOS"/set5like/*.png "$PHOTOS/heldout/"
  cp "$SKIMAGE_DIR/rocket.jpg" "$SKIMAGE_DIR/motorcycle_left.png" "$PHOTOS/heldout/"
  # training photos: shorter side at most 720 px (antialiased bicubic), RGB PNG
  "$PY" - "$PHOTOS/raw" "$PHOTOS/train" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for p in sorted(src.iterdir()):
    img = Image.open(p).convert("RGB")
    s = 720 / min(img.size)
    if s < 1:
        img = img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.BICUBIC)
    img.save(dst / (p.stem + ".png"))
EOF
  rm -rf "$PHOTOS/raw"
  mark "$PHOTOS"
fi

# ------------------------------------------------------------------ SR crops
SR="$DATA/sr"
CROPS=$([ "$MODE" = quick ] && echo 8 || echo 64)
if ! done_marker "$SR"; then
  say "sr: $CROPS random 192x192 HR crops per training photo"
  fresh "$SR/train"
  "$PY" - "$PHOTOS/train" "$SR/train" "$CROPS" <<'EOF'
import sys
from pathlib import Path
import numpy as np
from PIL import Image
src, dst, k = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for p in sorted(src.glob("*.png")):
    px = np.asarray(Image.open(p).convert("RGB"))
    rng = np.random.default_rng(list(p.stem.encode()))  # per-file seed: independent of the other files
    for i in range(k):
        y = int(rng.integers(0, px.shape[0] - 192 + 1))
        x = int(rng.integers(0, px.shape[1] - 192 + 1))
        Image.fromarray(px[y:y + 192, x:x + 192]).save(dst / f"{p.stem}_{i:03d}.png")
EOF
  mark "$SR"
fi

# ------------------------------------------------------------------ edges -> photo (HED)
E2P="$DATA/edges2photos"
ECROPS=$([ "$MODE" = quick ] && echo 3 || echo 24)
if ! done_marker "$E2P"; then
  say "edges2photos: HED edges, $ECROPS crops per training photo, 256 px"
  fresh "$E2P"
  "${TRANSLATE[@]}" data edges "$PHOTOS/train" "$E2P/train" --detector hed --size 256 \
    --crops-per-image "$ECROPS" --no-progress
  "${TRANSLATE[@]}" data edges "$PHOTOS/heldout" "$E2P/test" --detector hed --size 256 \
    --crops-per-image 8 --seed 1 --no-progress
  mark "$E2P"
fi

# ------------------------------------------------------------------ Fashion-MNIST
FM="$DATA/fmnist"
IDX=/usr/share/datasets/fashion-mnist
mkdir -p "$FM/idx"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  ln -sf "$IDX/$f" "$FM/idx/$f"
done
PER_CLASS=$([ "$MODE" = quick ] && echo "--max-per-class 1000" || echo "")

if ! done_marker "$FM/sneaker2boot"; then
  say "fmnist/sneaker2boot: CycleGAN sneaker (7) <-> ankle boot (9)"
  fresh "$FM/sneaker2boot"
  # shellcheck disable=SC2086
  "${TRANSLATE[@]}" data from-idx "$IDX/train-images-idx3-ubyte.gz" "$IDX/train-labels-idx1-ubyte.gz" \
    "$FM/sneaker2boot" --classes 7,9 --cyclegan --test 0.1 $PER_CLASS --force --no-progress
  # translate train cyclegan refuses images under 32 px (its dataset check), so store them at 32 px:
  # the same bilinear 28 -> 32 resize the trainer's loader would apply
  "$PY" - "$FM/sneaker2boot" <<'EOF'
import sys
from pathlib import Path
from PIL import Image
for p in sorted(Path(sys.argv[1]).glob("*/*.png")):
    Image.open(p).resize((32, 32), Image.Resampling.BILINEAR).save(p)
EOF
  mark "$FM/sneaker2boot"
fi

if ! done_marker "$FM/classes"; then
  say "fmnist/classes: class folders 0..9 (DCGAN)"
  fresh "$FM/classes"
  # shellcheck disable=SC2086
  "${TRANSLATE[@]}" data from-idx "$IDX/train-images-idx3-ubyte.gz" "$IDX/train-labels-idx1-ubyte.gz" \
    "$FM/classes" $([ "$MODE" = quick ] && echo "--max-per-class 500") --force --no-progress
  mark "$FM/classes"
fi

E2I="$FM/edges2items"
ITEMS=$([ "$MODE" = quick ] && echo 250 || echo 1500)
if ! done_marker "$E2I"; then
  say "fmnist/edges2items: HED edges -> item pairs at 64 px ($ITEMS per class of 5, 7, 8, 9)"
  fresh "$E2I"
  "${TRANSLATE[@]}" data from-idx "$IDX/train-images-idx3-ubyte.gz" "$IDX/train-labels-idx1-ubyte.gz" \
    "$E2I/items" --classes 5,7,8,9 --max-per-class "$ITEMS" --force --no-progress
  for c in 5 7 8 9; do
    "${TRANSLATE[@]}" data edges "$E2I/items/$c" "$E2I/pairs" --detector hed --size 64 --force --no-progress
  done
  rm -rf "$E2I/items"
  "${TRANSLATE[@]}" data split "$E2I/pairs" --val 0 --test 0.1 --out "$E2I" --force --no-progress
  rm -rf "$E2I/pairs"
  rmdir "$E2I/val"  # empty with --val 0; a present val/ would be used for validation by translate train
  mark "$E2I"
fi

say "checking the data sets"
"${TRANSLATE[@]}" data check "$SR/train" --method srgan
"${TRANSLATE[@]}" data check "$E2P" --method pix2pix
"${TRANSLATE[@]}" data check "$FM/sneaker2boot" --method cyclegan
"${TRANSLATE[@]}" data check "$E2I" --method pix2pix
say "bench data ready ($MODE) under $DATA"
