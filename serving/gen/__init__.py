"""Generated gRPC stubs (do not edit; run `python scripts/gen_protos.py`)."""
