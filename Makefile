VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DEMO := demo
DEMO_CONFIG := data/demo.toml
DEMO_KEY ?= demo-key
DEMO_FORGET_SECRET ?= demo-forget-secret
.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml setup.py
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP)

# the tests also drive the optional engines (Spark: pyspark here, Java from .ci/run)
$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install -q -e ".[dev,postgres,spark]"
	touch $(TEST_STAMP)

run: install
	@test -f $(DEMO)/shop/events.parquet || $(VENV)/bin/recsys generate --out $(DEMO)/shop --users 5000 --items 2000 --events 300000 --seed 7
	RECSYS_FORGET_SECRET=$(DEMO_FORGET_SECRET) RECSYS_DATABASE_URL=sqlite:///$(DEMO)/recsys.db $(VENV)/bin/recsys train --events $(DEMO)/shop/events.parquet --catalogue $(DEMO)/shop/catalogue.csv --config $(DEMO_CONFIG) --models $(DEMO)/models
	RECSYS_FORGET_SECRET=$(DEMO_FORGET_SECRET) RECSYS_CONFIG=$(DEMO_CONFIG) RECSYS_API_KEYS=$(DEMO_KEY) RECSYS_MODELS=$(DEMO)/models RECSYS_DATABASE_URL=sqlite:///$(DEMO)/recsys.db $(VENV)/bin/recsys serve --models $(DEMO)/models --host 127.0.0.1 --port 8000

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	@if command -v node >/dev/null; then node --test --test-reporter=dot tests/widget/; \
	else echo "node is absent: the widget's unit tests (tests/widget/) are skipped"; fi
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(DEMO)
