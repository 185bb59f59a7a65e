# Thin front for CMake. The two commands the README promises:
#   make demo   — install the missing build packages, build, and chat with the bundled tiny model
#   make test   — install the missing build and test packages, build with warnings as errors, run the whole suite
#   make asan   — the whole suite again under AddressSanitizer + UBSan, leak checking on
#   make fuzz   — every libFuzzer target of tests/fuzz for FUZZ_SECONDS each (default 600; clang, ASan + UBSan)
#   make fuzz-ci — the same for 60 s each (what .ci/run does)
# DEPS picks the package set of scripts/install-deps.sh: demo (build only) unless the goal is test, asan or fuzz.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
DEPS ?= demo
FUZZ_SECONDS ?= 600

.PHONY: all deps build demo test asan fuzz fuzz-ci bench clean

all: build

deps:
	@./scripts/install-deps.sh $(DEPS)

build: deps
	cmake -S . -B $(BUILD) -DLLAMAC_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	./$(BUILD)/llamac chat -m models/tiny-kjv.gguf

test: DEPS = test
test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    $(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DLLAMAC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

fuzz: DEPS = test
fuzz: deps
	JOBS=$(JOBS) ./scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=60

clean:
	rm -rf $(BUILD) build-asan build-fuzz
