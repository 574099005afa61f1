# syntax=docker/dockerfile:1
#
# Container image of `translate serve`: serves the model repository mounted at /models
# (MODELS/<name>/<version>/model.onnx, as `translate export --repo` writes it) over gRPC
# (translate.v1 and KServe v2 on port 50051), HTTP (KServe v2 REST and image endpoints on 8080)
# and Prometheus /metrics (9090).
#
#   docker build -t translate:cpu .                                   # CPU (default)
#   docker build --build-arg VARIANT=cuda -t translate:cuda .         # NVIDIA GPUs
#   docker run --rm -p 50051:50051 -p 8080:8080 -v "$PWD/MODELS:/models:ro" translate:cpu
#   docker run --rm --gpus all -p 50051:50051 -p 8080:8080 -v "$PWD/MODELS:/models:ro" translate:cuda
#
# One file, two variants: they differ only in where the torch wheels come from. VARIANT=cpu takes
# them from PyTorch's CPU-only index (no nvidia-* packages, several GB smaller); VARIANT=cuda takes
# the PyPI wheels, which bring the CUDA and cuDNN libraries as nvidia-* packages that ONNX Runtime's
# CUDA provider loads too, so no CUDA base image is needed (the host needs only the NVIDIA driver
# and the NVIDIA container toolkit). Every version is pinned by constraints.txt.
# EXTRAS=serve,train builds an image that can also run `translate train` (training/deploy/).
# docs/deployment.md explains the choices and what was tested.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder: one virtualenv in /opt/venv
FROM ${PYTHON_IMAGE} AS builder
ARG VARIANT=cpu
ARG EXTRAS=serve
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY constraints.txt /src/
# torch and torchvision first, in their own layer (the largest one, cached across code changes).
# CPU: --no-deps keeps the CPU index to these two wheels; their dependencies come from PyPI in
# the next step, pinned like everything else.
RUN if [ "$VARIANT" = cpu ]; then \
        pip install --no-deps --index-url "$TORCH_CPU_INDEX" -c constraints.txt torch torchvision; \
    elif [ "$VARIANT" = cuda ]; then \
        pip install -c constraints.txt torch torchvision; \
    else \
        echo "VARIANT must be cpu or cuda (got '$VARIANT')" >&2; exit 2; \
    fi
COPY pyproject.toml README.md /src/
COPY translate /src/translate
COPY training /src/training
COPY serving /src/serving
# A regular (not editable) install: the source tree stays in this stage. pip check fails the build
# on any inconsistent pin; the last line proves which torch build went in.
RUN pip install -c constraints.txt "/src[${EXTRAS}]" \
 && pip check \
 && python -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda)"

# ---------------------------------------------------------------- runtime: the venv, a user, nothing else
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="translate" \
      org.opencontainers.image.description="gRPC/HTTP server for image-to-image GAN generators exported to ONNX" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRANSLATE_HEALTH_ADDRESS=127.0.0.1:50051
# A fixed numeric UID/GID, so that Kubernetes' runAsNonRoot can verify it and volume permissions
# can be planned (fsGroup 10001). /models is only a mount point: the repository is mounted read-only.
RUN groupadd --system --gid 10001 translate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/translate --create-home \
        --shell /usr/sbin/nologin translate \
 && mkdir /models
COPY --from=builder /opt/venv /opt/venv
COPY serving/deploy/container/healthcheck.py /opt/translate/healthcheck.py
USER 10001:10001
WORKDIR /home/translate
VOLUME ["/models"]
# 50051 gRPC (translate.v1 + KServe v2), 8080 HTTP (KServe v2 REST, image endpoints, /healthz), 9090 /metrics
EXPOSE 50051 8080 9090
# grpc.health.v1 on the gRPC port (plaintext; with TLS on, see healthcheck.py). start-period covers
# model loading and warm-up, which happen before the port opens.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/translate/healthcheck.py"]
# The server stops on SIGTERM (docker stop, Kubernetes): health turns NOT_SERVING, in-flight calls
# finish (--grace, default 30 s), exit 0. The server defaults to loopback; a container must bind
# every interface, so --host 0.0.0.0 is explicit.
ENTRYPOINT ["translate", "serve"]
CMD ["--models", "/models", "--host", "0.0.0.0", "--port", "50051", "--http-port", "8080", "--metrics-port", "9090"]
