# The operator's image: only the operator (no simulator, test bed or demo), in a virtualenv, run as a
# non-root user; it starts with a read-only root filesystem and handles SIGTERM as PID 1.
#
# With a registry:   docker build -t cce-upgrade-operator:0.1.0 .
# Without one:       hack/image/make-base.sh ccupgrade-base:bookworm
#                    docker build --build-arg BASE_IMAGE=ccupgrade-base:bookworm \
#                      --build-arg PIP_INSTALL="--no-index --find-links /src/.wheelhouse cce-upgrade-operator" .
#                    (`python -m ccupgrade.testbed image` does all of it, wheelhouse included)
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
# What pip installs: the checkout itself by default; offline, the wheels built on the host.
ARG PIP_INSTALL=/src
COPY . /src
RUN python3 -m venv /opt/ccupgrade \
 && /opt/ccupgrade/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_INSTALL} \
 && /opt/ccupgrade/bin/pip uninstall --yes --quiet pip \
 && find /opt/ccupgrade -name '__pycache__' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE}
RUN groupadd --gid 65532 ccupgrade \
 && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin ccupgrade
COPY --from=build /opt/ccupgrade /opt/ccupgrade
ENV PATH=/opt/ccupgrade/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["ccupgrade", "run"]
