"""Tests that need a real IPVS kernel: a Debian kernel booted under qemu.

image.py builds and caches the guest, qemu.py runs a command in it, guest/ holds the
tests that run inside (test_guest_suite.py boots once and runs them all).
"""
