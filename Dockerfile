# syntax=docker/dockerfile:1
# The stylecloak image for Kubernetes: Ray's CUDA + Python base with stylecloak installed with its
# serve, s3, engine and c2pa extras. The Helm chart (helm/stylecloak) runs it as the RayService's
# head and GPU workers (KubeRay supplies the `ray start` command) and as the S3 worker
# (`stylecloak worker s3`).
#
#   docker build -t REGISTRY/stylecloak:0.1.0 .
#
# RAY_VERSION must equal the chart's ray.version (a test checks); the base image's user is ray
# (uid 1000, gid 100), which the chart's securityContext expects.

ARG RAY_VERSION=2.60.0
ARG BASE_IMAGE=rayproject/ray:${RAY_VERSION}-py311-gpu

# Build the wheel in a plain Python image, so no source tree or build tools reach the final image.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY middleware ./middleware
COPY serve ./serve
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ARG RAY_VERSION
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG EXTRAS=serve,s3,engine,c2pa

# PyPI's Linux torch wheels carry CUDA; pin them first so the extras cannot pull another build.
# Ray stays at the base image's version (ray[serve]==RAY_VERSION), never upgraded by a dependency.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
 && pip install --no-cache-dir "ray[serve]==${RAY_VERSION}" "$(ls /tmp/wheels/stylecloak-*.whl)[${EXTRAS}]" \
 && rm -rf /tmp/wheels

# Weights and style statistics go to the cache (an emptyDir in the chart), or STYLECLOAK_MODELS_DIR.
ENV STYLECLOAK_CACHE_DIR=/var/cache/stylecloak \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER root
RUN mkdir -p /var/cache/stylecloak && chown ray:users /var/cache/stylecloak
USER ray
WORKDIR /home/ray

# Fail the build, not the first pod, if the install is broken.
RUN stylecloak --version && python -c "import stylecloak.serve.app, stylecloak.adapters.s3.worker, torch"

CMD ["stylecloak", "--help"]
