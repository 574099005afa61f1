"""The gRPC inference server on ONNX Runtime: servicer, model repository, batcher, auth, metrics, client."""
