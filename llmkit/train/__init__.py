"""Training, evaluation and validation: the layer that builds tokenizer, model, datasets and Trainer."""
