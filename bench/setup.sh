#!/usr/bin/env bash
# Tools the benchmarks need beyond the project's own venv:
# - wrk from Debian's packages (the non-streaming load generator);
# - .venv-bench with the `bench` extra of pyproject.toml: LiteLLM proxy (the comparison; its
#   many pins would disturb the main venv, so it gets its own) and py-spy (the profiler).
# LiteLLM 1.108.7 is the version the issue's anchor table was measured with; newer releases
# need a litellm-proxy package that the registry here does not have.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [ ! -x .venv-bench/bin/litellm ] || [ ! -x .venv-bench/bin/py-spy ]; then
  python3 -m venv .venv-bench
  .venv-bench/bin/python -m pip install -q --upgrade pip
  mapfile -t reqs < <(.venv-bench/bin/python -c '
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"]))')
  .venv-bench/bin/python -m pip install -q "${reqs[@]}"
fi
echo "bench tools ready: $(command -v wrk), .venv-bench/bin/litellm, .venv-bench/bin/py-spy"
