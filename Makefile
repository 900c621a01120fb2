# Two commands for a fresh clone:  make run  (baseline)  and  make test.
# Python 3.12+ is found as python3.13, python3.12, or pyenv's 3.12/3.13 builds.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3.13 \
             $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3; do \
             $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: growth sbc setup run dash test bench docs calibrate backtest golden clean

# the first time (and after pyproject.toml changes): a venv with wattyear installed editable, so an edit to the
# source takes effect without reinstalling. pip runs quietly: these lines say what it is doing meanwhile
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.12+ not found (set PYTHON=/path/to/python3.12)"; exit 1; }
	@echo "make: creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --upgrade pip
	@echo "make: installing wattyear and its dependencies into $(VENV) (numpy, pandas, Mesa, Dask, SALib, the" \
	      "dashboard's Solara, pytest, Playwright): about a minute the first time, a few seconds after..."
	@$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "make: installed $$($(BIN)/wattyear --version) in $(VENV) (its command: $(BIN)/wattyear)"

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/wattyear run

dash: $(STAMP)
	$(BIN)/wattyear dash

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_speed.py
	$(BIN)/python benchmarks/scaling.py
	$(BIN)/python benchmarks/kernel_ceiling.py
	$(BIN)/python benchmarks/sweep_vs_batch_run.py --sobol 10000
	$(BIN)/python benchmarks/sweep_vs_batch_run.py --memory-scaling 1000,100000 --memory 128MiB
	$(BIN)/python benchmarks/study_loading.py out/sensitivity
	$(BIN)/python benchmarks/scaling.py --sizes 1000,10000 --keep summary
	$(BIN)/python benchmarks/resume.py --runs 10000 --folder out/bench_resume
	$(BIN)/python benchmarks/dask_sweep.py --coordinator 1000000 --runs 100000

docs: $(STAMP)
	$(BIN)/wattyear params > docs/parameters.md
	$(BIN)/wattyear calibrate --fit --report docs/calibration.md

calibrate: $(STAMP)
	$(BIN)/wattyear calibrate --fit --report out/calibration/calibration.md

backtest: $(STAMP)
	$(BIN)/python -m wattyear.experiments.calibration.backtest --particles 500 --generations 8 --scenarios 200 --doc docs/validation.md

growth: $(STAMP)
	$(BIN)/python -m wattyear.experiments.calibration.growth --particles 1000 --generations 12 --draws 400 --doc docs/growth.md

sbc: $(STAMP)
	$(BIN)/python -m wattyear.experiments.calibration.sbc --replicates 100 --particles 100 --generations 3 --doc docs/sbc.md

clean:
	rm -rf $(VENV) out .pytest_cache

# regenerate the golden fingerprint of the outputs (tests/golden.py): only when a change is meant to move
# the numbers, and the commit says why
golden: $(STAMP)
	$(BIN)/python tests/golden.py --write
