# Runtime image: the keeper and the Anvil binary (no Node toolchain; the ABIs ship inside the
# package). The two RUN steps of the keeper are deploy/build-wheel.sh and
# deploy/install-wheel.sh, which tests/integration/test_docker_recipe.py runs from a clean
# checkout; the same test checks the Anvil stage below. CI builds this file with podman and
# starts the image (.ci/image: no Docker engine there).

# The base images are build arguments: the official images by default; CI passes stand-ins it
# makes with debootstrap (.ci/image: no container registry is reachable there).
ARG NODE_IMAGE=node:20-slim
ARG PYTHON_IMAGE=python:3.11-slim

# Shadow mode (dry_run) runs a local Anvil fork: take the binary out of the npm package the
# repository pins (package-lock.json), in a stage of its own, so Node never reaches the image.
FROM ${NODE_IMAGE} AS anvil
ARG ANVIL_VERSION=1.7.1
WORKDIR /anvil
RUN npm install --no-save --no-audit --no-fund --ignore-scripts \
        "@foundry-rs/anvil-linux-amd64@${ANVIL_VERSION}" \
    && install -m 0755 node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil /usr/local/bin/anvil \
    && /usr/local/bin/anvil --version

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY keeper ./keeper
COPY contracts_abi ./contracts_abi
COPY deploy/build-wheel.sh ./deploy/
RUN sh deploy/build-wheel.sh /dist

FROM ${PYTHON_IMAGE}
# The journal volume's mount point exists and is the user's: a new named volume takes its owner
# (over a missing path Docker would create it as root's, and the keeper could not write).
RUN useradd --create-home --uid 10001 keeper \
    && install -d -o keeper -g keeper /home/keeper/data
COPY --from=build /dist /dist
# On PATH, where shadow mode looks after KEEPER_ANVIL_BIN.
COPY --from=anvil /usr/local/bin/anvil /usr/local/bin/anvil
COPY deploy/install-wheel.sh /usr/local/bin/install-wheel.sh
RUN sh /usr/local/bin/install-wheel.sh /dist && rm -rf /dist /usr/local/bin/install-wheel.sh
USER keeper
WORKDIR /home/keeper
# Configuration comes from KEEPER_* variables (an env file) or a mounted TOML file; no secret is
# baked in. The journal belongs on a volume: -v keeper-data:/home/keeper/data and
# KEEPER_JOURNAL_PATH=/home/keeper/data/journal.sqlite (and KEEPER_CHECKPOINT_PATH=
# /home/keeper/data/checkpoint for restarts that resume in seconds).
# The ops endpoint must listen beyond loopback inside a container (publish it with -p).
ENV KEEPER_OPS_HOST=0.0.0.0 KEEPER_OPS_PORT=9464
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
# Exec form: Python is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["keeper"]
CMD ["run"]
