# Every target installs what it needs first, so a fresh clone needs only python3 and a C compiler
# (durable-rules is published as source only and compiles at install).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench clean postgres

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,batch,postgres,serve]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py
	@echo; echo "== A synthetic register of 20,000 Langfang enterprises, assessed and reformed =="
	$(BIN)/incentives synth --city langfang --n 20000 --seed 1 --as-of 2026-06-30 -o out/demo/register
	$(BIN)/incentives batch out/demo/register/enterprises.csv -o out/demo/results --as-of 2026-06-30 \
		--workers 2 --reform examples/reforms/langfang-pilot-cap.yaml
	$(BIN)/incentives chart out/demo/results/summary.json -o out/demo/charts

# The ledger's tests start a throwaway PostgreSQL server: install Debian's package where it is missing.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    flock /tmp/apt.lock sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql'; \
	  else echo "initdb not found and not root: the PostgreSQL ledger tests will be skipped"; fi; \
	fi

test: $(STAMP) postgres
	$(BIN)/incentives lint rules/*.yaml
	$(BIN)/python -m mypy src/incentives
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
