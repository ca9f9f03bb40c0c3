# Every target installs what it needs first, so a fresh clone needs only python3 and a C compiler
# (durable-rules is published as source only and compiles at install).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench fuzz clean postgres browser serve cjk-font java

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,batch,postgres,serve,spark]'
	touch $(STAMP)

install: $(STAMP)

# The demo's charts name counties and programmes in Chinese: a freely licensed (OFL) CJK font, Debian's
# fonts-noto-cjk, is installed where no CJK font is; without root the charts fall back to ids and numbers.
cjk-font:
	@if ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    flock /tmp/apt.lock sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends fontconfig fonts-noto-cjk'; \
	  else echo "no CJK font found and cannot install one (not root): install fonts-noto-cjk or fonts-wqy-microhei;" \
	    "the charts will label counties by number"; fi; \
	fi

demo: $(STAMP) cjk-font
	$(BIN)/python examples/demo.py
	@echo; echo "== A synthetic register of 20,000 Langfang enterprises, assessed and reformed =="
	$(BIN)/incentives synth --city langfang --n 20000 --seed 1 --as-of 2026-06-30 -o out/demo/register
	$(BIN)/incentives batch out/demo/register/enterprises.csv -o out/demo/results --as-of 2026-06-30 \
		--workers 2 --reform examples/reforms/langfang-pilot-cap.yaml --lang zh
	$(BIN)/incentives chart out/demo/results/summary.json -o out/demo/charts

# The ledger's tests start a throwaway PostgreSQL server: install Debian's package where it is missing.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    flock /tmp/apt.lock sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql'; \
	  else echo "initdb not found and not root: the PostgreSQL ledger tests will be skipped"; fi; \
	fi

# The calculator's browser test drives Debian's chromium through its chromium-driver (browser downloads at
# install time do not work on every machine); a CJK font lets the pages and screenshots show Chinese.
CHROMIUM_PACKAGES := chromium chromium-driver fonts-noto-cjk

browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || ! fc-list 2>/dev/null | grep -qi 'noto sans cjk'; then \
	  echo "installing $(CHROMIUM_PACKAGES)"; \
	  flock /tmp/apt.lock sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $(CHROMIUM_PACKAGES)'; \
	fi

# The Spark adapter's test runs a local Spark session, which needs a Java runtime (17 or later).
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    flock /tmp/apt.lock sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jre-headless'; \
	  else echo "java not found and not root: install a Java 17 runtime for the Spark test"; fi; \
	fi

test: $(STAMP) postgres browser java
	$(BIN)/incentives lint rules/*.yaml
	$(BIN)/python -m mypy src/incentives
	$(BIN)/ruff check src tests benchmarks conftest.py
	$(BIN)/python -m pytest

# The HTTP API and the 政策计算器 pages on http://127.0.0.1:$(PORT)/ (Ctrl-C stops it; kill -HUP reloads the rules).
PORT ?= 8000
serve: $(STAMP)
	$(BIN)/incentives serve --port $(PORT)

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/serve.py

# Coverage-guided fuzzing of the loaders, the register reader and money, FUZZ_SECONDS per target
# (atheris, installed here only: the tests fuzz the same targets with hypothesis).
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(BIN)/python -c "import atheris" 2>/dev/null || $(BIN)/pip install --quiet atheris
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/python fuzz/run.py --out out/fuzz

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
