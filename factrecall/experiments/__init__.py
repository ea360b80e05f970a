"""The experiments: one module per experiment (its members, its summary
and claims, its figures), each run by a config in configs/."""
