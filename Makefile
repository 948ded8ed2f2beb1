# Two commands on a fresh machine with python3 (3.11+): `make drill` and `make test`; and `make lab`.
# Each installs into .venv what it needs: the drill the `sandbox` extra, the tests the `test` extra
# (which includes the sandbox and the lab), the lab the `lab` and `sandbox` extras. A stamp per extra
# (.venv/.installed-<extra>) makes the install happen once, and again when pyproject.toml changes;
# `make install` installs everything.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# the extras each extra includes (pyproject.toml): installing `test` installs `sandbox` and `lab` too
INCLUDES_test := sandbox lab

.PHONY: drill test lab install clean infra
.PRECIOUS: $(VENV)/.installed-%

$(VENV)/.installed-%: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "python3 must be 3.11 or newer")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$*]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@ $(foreach extra,$(INCLUDES_$*),$(VENV)/.installed-$(extra))

$(STAMP): $(VENV)/.installed-test
	@touch $@

install: $(STAMP)

drill: $(VENV)/.installed-sandbox
	$(BIN)/pitr-runbook drill

# JupyterLab on the notebooks against the sandbox (a demo table under live traffic); PORT=8888
lab: $(VENV)/.installed-lab $(VENV)/.installed-sandbox
	$(BIN)/pitr-runbook lab --sandbox --port $(or $(PORT),8888)

# infra/drill-schedule.yaml rendered from infra/drill-schedule.yaml.j2 with its 5 table slots (for another
# number, render your own copy: README, "Scheduled drills in your account")
infra: $(VENV)/.installed-sandbox
	$(BIN)/python -m runbook_lib.schedule.template --slots 5 --output infra/drill-schedule.yaml

# two workers, a test file each at a time (its module fixtures stay in one process); the slowest 20 listed
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=20

clean:
	rm -rf $(VENV) runs .pytest_cache
