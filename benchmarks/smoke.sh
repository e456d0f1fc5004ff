#!/usr/bin/env bash
# CI smoke of the benchmark scripts that need a finished run (explain faithfulness, pruning trade-off) and of
# the NSP signal check: a tiny textcls run from the test fixtures, tiny sizes, no figures kept.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PYTHON:-.venv/bin/python}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m llmkit finetune tests/fixtures/textcls-tiny.yaml training.max_steps=4 --output-dir "$tmp/run" >/dev/null
"$py" benchmarks/explain_faithfulness.py --model "$tmp/run" --data tests/fixtures/textcls/test.csv --rows 3 \
  --max-k 2 --random-draws 2 --steps 4
"$py" benchmarks/prune_tradeoff.py "$tmp/run" --steps 2 --rounds 1 --out "$tmp/prune"
"$py" benchmarks/nsp_signal.py --quick
