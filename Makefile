# Madoguchi — every command installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo serve test test-sqlite bench lint format migrate clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)  ## run the product + the WhatsApp simulator on SQLite, seeded
	$(BIN)/madoguchi demo

serve: $(STAMP)
	$(BIN)/madoguchi migrate && $(BIN)/madoguchi serve --dev

migrate: $(STAMP)
	$(BIN)/madoguchi migrate

test: $(STAMP)  ## every test, on SQLite and PostgreSQL
	$(BIN)/pytest -q

test-sqlite: $(STAMP)
	$(BIN)/pytest -q -m "not postgres"

bench: $(STAMP)  ## performance figures (printed, never asserted)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check madoguchi tests bench
	$(BIN)/ruff format --check madoguchi tests bench

format: $(STAMP)
	$(BIN)/ruff format madoguchi tests bench
	$(BIN)/ruff check --fix madoguchi tests bench

clean:
	rm -rf $(VENV) var
