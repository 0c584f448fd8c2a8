#!/bin/sh
# Build every service-code image with podman (see build_all.py for the steps).
# Needs root (apt-get, debootstrap, rootful podman) and the project venv (the catalog).
# The build graph is stacks/catalog.yaml (base_images, each service's build).
set -eu
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" scripts/images/build_all.py "$@"
