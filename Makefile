# The README's two commands. Each sets itself up on a fresh machine: a virtual environment in
# .venv with torch pinned (an unpinned torch pulls several GB of CUDA packages), and Debian's
# Xvfb packages for the napari viewer tests when they are missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test venv xvfb clean figures figures-long figures-again docs-test

# Every figure and screenshot the README and docs show (docs/figures.md). Each script is one step with a stamp
# in .figures/: an interrupted `make figures` resumes where it stopped, and a step runs again when its script or
# the package (code, demo checkpoints, data) changes; `make figures-again` forgets the stamps. Niced, one thread.
FIGURE_ENV := OMP_NUM_THREADS=1 nice -n 10
XVFB_RUN := xvfb-run -a -s "-screen 0 1920x1080x24"  # the screenshots are taken at 1366 x 768 and 1920 x 1080
FIGURE_SCRIPTS := docs/make_score_figures.py docs/make_boundary_figures.py docs/make_grains_table.py \
	docs/make_cleanup_figures.py docs/make_readme_demo.py docs/make_sweep_figures.py benchmarks/gap_experiment.py \
	benchmarks/loop_experiment.py
SCREENSHOT_SCRIPTS := docs/make_screenshots.py docs/make_grains_screenshots.py docs/make_train_screenshots.py
# minutes to an hour: benchmarks whose printout goes into benchmarks/RESULTS.md (with the machine and date)
LONG_SCRIPTS := benchmarks/bench_boundary.py benchmarks/mutation_check.py
args_benchmarks/bench_boundary.py := --check-ods --write-results
args_benchmarks/mutation_check.py := --write-results
args_benchmarks/loop_experiment.py := --write-docs
PACKAGE_FILES := $(shell find src -name '*.py' -o -name '*.pth' -o -name '*.png' 2>/dev/null)
stamps = $(foreach script,$(1),.figures/$(script).done)
SETUP ?= $(VENV)/.installed  # `make figures SETUP= BIN=/path/to/venv/bin`: use a venv as it is

demo: $(VENV)/.installed xvfb
	$(BIN)/graintrace demo -o graintrace-demo --overwrite

test: $(VENV)/.installed xvfb
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[testing]"
	touch $@

xvfb:
	@command -v Xvfb >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq xvfb libxcb-icccm4 libxcb-keysyms1 libgl1 libegl1 libxkbcommon-x11-0 \
	  libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-cursor0 libdbus-1-3 \
	  libfontconfig1 >/dev/null; }

figures: $(call stamps,$(FIGURE_SCRIPTS) $(SCREENSHOT_SCRIPTS)) docs-test

figures-long: $(call stamps,$(LONG_SCRIPTS)) docs-test

figures-again:
	rm -rf .figures

docs-test: $(SETUP)
	$(BIN)/python -m pytest -m docs -q

$(call stamps,$(FIGURE_SCRIPTS) $(LONG_SCRIPTS)): .figures/%.done: % $(PACKAGE_FILES) | $(SETUP)
	@mkdir -p $(dir $@)
	$(FIGURE_ENV) $(BIN)/python $< $(args_$<)
	@touch $@

$(call stamps,$(SCREENSHOT_SCRIPTS)): .figures/%.done: % $(PACKAGE_FILES) | $(SETUP) xvfb
	@mkdir -p $(dir $@)
	$(FIGURE_ENV) $(XVFB_RUN) $(BIN)/python $<
	@touch $@

clean:
	rm -rf $(VENV) graintrace-demo build dist .figures
