"""Tools around the C64 build: VICE harness, disk image, flashing, benchmarks."""
