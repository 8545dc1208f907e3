# har: `make train` and `make test` work on a fresh clone: they create .venv and install requirements first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONUNBUFFERED := 1
# Python writes the bytecode of what it imports into .venv and __pycache__ (as pip's install does for every package;
# uv does not): without it, every process of a run and of the suite compiles torch and Lightning from source again
# (24 s instead of 10 s per process here), which a PYTHONDONTWRITEBYTECODE left in the environment would force.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install train test test-all lint format clean help

help:
	@echo "make train     install if needed, then train the default experiment (synthetic_pose); ARGS='k=v ...'"
	@echo "make test      install if needed, then run the test suite (WANDB_MODE=offline)"
	@echo "make test-all  also the tests marked slow"
	@echo "make lint      ruff"
	@echo "make clean     remove caches and run outputs (keeps .venv and data/)"

# Reinstall only when requirements.txt changes (the stamp is newer otherwise): quick when already done.
# INSTALLER=uv (default) installs with uv, which downloads and unpacks in parallel (17 s instead of pip's 108 s on
# a fresh 2-core machine); pip's find-links folders ($$PIP_FIND_LINKS, e.g. a local torch wheel) are passed on.
# Where uv cannot be installed or fails, or with INSTALLER=pip, pip does it (it also honours pip.conf).
INSTALLER ?= uv
UV_FIND_LINKS_ARGS := $(foreach d,$(PIP_FIND_LINKS),--find-links $(d))
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@if [ "$(INSTALLER)" = uv ] && $(PIP_INSTALL) uv 2>/dev/null \
	    && $(PY) -m uv pip install --quiet --python $(PY) $(UV_FIND_LINKS_ARGS) -r requirements.txt; then \
	  echo "installed requirements.txt into $(VENV) with uv"; \
	else \
	  [ "$(INSTALLER)" = pip ] || echo "uv unavailable or failed: installing with pip"; \
	  $(PIP_INSTALL) --upgrade pip && $(PIP_INSTALL) -r requirements.txt; \
	fi
	@touch $(STAMP)

# The ROI JPEG decoder (C, against the system's libjpeg-turbo). Optional: without a compiler or libjpeg-turbo's
# headers, images are decoded whole (slower, same crops) and this says why.
NATIVE := har/data/io/_native/libhar_roi_jpeg.so
$(NATIVE): har/data/io/_native/roi_jpeg.c $(STAMP)
	@$(PY) -m har.data.io.jpeg_roi --optional

install: $(STAMP) $(NATIVE)

train: install
	$(PY) train.py $(ARGS)

# The suite runs in one pytest worker per core (pytest-xdist; a test file stays in one worker, so its fixtures are
# built once); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= auto
test: install
	WANDB_MODE=offline $(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile $(ARGS)

test-all: install
	WANDB_MODE=offline $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile $(ARGS)

lint: install
	$(PY) -m ruff check har tests bench train.py evaluate.py predict.py
	$(PY) -m ruff format --check har tests bench train.py evaluate.py predict.py

format: install
	$(PY) -m ruff format har tests bench train.py evaluate.py predict.py
	$(PY) -m ruff check --fix har tests bench train.py evaluate.py predict.py

clean:
	rm -rf outputs .pytest_cache .ruff_cache $(NATIVE)
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
