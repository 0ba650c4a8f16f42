# Two commands for a fresh machine: `make demo` (main job on the embedded demo data) and `make test`.
# Both install what they need: uv (from PyPI, if missing), then the locked environment.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
DEMO ?= demo
RUN := $(UV) run --frozen

.PHONY: setup demo test test-heavy bench lint clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --python 3.11

demo: setup
	rm -rf $(DEMO)/runs $(DEMO)/ensemble
	$(RUN) featurizer demo-data $(DEMO)/data
	$(RUN) featurizer extract $(DEMO)/data/videos --labels $(DEMO)/data/annotations \
		--faces $(DEMO)/data/cropped_aligned --model egemaps,compare,fbank,hog --out $(DEMO)/features.zarr
	$(RUN) featurizer inspect $(DEMO)/features.zarr
	$(RUN) exprnet train --preset demo --store $(DEMO)/features.zarr --labels $(DEMO)/data/annotations \
		--out $(DEMO)/runs/lstm
	$(RUN) exprnet train --preset demo-transformer --store $(DEMO)/features.zarr \
		--labels $(DEMO)/data/annotations --out $(DEMO)/runs/transformer
	$(RUN) exprnet train --preset demo-transformer --seed 1 --store $(DEMO)/features.zarr \
		--labels $(DEMO)/data/annotations --out $(DEMO)/runs/transformer-s1
	$(RUN) exprnet ensemble --runs $(DEMO)/runs/lstm,$(DEMO)/runs/transformer,$(DEMO)/runs/transformer-s1 --method vote \
		--store $(DEMO)/features.zarr --labels $(DEMO)/data/annotations --out $(DEMO)/ensemble
	$(RUN) exprnet report $(DEMO)/ensemble

test: setup
	$(RUN) pytest

test-heavy: setup
	$(RUN) pytest -m heavy

bench: setup
	$(RUN) python bench/extract_handcrafted.py

lint: setup
	$(RUN) ruff check packages tests bench

clean:
	rm -rf $(DEMO) .pytest_cache
