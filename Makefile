# Thin front for CMake. The two commands the README promises:
#   make demo   — install missing packages, build, and chat with the bundled tiny model
#   make test   — install missing packages, build with warnings as errors, run the whole test suite
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all deps build demo test asan bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DLLAMAC_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	./$(BUILD)/llamac chat -m models/tiny-kjv.gguf

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DLLAMAC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

clean:
	rm -rf $(BUILD) build-asan
