"""Train the small tokenizers behind the built-in `tiny-bert` and `tiny-gpt2` aliases.

They are trained on WordNet 3.0 glosses (Debian package `wordnet-base`, license in
recipes/data/README.md) and saved under llmkit/assets/. Deterministic: re-running rebuilds them.

    apt-get install wordnet-base && python scripts/build_tiny_tokenizers.py
"""

from __future__ import annotations

from pathlib import Path

from transformers import BertTokenizer, GPT2Tokenizer

WORDNET = Path("/usr/share/wordnet")
ASSETS = Path(__file__).resolve().parent.parent / "llmkit" / "assets"
VOCAB_SIZE = 4096


def glosses() -> list[str]:
    texts = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{pos}").read_text(encoding="utf-8").splitlines():
            if not line.startswith("  ") and "|" in line:
                texts.append(line.split("|", 1)[1].strip())
    return texts


def main() -> None:
    corpus = glosses()
    bert = BertTokenizer().train_new_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False)
    bert.model_max_length = 512
    bert.save_pretrained(ASSETS / "tiny-bert")
    gpt2 = GPT2Tokenizer().train_new_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False)
    gpt2.model_max_length = 512
    gpt2.save_pretrained(ASSETS / "tiny-gpt2")
    for name, tok in (("tiny-bert", bert), ("tiny-gpt2", gpt2)):
        print(name, len(tok), tok.tokenize("A small furry animal that purrs."), tok.special_tokens_map)


if __name__ == "__main__":
    main()
