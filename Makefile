# Thin wrapper over the CMake presets. Every target installs missing Debian
# packages first, so a fresh bookworm machine needs nothing else.
.PHONY: deps build demo test test-release test-asan bench clean

JOBS ?= $(shell nproc)
# Let ccache reuse objects across clones of the repository (CI builds a
# fresh clone in another folder).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := true

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

demo: build
	@bash scripts/demo.sh

# The whole suite, on the Release build and under ASan + UBSan.
test: test-release test-asan

test-release: build
	@ctest --preset release -j $(JOBS)

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)

bench: build
	@bash bench/run.sh quick

clean:
	rm -rf build
