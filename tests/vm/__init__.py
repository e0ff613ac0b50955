"""Tests that need a real IPVS kernel: a Debian kernel booted under qemu (see README in qemu.py)."""
