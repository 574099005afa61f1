"""Sphinx configuration of the documentation site (Markdown pages read by MyST).

Build it with `make docs` (strict: any warning, such as a broken link, a missing anchor or a page
that is in no table of contents, fails the build); tests/docs/test_site.py runs the same build.
"""

project = "translate"
author = "the translate authors"
copyright = "the translate authors"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings up to ### get anchors, so pages link to sections (`training.md#data-layouts`) and the
# strict build reports an anchor that does not exist.
myst_heading_anchors = 3
# Text is shown as written: "--set" stays two hyphens (an option name), not an en dash.
smartquotes = False

html_theme = "furo"
html_title = "translate"
html_show_sourcelink = False
html_copy_source = False
