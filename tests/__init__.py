"""lvsmon tests: unit/, lab/ (namespaces, real daemons), vm/ (real IPVS kernel)."""
