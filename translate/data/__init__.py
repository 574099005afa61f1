"""Dataset tools: building datasets (``translate data``) and checking them before training."""
