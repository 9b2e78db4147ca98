"""acecurate: curated, verified RL datasets for reasoning models, and staged GRPO over them."""

__version__ = "0.1.0"
