# Gemini Key Manager. The two commands a new user needs:
#   make run    installs what is missing, builds (Release), starts the proxy on ./key.txt
#   make test   installs what is missing, builds, runs every test
# Everything is installed by scripts/install-deps.sh, the only place that installs.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all deps deps-test build run test unit-test e2e-test mock-test docker-test compose-test fuzz bench format lint clean

all: build

deps:
	@scripts/install-deps.sh

deps-test:
	@scripts/install-deps.sh --test

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/gemini-key-manager --keys key.txt $(ARGS)

test: deps-test $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)
	scripts/run-tests.sh $(BUILD_DIR)

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure

e2e-test: build
	node --test --test-concurrency=1 tests/e2e/

mock-test:
	node --test tests/mock/

# Builds the Docker image with podman from Debian's packages and runs it: /healthz, the
# non-root user, state in /data, a clean stop (scripts/docker-test.sh: 5-15 minutes the first
# time, seconds with the layers cached; needs root). CI runs it after make test.
docker-test:
	scripts/docker-test.sh

# deploy/compose.yaml brought up with podman-compose (Redis, two instances, nginx) and checked
# through nginx's port (scripts/compose-test.sh; needs root; about a minute). It runs the
# image make docker-test built (building it only when missing). CI runs it after docker-test.
compose-test:
	scripts/compose-test.sh

# libFuzzer targets for the OpenAI translator and the SSE reader; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 300
fuzz: deps-test
	scripts/fuzz.sh $(FUZZ_SECONDS)

# Benchmarks against nginx and the direct path (bench/run.sh, about 15 minutes): a Release
# build in build-release/, then BENCHMARKS.md and bench/results.json.
bench:
	scripts/install-deps.sh --bench --test
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DGKM_TESTS=OFF && cmake --build build-release -j
	bench/run.sh build-release/gemini-key-manager

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc')

lint:
	clang-tidy -p $(BUILD_DIR) $$(git ls-files 'src/*.cc') --quiet
	cppcheck --enable=warning,performance,portability --inline-suppr --quiet \
	  --error-exitcode=1 -I src $$(git ls-files 'src/*.cc')

clean:
	rm -rf $(BUILD_DIR)
