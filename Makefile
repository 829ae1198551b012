# The README's two commands. Each sets itself up on a fresh machine: a virtual environment in
# .venv with torch pinned (an unpinned torch pulls several GB of CUDA packages), and Debian's
# Xvfb packages for the napari viewer tests when they are missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test venv xvfb clean

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

clean:
	rm -rf $(VENV) graintrace-demo build dist
