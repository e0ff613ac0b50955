"""Tests that run only inside the IPVS test guest (booted by tests/vm/test_guest_suite.py)."""
