# lvsmon: the two commands of the README's quick start, and their parts.
# Both install what they need first (Debian packages, .venv, the project).
.PHONY: demo demo-shell test bootstrap vm-image lint unit bench

PY := .venv/bin/python

bootstrap:
	./scripts/bootstrap

# Kernel + initramfs for the qemu guest with a real IPVS kernel, cached outside the repo.
vm-image: bootstrap
	$(PY) -m tests.vm.image

# The tour (tests/vm/guest/tour.py): a two-director keepalived site in the IPVS guest, six
# narrated steps with each step's wall time; exits 0 when every step saw what it should.
demo: vm-image
	$(PY) -m tests.vm.qemu --follow --memory 2048 --timeout 1500 -- $(PY) -m tests.vm.guest.tour

# The same site kept up: a shell in the guest on this terminal; lb1's and lb2's exporters and
# Prometheus on the host's 127.0.0.1:10573, :10574 and :9090 (the guest has no route out).
demo-shell: vm-image
	$(PY) -m tests.vm.qemu --terminal --memory 2048 --timeout 14400 \
		--forward 10573:10573 --forward 10574:10574 --forward 9090:9090 \
		-- $(PY) -m tests.vm.guest.shell

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
