"""Train the small tokenizers behind the built-in `tiny-bert`, `tiny-gpt2` and `tiny-t5` aliases.

`tiny-bert` and `tiny-gpt2` are trained on WordNet 3.0 glosses (Debian package `wordnet-base`, license
in recipes/data/README.md). `tiny-t5` is a T5-style Unigram tokenizer (`<pad>`=0, `</s>`=1, `<unk>`=2,
`</s>` appended) trained on both sides of the English-German training split in
recipes/data/gettext-en-de/, so it covers both languages. All are saved under llmkit/assets/.
Deterministic: re-running rebuilds them.

    apt-get install wordnet-base && python scripts/build_tiny_tokenizers.py
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizer, GPT2Tokenizer, T5Tokenizer

WORDNET = Path("/usr/share/wordnet")
ASSETS = Path(__file__).resolve().parent.parent / "llmkit" / "assets"
VOCAB_SIZE = 4096
PARALLEL = Path(__file__).resolve().parent.parent / "recipes" / "data" / "gettext-en-de" / "train.jsonl"


def glosses() -> list[str]:
    texts = []
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{pos}").read_text(encoding="utf-8").splitlines():
            if not line.startswith("  ") and "|" in line:
                texts.append(line.split("|", 1)[1].strip())
    return texts


def parallel_texts() -> list[str]:
    texts = []
    for line in PARALLEL.read_text(encoding="utf-8").splitlines():
        pair = json.loads(line)["translation"]
        texts += [pair["en"], pair["de"]]
    return texts


def t5_tokenizer(corpus: list[str]) -> T5Tokenizer:
    """A T5-style Unigram tokenizer: SentencePiece-like spaces, ids 0/1/2 for pad/eos/unk, eos appended."""
    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=specials, unk_token="<unk>", show_progress=False
    )
    backend.train_from_iterator(corpus, trainer)
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return T5Tokenizer(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0)


def main() -> None:
    corpus = glosses()
    bert = BertTokenizer().train_new_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False)
    bert.model_max_length = 512
    bert.save_pretrained(ASSETS / "tiny-bert")
    gpt2 = GPT2Tokenizer().train_new_from_iterator(corpus, vocab_size=VOCAB_SIZE, show_progress=False)
    gpt2.model_max_length = 512
    gpt2.save_pretrained(ASSETS / "tiny-gpt2")
    t5 = t5_tokenizer(parallel_texts())
    t5.model_max_length = 512
    t5.save_pretrained(ASSETS / "tiny-t5")
    for name, tok in (("tiny-bert", bert), ("tiny-gpt2", gpt2), ("tiny-t5", t5)):
        print(name, len(tok), tok.tokenize("A small furry animal that purrs."), tok.special_tokens_map)


if __name__ == "__main__":
    main()
