"""Health check of the ``translate serve`` container image: exit 0 when the server reports SERVING.

The image has no curl, so Docker's ``HEALTHCHECK`` runs this file with the image's own Python. It
asks the standard gRPC health service (``grpc.health.v1``, the whole server: service ``""``):

    python /opt/translate/healthcheck.py [HOST:PORT]

The address is the argument, else ``$TRANSLATE_HEALTH_ADDRESS``, else ``127.0.0.1:50051`` (the
image's gRPC port). The probe speaks plaintext gRPC; when the main port runs TLS, start the server
with ``--health-port N`` and set ``TRANSLATE_HEALTH_ADDRESS=127.0.0.1:N``. Exit codes: 0 SERVING,
1 anything else (NOT_SERVING while draining, no answer, wrong protocol). Kubernetes does not use
this file: its probes are in the manifests under serving/deploy/.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_ADDRESS = "127.0.0.1:50051"
TIMEOUT_S = 3.0  # below the HEALTHCHECK --timeout, so a hung server is reported, not killed


def check(address: str, service: str = "", timeout: float = TIMEOUT_S) -> tuple[bool, str]:
    """(healthy, one-line reason) for the gRPC health service at ``address``."""
    try:
        with grpc.insecure_channel(address) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                              timeout=timeout)
    except grpc.RpcError as exc:
        return False, f"{address}: {exc.code().name}: {exc.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def main(argv: list[str]) -> int:
    """Probe once; print the outcome (Docker keeps it in the container's health log)."""
    address = argv[1] if len(argv) > 1 else os.environ.get("TRANSLATE_HEALTH_ADDRESS", DEFAULT_ADDRESS)
    healthy, reason = check(address)
    print(reason, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
