# Runtime image: the keeper only (no Node toolchain; the ABIs ship inside the package).
# The two RUN steps are deploy/build-wheel.sh and deploy/install-wheel.sh, which
# tests/integration/test_docker_recipe.py runs from a clean checkout (no Docker engine in CI).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY keeper ./keeper
COPY contracts_abi ./contracts_abi
COPY deploy/build-wheel.sh ./deploy/
RUN sh deploy/build-wheel.sh /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 keeper
COPY --from=build /dist /dist
COPY deploy/install-wheel.sh /usr/local/bin/install-wheel.sh
RUN sh /usr/local/bin/install-wheel.sh /dist && rm -rf /dist /usr/local/bin/install-wheel.sh
USER keeper
WORKDIR /home/keeper
# Configuration comes from KEEPER_* variables (an env file) or a mounted TOML file; no secret is
# baked in. The journal belongs on a volume: -v keeper-data:/home/keeper/data and
# KEEPER_JOURNAL_PATH=/home/keeper/data/journal.sqlite.
# The ops endpoint must listen beyond loopback inside a container (publish it with -p).
ENV KEEPER_OPS_HOST=0.0.0.0 KEEPER_OPS_PORT=9464
EXPOSE 9464
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]
# Exec form: Python is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["keeper"]
CMD ["run"]
