# Runtime image: the keeper only (no Node toolchain; the ABIs ship inside the package).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY keeper ./keeper
COPY contracts_abi ./contracts_abi
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 keeper
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER keeper
WORKDIR /home/keeper
# Configuration comes from KEEPER_* variables or a mounted TOML file; no secret is baked in.
# Exec form: Python is PID 1 and receives SIGTERM directly.
ENTRYPOINT ["keeper"]
CMD ["run"]
