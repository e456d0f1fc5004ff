"""llmkit: fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe."""

__version__ = "0.1.0"
