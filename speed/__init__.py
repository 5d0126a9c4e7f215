"""Speed benchmarks: each prints JSON (run as python -m benchmarks.<name> or as a script)."""
