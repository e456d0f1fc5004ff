"""Do llmkit's next-sentence pairs carry a learnable signal, and what does the masked-LM loss do to it?

Trains a tiny BERT (``BertForPreTraining``) on the NSP pairs ``llmkit.tasks.mlm_nsp`` builds from a JSONL file
of documents, for a few epochs, twice from the same initial weights: on the NSP loss alone, and on BERT's
joint loss (masked LM + NSP, transformers' ``DataCollatorForLanguageModeling`` masking 15%). Prints the NSP
accuracy on the training pairs after each epoch. The pairs and the tokenizer are llmkit's; the loop is a
plain PyTorch loop so that no llmkit training code is involved.

    python benchmarks/nsp_signal.py --epochs 30             # tests/fixtures/nsp/train.jsonl
    python benchmarks/nsp_signal.py --quick                 # CI smoke: 2 epochs
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests/fixtures/nsp/train.jsonl")
    parser.add_argument("--column", default="document")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--objective", choices=["both", "nsp only", "mlm + nsp"], default="both")
    parser.add_argument("--quick", action="store_true", help="2 epochs, no targets (CI smoke)")
    args = parser.parse_args()
    epochs = 2 if args.quick else args.epochs

    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForPreTraining, DataCollatorForLanguageModeling, PreTrainedTokenizerFast

    from llmkit.tasks.mlm_nsp import build_pairs, encode_pair, split_sentences

    texts = [json.loads(line)[args.column] for line in args.data.read_text(encoding="utf-8").splitlines() if line]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=600, special_tokens=special))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=wordpiece, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )  # fmt: skip
    docs = []
    for text in texts:
        sentences = split_sentences(text)
        ids = tokenizer(sentences, add_special_tokens=False)["input_ids"] if sentences else []
        docs.append([s for s in ids if s])
    pairs = [
        encode_pair(p, tokenizer.cls_token_id, tokenizer.sep_token_id)
        for p in build_pairs(docs, 61, random.Random("0"), 0.1)
    ]
    randoms = sum(p["next_sentence_label"] for p in pairs)
    print(
        f"{args.data.name}: {len(texts)} documents, {len(pairs)} pairs ({len(pairs) - randoms} real, {randoms} random)"
    )
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    keys = ("input_ids", "token_type_ids", "special_tokens_mask", "next_sentence_label")

    def accuracy(model: BertForPreTraining) -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(pairs), 64):
                batch = tokenizer.pad(
                    [{k: p[k] for k in keys if k != "special_tokens_mask"} for p in pairs[i : i + 64]],
                    return_tensors="pt",
                )
                labels = batch.pop("next_sentence_label")
                right += int((model(**batch).seq_relationship_logits.argmax(-1) == labels).sum())
        model.train()
        return right / len(pairs)

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64,
    )  # fmt: skip
    start = BertForPreTraining(config).state_dict()
    for objective in ("nsp only", "mlm + nsp") if args.objective == "both" else (args.objective,):
        torch.manual_seed(0)
        model = BertForPreTraining(config)
        model.load_state_dict(start)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
        curve, began = [], time.perf_counter()
        for epoch in range(epochs):
            order = list(range(len(pairs)))
            random.Random(epoch).shuffle(order)
            for i in range(0, len(order), 16):
                batch = collator([{k: pairs[j][k] for k in keys} for j in order[i : i + 16]])
                out = model(**batch)
                if objective == "nsp only":
                    loss = torch.nn.functional.cross_entropy(out.seq_relationship_logits, batch["next_sentence_label"])
                else:
                    loss = out.loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            curve.append(accuracy(model))
        shown = " ".join(f"{a:.3f}" for a in curve[4::5] or curve)
        took = time.perf_counter() - began
        print(f"{objective:>10}: NSP accuracy on the training pairs every 5 epochs: {shown} ({took:.0f} s)")


if __name__ == "__main__":
    main()
