#!/usr/bin/env bash
# All the tests: type checks, unit/CLI/LSP tests (node --test), the Slurm executor on a real
# one-node Slurm cluster, end-to-end tests in a real VS Code, and the trainer's tests (pytest). Installs what it lacks on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
echo "==> type check and build"
node scripts/check-boundaries.mjs
node scripts/build.mjs --tests
echo "==> the reference trainer's environment and the tiny model (the engine, end-to-end and trainer tests use them)"
bash scripts/setup-python.sh
.venv/bin/python scripts/make_tiny_model.py .cache/tiny-model
echo "==> node tests"
node --test --test-reporter=spec --test-reporter-destination=stdout out/test/
echo "==> the fault campaign (issue #14): fixed seed, a few minutes (LQ_FAULTS_SECONDS, LQ_FAULTS_SEED to change)"
LQ_FAULTS=1 node --test --test-reporter=spec --test-reporter-destination=stdout out/test/faults/campaign.js
echo "==> the Slurm executor on a one-node Slurm cluster on localhost (issue #13; root; about 2 min)"
bash scripts/setup-slurm.sh
LQ_SLURM=1 node --test --test-reporter=spec --test-reporter-destination=stdout out/test/slurm/
echo "==> end-to-end tests in a real VS Code (code-server + Chromium)"
bash scripts/setup-e2e.sh
npm run --silent package > /dev/null
node --test --test-reporter=spec --test-reporter-destination=stdout test/e2e/*.e2e.mjs
echo "==> trainer tests"
.venv/bin/python -m pytest test/trainer -q -rs
