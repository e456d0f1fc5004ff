"""Library chatter control, shared by every command that loads transformers."""

from __future__ import annotations

import os


def quiet_libraries() -> None:
    """Keep library chatter (load reports, tokenizer warnings) out of the user's terminal."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    import datasets
    import transformers

    if not os.environ.get("LLMKIT_VERBOSE"):
        warnings.filterwarnings("ignore", message=".*pin_memory.*")
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        warnings.filterwarnings("ignore", message="Could not find a config file in")  # PEFT, alias bases
        # TRL 1.x: perplexity needs the logits its fused LM head skips; the extra forward pass is llmkit's choice
        warnings.filterwarnings("ignore", message=r"`return_outputs=True`, and the logits", category=FutureWarning)
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()
