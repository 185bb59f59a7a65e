# Thin front for CMake. The two commands the README promises:
#   make demo   — install the missing build packages, build, and chat with the bundled tiny model
#   make test   — install the missing build and test packages, build with warnings as errors, run the whole suite
# DEPS picks the package set of scripts/install-deps.sh: demo (build only) unless the goal is test or asan.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
DEPS ?= demo

.PHONY: all deps build demo test asan bench clean

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
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DLLAMAC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

clean:
	rm -rf $(BUILD) build-asan
