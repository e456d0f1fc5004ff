"""`python -m llmkit` (and `torchrun -m llmkit` / `accelerate launch -m llmkit`) run the CLI."""

from llmkit.cli import main

if __name__ == "__main__":
    main()
