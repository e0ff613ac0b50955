# lvsmon: the two commands of the README's quick start, and their parts.
# Both install what they need first (Debian packages, .venv, the project).
.PHONY: demo test bootstrap vm-image lint unit bench

PY := .venv/bin/python

bootstrap:
	./scripts/bootstrap

# Kernel + initramfs for the qemu guest with a real IPVS kernel, cached outside the repo.
vm-image: bootstrap
	$(PY) -m tests.vm.image

demo: vm-image
	$(PY) -m tests.vm.qemu --timeout 300 -- $(PY) -m tests.vm.guest.demo

lint: bootstrap
	.venv/bin/ruff check .

test: vm-image lint
	$(PY) -m pytest

unit: bootstrap
	$(PY) -m pytest tests/unit

bench: vm-image
	$(PY) -m benchmarks.vrrp_decode
	$(PY) -m benchmarks.vrrp_fuzz --count 1000000
	$(PY) -m benchmarks.vrrp_failover --repetitions 5
	$(PY) -m benchmarks.snat_flood
	$(PY) -m benchmarks.checks
	$(PY) -m benchmarks.exposition
	$(PY) -m benchmarks.exporter_loop --freeze
	$(PY) -m benchmarks.state_events
	$(PY) -m benchmarks.exporter_scrape
	$(PY) -m tests.vm.qemu --timeout 900 -- $(PY) -m benchmarks.ipvs_read
	$(PY) -m tests.vm.qemu --timeout 900 -- $(PY) -m benchmarks.drain_hold
