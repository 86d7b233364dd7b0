# Listening Path — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# A CPU build of torch; on machines with a local wheel cache pip picks it from there.
TORCH  ?= torch==2.13.0
# Labelled data the nlp model is fine-tuned on (see ../shared/data/README.md).
NLP_DATA ?= ../shared/data
NLP_MODEL := services/nlp/models/artifacts/built/manifest.json

.PHONY: install run test test-postgres lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# The fine-tuned int8 sentiment encoder (~23 MB, a few minutes on 2 cores); without the data the
# nlp service falls back to the stock model and the committed linear head, and says so in its log.
$(NLP_MODEL): $(VENV)/.installed
	@if [ -d "$(NLP_DATA)/tweeteval-sentiment" ]; then \
		$(BIN)/python -m services.nlp.models.finetune --data "$(NLP_DATA)"; \
	else \
		echo "warning: $(NLP_DATA) not found; the nlp service will use the stock model (less accurate)"; \
	fi

install: $(VENV)/.installed $(NLP_MODEL) ## create .venv, install the product with its test tools, build the nlp model

run: install ## run the whole product on this machine (embedded mode, demo data)
	$(BIN)/listening-path up

test: install ## run the test suite (SQLite; set DATABASE_URL for PostgreSQL)
	$(BIN)/python -m pytest

test-postgres: install ## the suite again on the local PostgreSQL
	DATABASE_URL=$${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} $(BIN)/python -m pytest

lint: install ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install ## end-to-end benchmark
	$(BIN)/python bench/e2e.py

clean:
	rm -rf $(VENV) .listening-path .pytest_cache .mypy_cache .ruff_cache
