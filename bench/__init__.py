"""WhatsApp Builder benchmarks: `bench/run.sh [--quick] [--profile]` (see bench/README.md)."""
