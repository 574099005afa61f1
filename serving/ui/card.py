"""The model card: what a model file says about itself, as Markdown for the page.

Everything comes from the file's metadata (:class:`~translate.modelinfo.ModelInfo` and its
provenance, written by ``translate export``): family, task, channels, scale, latent size, classes,
the training run it came from, and the export's parity check against PyTorch. Values are
escaped: metadata is data, never markup.
"""

from __future__ import annotations

import html

from serving.ui.sources import ModelEntry

PARITY_PREFIX = "parity_"  # provenance keys written by translate.export after its ONNX Runtime vs PyTorch check
TASK_WORDS = {"translate": "image-to-image translation", "super_resolve": "super-resolution",
              "generate": "image generation from latent vectors"}


def cell(value) -> str:
    """``value`` as text that Markdown shows verbatim (HTML escaped, table pipes and backslashes too)."""
    text = html.escape(str(value), quote=False).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\n", " ").replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")


def class_names(info) -> list[str]:
    """Names of a class-conditional model's classes (ModelInfo numbers them "0".. when the file has none)."""
    return list(info.class_names)


def model_card(entry: ModelEntry) -> str:
    """Markdown describing ``entry`` (one version of one model)."""
    info = entry.info
    others = ", ".join(str(v) for v in entry.versions)
    lines = [f"### {cell(entry.name)} · version {entry.version}",
             f"{cell(TASK_WORDS.get(info.task, info.task))}; versions available: {others}", "",
             "| field | value |", "|---|---|",
             f"| family | {cell(info.family)} |",
             f"| task | {cell(info.task)}{' (' + cell(info.direction) + ')' if info.direction else ''} |"]
    if info.task == "generate":
        lines.append(f"| output | {info.out_channels} channels, {info.image_size} x {info.image_size} px |")
        lines.append(f"| latent size | {info.latent_size} |")
        names = class_names(info)
        classes = f"{info.num_classes}: {', '.join(cell(n) for n in names)}" if info.num_classes else "none"
        lines.append(f"| classes | {classes} |")
    else:
        lines.append(f"| channels | {info.in_channels} in, {info.out_channels} out |")
        if info.scale > 1:
            lines.append(f"| scale | x{info.scale} |")
        lines.append(f"| size multiple | {info.pad_multiple} (inputs are padded to it) |")
        if info.image_size:
            lines.append(f"| trained on | {info.image_size} px crops |")
        lines.append(f"| batch norm | {cell(info.batchnorm_mode)} statistics |")
    prov = dict(info.provenance)
    parity = {k[len(PARITY_PREFIX):]: prov.pop(k) for k in sorted(prov) if k.startswith(PARITY_PREFIX)}
    if parity:
        err, psnr, tol = parity.pop("max_abs_err", "?"), parity.pop("psnr_db", "?"), parity.pop("tolerance", "?")
        lines.append(f"| export parity | ONNX Runtime vs PyTorch: max abs error {cell(err)} (tolerance {cell(tol)}), "
                     f"PSNR {cell(psnr)} dB |")
        lines += [f"| parity {cell(k)} | {cell(v)} |" for k, v in parity.items()]
    else:
        lines.append("| export parity | not recorded in this file (exported without verification, or by an older "
                     "version) |")
    if prov:
        lines += ["", "| provenance | value |", "|---|---|"]
        lines += [f"| {cell(k)} | {cell(v)} |" for k, v in sorted(prov.items())]
    if entry.where:
        lines += ["", f"<small>{cell(entry.where)}</small>"]
    return "\n".join(lines)
