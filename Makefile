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

DEMO_FEATURES := egemaps,compare,fbank,hog
DEMO_DATA := --store $(DEMO)/features.zarr --labels $(DEMO)/data/annotations

demo: setup
	rm -rf $(DEMO)/runs $(DEMO)/ensemble $(DEMO)/bundle $(DEMO)/infer
	$(RUN) featurizer demo-data $(DEMO)/data
	$(RUN) featurizer extract $(DEMO)/data/videos --labels $(DEMO)/data/annotations \
		--faces $(DEMO)/data/cropped_aligned --model $(DEMO_FEATURES) --out $(DEMO)/features.zarr
	$(RUN) featurizer inspect $(DEMO)/features.zarr
	$(RUN) exprnet baseline $(DEMO_DATA) --features $(DEMO_FEATURES) --out $(DEMO)/runs/baseline
	$(RUN) exprnet train --preset recommended --features $(DEMO_FEATURES) --set train.threads=2 $(DEMO_DATA) \
		--out $(DEMO)/runs/recommended
	$(RUN) exprnet train --preset demo $(DEMO_DATA) --no-baseline --out $(DEMO)/runs/lstm
	$(RUN) exprnet train --preset demo-transformer $(DEMO_DATA) --no-baseline --out $(DEMO)/runs/transformer
	$(RUN) exprnet ensemble $(DEMO)/runs/recommended $(DEMO)/runs/lstm $(DEMO)/runs/transformer $(DEMO)/runs/baseline \
		--method vote $(DEMO_DATA) --out $(DEMO)/ensemble --bundle $(DEMO)/bundle
	$(RUN) exprnet report $(DEMO)/ensemble
	$(RUN) exprnet infer $(DEMO)/data/heldout/videos --faces $(DEMO)/data/heldout/cropped_aligned \
		--bundle $(DEMO)/bundle --labels $(DEMO)/data/heldout/annotations --out $(DEMO)/infer

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
