# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := plugins/rumpy_edsr plugins/rumpy_rcan plugins/rumpy_han plugins/rumpy_san plugins/rumpy_srmd plugins/rumpy_sftmd plugins/rumpy_regression plugins/rumpy_esrgan plugins/rumpy_spandrel plugins/rumpy_dan plugins/rumpy_contrastive
STAMP := $(VENV)/.installed
DEMO_DATA := demo_data
DEMO_CONFIG := examples/configs/demo.toml

.PHONY: setup demo test test-slow clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# pinned first so that nothing below can pull another (multi-GB) torch release; not quiet,
	# so the long download shows its progress bar
	$(BIN)/python -m pip install --progress-bar on torch==2.14.1 torchvision==0.29.1
	# -qq: only errors; setuptools explains every editable install at length otherwise
	$(BIN)/python -m pip install -qq -e ".[test,demo,fast,export,video]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: setup
	$(BIN)/python examples/demo/prepare_data.py $(DEMO_DATA)
	$(BIN)/rumpy train --parameters $(DEMO_CONFIG) --overwrite_data
	@echo "demo results: results/demo/edsr_demo (summary: results/demo/edsr_demo/result_outputs/summary.csv)"

# the default suite; the slow end-to-end cases (signals, kills, two-process runs, the original
# toolbox's configs, the demo) run with test-slow, and CI runs both
test: setup
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) $(DEMO_DATA) results
