#!/bin/sh
# The image's build recipe, shared by the Dockerfile and tests/integration/test_docker_recipe.py
# (no Docker engine runs on the project's machines, so the test runs exactly these steps).
#   deploy/build-wheel.sh OUTDIR     (run from a checkout of the repository)
set -eu
python -m pip install --no-cache-dir --quiet build
python -m build --wheel --outdir "$1" .
