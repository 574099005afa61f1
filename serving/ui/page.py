"""The page's layout: a model picker with its card on the left, the model's panel on the right.

Translators and super-resolvers get the Translate panel (drop images, tiling, input and output
side by side, a before/after slider for super-resolution, all results, downloads); generators
get the Generate panel (seeds, class, truncation, grid, latent walk). Everything the controls do
is in :class:`serving.ui.callbacks.Callbacks`; this module only places components and wires
events. ``elem_id`` values are stable names the browser test (and users' own scripts) find.
"""

from __future__ import annotations

import gradio as gr

from serving.ui.callbacks import Callbacks
from serving.ui.card import cell
from translate.images import IMAGE_SUFFIXES

TITLE = "translate"
IMAGE_HEIGHT = 360  # px on the page; small images are enlarged with visible pixels (CSS below)
THUMBS_HEIGHT = 240
BUTTONS = ["download", "fullscreen"]  # no "share" (it posts to a Hugging Face Space)
# Small results fill their box, enlarged nearest-neighbour: a 64 px image shown at 360 px should show its
# pixels, not a blur (large images are scaled down as usual).
CSS = """
#input-image img, #output-image img, #grid img, #strip img {width: 100%; height: 100%; object-fit: contain}
#input-image img, #output-image img, #grid img, #strip img, #slider img {image-rendering: pixelated}
"""
COMPUTE = "compute"  # one queue for every event that runs a model: one computation at a time per page server


def build_page(cb: Callbacks) -> gr.Blocks:
    """The Gradio Blocks of ``translate ui`` over ``cb``'s source."""
    lim = cb.limits
    # delete_cache: uploads and results older than an hour are removed every hour (bounded disk)
    with gr.Blocks(title=f"{TITLE}: {cb.source.label}", analytics_enabled=False, delete_cache=(3600, 3600)) as page:
        gr.Markdown(f"## {TITLE} · {cell(cb.source.label)}")
        with gr.Row():
            with gr.Column(scale=1, min_width=360):
                names = cb.model_names()  # refreshed on every page load; a session's menu may then grow
                model = gr.Dropdown(label="Model", choices=names, value=names[0] if names else None, elem_id="model",
                                    interactive=True)
                # Versions and classes depend on the model: any value reaches the callbacks, which check it.
                version = gr.Dropdown(label="Version", choices=[], allow_custom_value=True, elem_id="version",
                                      interactive=True)
                card = gr.Markdown(elem_id="card")
            with gr.Column(scale=2):
                with gr.Column(visible=False, elem_id="translate-panel") as translate_panel:
                    files = gr.File(label=f"Images (up to {lim.max_files})", file_count="multiple",
                                    file_types=list(IMAGE_SUFFIXES), type="filepath", elem_id="files")
                    with gr.Accordion("Tiling", open=False):
                        with gr.Row():
                            tile = gr.Number(label="Tile (input px a side)", value=None, precision=0, minimum=0,
                                             elem_id="tile")
                            overlap = gr.Number(label="Overlap (input px)", value=None, precision=0, minimum=0,
                                                elem_id="overlap")
                        tiling_hint = gr.Markdown()
                    run = gr.Button("Translate", variant="primary", elem_id="run")
                    status = gr.Markdown(elem_id="status")
                    with gr.Row():
                        before = gr.Image(label="Input", type="filepath", format="png", interactive=False,
                                          height=IMAGE_HEIGHT, buttons=BUTTONS, elem_id="input-image")
                        after = gr.Image(label="Output", type="filepath", format="png", interactive=False,
                                         height=IMAGE_HEIGHT, buttons=BUTTONS, elem_id="output-image")
                    slider = gr.ImageSlider(label="Before (bicubic) / after (model)", type="filepath", format="png",
                                            interactive=False, visible=False, max_height=2 * IMAGE_HEIGHT,
                                            buttons=["fullscreen"], elem_id="slider")
                    with gr.Column(visible=False) as results_box:  # shown when a run has more than one image
                        results = gr.Gallery(label="All results (click one to compare it above)", format="png",
                                             columns=6, height=THUMBS_HEIGHT, allow_preview=False,
                                             object_fit="contain", elem_id="results")
                    downloads = gr.File(label="Download", file_count="multiple", interactive=False,
                                        elem_id="downloads")
                    pairs = gr.State([])
                with gr.Column(visible=False, elem_id="generate-panel") as generate_panel:
                    with gr.Row():
                        how = gr.Radio([("Seed list", "list"), ("Count from a first seed", "count")], value="list",
                                       label="Seeds", elem_id="how")
                        seeds = gr.Textbox(label="Seed list (e.g. 0-7,42)", value="0-7", elem_id="seeds")
                        count = gr.Number(label="Count", value=8, precision=0, minimum=1,
                                          maximum=lim.max_generate_count, elem_id="count")
                        first_seed = gr.Number(label="First seed", value=0, precision=0, minimum=0,
                                               elem_id="first-seed")
                    with gr.Row():
                        label = gr.Dropdown(label="Class", choices=[], allow_custom_value=True, visible=False,
                                            elem_id="class")
                        truncation = gr.Slider(0, 2, value=0, step=0.05, label="Truncation psi (0 = off)",
                                               elem_id="truncation")
                    generate_hint = gr.Markdown()
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                    gen_status = gr.Markdown(elem_id="generate-status")
                    samples = gr.Gallery(label="Samples", format="png", columns=8, height=THUMBS_HEIGHT,
                                         object_fit="contain", elem_id="samples")
                    grid = gr.Image(label="Grid", type="filepath", format="png", interactive=False,
                                    height=IMAGE_HEIGHT, buttons=BUTTONS, elem_id="grid")
                    with gr.Accordion("Latent walk", open=False):
                        with gr.Row():
                            seed_a = gr.Number(label="Seed A", value=0, precision=0, minimum=0, elem_id="seed-a")
                            seed_b = gr.Number(label="Seed B", value=1, precision=0, minimum=0, elem_id="seed-b")
                            steps = gr.Slider(2, lim.max_generate_count, value=8, step=1, label="Steps",
                                              elem_id="steps")
                        walk = gr.Button("Walk", elem_id="walk")
                        strip = gr.Image(label="Walk", type="filepath", format="png", interactive=False,
                                         buttons=BUTTONS, elem_id="strip")
                    gen_downloads = gr.File(label="Download", file_count="multiple", interactive=False,
                                            elem_id="generate-downloads")

        chosen = [version, card, translate_panel, generate_panel, label, tiling_hint, generate_hint, slider]
        page.load(cb.refresh, inputs=[model], outputs=[model]).then(cb.select, inputs=[model], outputs=chosen)
        model.input(cb.select, inputs=[model], outputs=chosen)  # a new model starts at its newest version
        version.input(cb.select, inputs=[model, version], outputs=chosen)
        run.click(_translate(cb), inputs=[model, version, files, tile, overlap],
                  outputs=[before, after, slider, results, downloads, status, pairs, results_box],
                  concurrency_id=COMPUTE, concurrency_limit=1, api_name="translate")
        results.select(_show(cb), inputs=[pairs], outputs=[before, after, slider])
        generate.click(cb.generate, inputs=[model, version, how, seeds, count, first_seed, label, truncation],
                       outputs=[samples, grid, gen_downloads, gen_status], concurrency_id=COMPUTE,
                       concurrency_limit=1, api_name="generate")
        walk.click(cb.walk, inputs=[model, version, seed_a, seed_b, steps, label, truncation],
                   outputs=[samples, strip, gen_downloads, gen_status], concurrency_id=COMPUTE, concurrency_limit=1,
                   api_name="walk")
    return page


def _translate(cb: Callbacks):
    """Run -> the callback's outputs, plus the results gallery shown only for more than one image."""

    def on_run(name, version, files, tile, overlap):
        out = cb.translate(name, version, files, tile, overlap)
        return (*out, gr.Column(visible=len(out[3]) > 1))

    return on_run


def _show(cb: Callbacks):
    """Gallery click -> that result's pair (Gradio passes the click as a typed SelectData argument)."""

    def on_pick(pairs, evt: gr.SelectData):
        return cb.show_pair(pairs, evt.index)

    return on_pick
