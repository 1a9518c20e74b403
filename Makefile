# ctrace: `make install`, `make test`, `make bench`, `make image` (the container
# image). Run as root (sudo make ...).
PYTHON ?= /usr/bin/python3
KREL := $(shell uname -r)
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q

.PHONY: install deps headers test test-deps bench-deps image-deps unit bench bench-scale docker-up image test-image clean

install: deps headers
	$(PYTHON) -m pip install --break-system-packages --no-index --no-build-isolation \
		--no-deps --force-reinstall --root-user-action=ignore -q .
	@mandb -q 2>/dev/null || true
	@echo "ctrace installed: try 'containerexec -h' and 'man containerexec'"

# BCC and the tools it needs; apt lists are refreshed once if a package is missing.
deps:
	@dpkg -s python3-bpfcc python3-pip python3-setuptools libbpf1 man-db >/dev/null 2>&1 || \
		{ apt-get update -q && $(APT) python3-bpfcc python3-pip python3-setuptools libbpf1 man-db; }

# Kernel headers for BCC's compiler: the running kernel's if Debian has them,
# else the distribution's default headers linked in (struct offsets come from
# BTF either way, so only the build environment matters).
headers:
	@bash scripts/install-headers.sh

TEST_PKGS := docker.io containerd podman crun lxc busybox-static python3-pytest python3-hypothesis python3-yaml gcc libc6-dev graphviz bpftool python3-jsonschema
BENCH_PKGS := bpftrace strace python3-matplotlib
IMAGE_PKGS := mmdebstrap docker.io

test-deps: deps headers
	@dpkg -s $(TEST_PKGS) >/dev/null 2>&1 || { apt-get update -q && $(APT) $(TEST_PKGS); }

bench-deps: test-deps
	@dpkg -s $(BENCH_PKGS) >/dev/null 2>&1 || { apt-get update -q && $(APT) $(BENCH_PKGS); }

image-deps:
	@dpkg -s $(IMAGE_PKGS) >/dev/null 2>&1 || { apt-get update -q && $(APT) $(IMAGE_PKGS); }

docker-up:
	@bash scripts/start-dockerd.sh

# The ctrace container image (ctrace:latest; deploy/docker-run-flags says how
# to run it): rebuilt only when what goes into it changed.
image: image-deps docker-up
	@bash scripts/build-image.sh

# The busybox image the integration tests run their containers from.
test-image: docker-up
	@bash tests/image/build.sh

test: test-deps docker-up test-image image
	$(PYTHON) -m pytest -ra tests

unit:
	$(PYTHON) -m pytest -ra tests -m "not integration"

bench: bench-deps docker-up test-image
	$(PYTHON) bench/run.py

# How cost grows with 1, 50, 200 idle containers and a churn of starts
# (bench/results-scale.md; make bench's report includes it once made), and
# containeropen on io_uring opens.
bench-scale: bench-deps docker-up test-image
	$(PYTHON) bench/scale.py
	$(PYTHON) bench/containeropen_uring.py

clean:
	rm -rf build *.egg-info .pytest_cache tests/__pycache__ ctrace/__pycache__
