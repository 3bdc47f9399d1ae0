# Two commands for a new user:  make lab  (set up + open JupyterLab)   make test  (set up + every test)
# Needs only Python 3.11 and pip. Everything goes into .venv at the repo root, pinned by requirements.lock.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup lab test notebooks validate lock clean

$(STAMP): pyproject.toml requirements.lock tools/jupyterlab-overrides.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test,scale]"
	mkdir -p $(VENV)/share/jupyter/lab/settings && cp tools/jupyterlab-overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.open_browser=True $(if $(filter 0,$(shell id -u)),--allow-root) \
		--IdentityProvider.token="$${JUPYTER_TOKEN:-$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(24))')}" \
		notebooks/00_start_here.ipynb

# pytest: the library tests, the notebooks as papermill tests (tests/test_notebooks.py), and the stored
# outputs of the notebooks compared by nbval (refresh them with `make notebooks` after a deliberate change).
test: setup
	$(BIN)/policy-kb validate
	$(BIN)/python -m pytest -n 2 --dist loadfile --cov --cov-report=term:skip-covered \
		--nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		tests notebooks $(PYTEST_ARGS)

notebooks: setup
	$(BIN)/python tools/refresh_notebooks.py

validate: setup
	$(BIN)/policy-kb validate

# Re-pin after changing pyproject.toml: resolves in a scratch venv and writes requirements.lock.
lock:
	rm -rf /tmp/policy-kb-lock && $(PYTHON) -m venv /tmp/policy-kb-lock
	/tmp/policy-kb-lock/bin/python -m pip install --quiet --upgrade "pip>=24"
	/tmp/policy-kb-lock/bin/python -m pip install --quiet -e ".[test,scale]"
	/tmp/policy-kb-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .coverage
