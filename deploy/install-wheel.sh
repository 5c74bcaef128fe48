#!/bin/sh
# Install the built wheel (and nothing else) into the current Python; then prove it starts.
#   deploy/install-wheel.sh WHEELDIR
set -eu
python -m pip install --no-cache-dir --quiet "$1"/liquidation_keeper-*.whl
keeper --version
