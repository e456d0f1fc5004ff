"""What is explained: the model inputs and the scored outputs, one builder per ``Explanation.target`` kind.

A builder encodes the request as the task's ``predict`` would, runs the model once, picks the prediction (or
the user's ``--target``) and returns a ``Problem``: the token ids, the extra model inputs, and one ``Target`` per
explained output with a function reading its probability from the model outputs of a batch. The attribution
methods (``llmkit.explain.methods``) only ever see a ``Problem``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmkit.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Request:
    """What the user asked to explain (CLI options, already checked for presence)."""

    prompt: str | None = None
    question: str | None = None
    context: str | None = None
    target: str | None = None
    max_new_tokens: int = 20


@dataclass
class Target:
    """One explained output.

    Attributes:
        name: what it is ("label", "start", "end", "token 3").
        label: the output in words (a label, a tag, a token).
        position: the input position whose output is read: the row of the attention maps.
        score: model outputs of a batch -> (batch,) tensor: the explained probability (or regression value).
        decoder_input_ids: seq2seq only: the decoder prefix (1, t) whose last position predicts the token.
    """

    name: str
    label: str
    position: int
    score: Callable[[Any], Any]
    decoder_input_ids: Any = None


@dataclass
class Problem:
    """The model inputs and the outputs to explain."""

    input_ids: Any  # (1, n)
    inputs: dict[str, Any]  # attention_mask, token_type_ids: (1, n) tensors the forward passes take as they are
    tokens: list[str]
    prediction: Any
    score: float
    targets: list[Target] = field(default_factory=list)
    decoder_ids: Any = None  # seq2seq: the whole decoder sequence (1, T) (start token + generated tokens)


def _encode(tokenizer: Any, *texts: Any, max_length: int, truncation: Any = True, **kwargs: Any) -> Any:
    """Tokenize one input (a text or a pair) to (1, n) tensors, cut to ``max_length``."""
    return tokenizer(*texts, truncation=truncation, max_length=max_length, return_tensors="pt", **kwargs)


def _problem(tokenizer: Any, encoded: Any, prediction: Any, score: float, targets: list[Target]) -> Problem:
    inputs = {k: encoded[k] for k in ("attention_mask", "token_type_ids") if k in encoded}
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    return Problem(encoded["input_ids"], inputs, tokens, prediction, score, targets)


def _forward(model: Any, encoded: Any) -> Any:
    import torch

    with torch.no_grad():
        return model(**{k: v.to(model.device) for k, v in encoded.items() if k != "offset_mapping"})


def _prompt(request: Request, what: str) -> str:
    if not request.prompt:
        raise UsageError(f"give --prompt TEXT: {what}")
    return request.prompt


def _label_index(labels: list[str], wanted: str | None, best: int, option: str = "--target") -> int:
    if wanted is None:
        return best
    if wanted not in labels:
        raise UsageError(f"{option}: no label '{wanted}' (labels: {', '.join(labels)}){did_you_mean(wanted, labels)}")
    return labels.index(wanted)


def sequence_label(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """The label of the whole text: softmax probability (sigmoid for multi-label, the value for regression)."""
    text = _prompt(request, "the text to classify")
    encoded = _encode(tokenizer, text, max_length=max_length)
    logits = _forward(model, encoded).logits[0].float()
    config = model.config
    labels = [str(config.id2label[i]) for i in range(config.num_labels)]
    problem_type = getattr(config, "problem_type", None)
    index = _label_index(labels, request.target, int(logits.argmax()))

    def activation(values: Any) -> Any:
        if problem_type == "regression":
            return values.float()
        if problem_type == "multi_label_classification":
            return values.float().sigmoid()
        return values.float().softmax(-1)

    target = Target("label", labels[index], 0, lambda out: activation(out.logits)[:, index])
    score = float(activation(logits[None])[0, index])
    return _problem(tokenizer, encoded, labels[index], score, [target])


def token_label(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """The tag of one word (``--target WORD`` or ``WORD=TAG``; default: the first word not tagged O)."""
    words = _prompt(request, "the words to tag").split()
    encoded = _encode(tokenizer, words, max_length=max_length, is_split_into_words=True)
    probs = _forward(model, encoded).logits[0].float().softmax(-1)
    labels = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
    firsts: dict[int, int] = {}
    for position, word in enumerate(encoded.word_ids(0)):
        if word is not None:
            firsts.setdefault(word, position)
    tags = {word: labels[int(probs[pos].argmax())] for word, pos in firsts.items()}
    wanted, _, tag = (request.target or "").partition("=")
    if wanted:
        choices = [words[w] for w in firsts]
        if wanted not in choices:
            raise UsageError(f"--target: no word '{wanted}' in --prompt{did_you_mean(wanted, choices)}")
        word = next(w for w in firsts if words[w] == wanted)
    else:
        word = next((w for w in firsts if tags[w] != "O"), next(iter(firsts)))
    position = firsts[word]
    index = _label_index(labels, tag or None, labels.index(tags[word]), "--target WORD=TAG")
    chosen = f"{words[word]}={labels[index]}"
    target = Target("tag", chosen, position, lambda out: out.logits.float().softmax(-1)[:, position, index])
    return _problem(tokenizer, encoded, chosen, float(probs[position, index]), [target])


MAX_ANSWER_TOKENS = 30  # the longest span considered, as the task's own post-processing


def span(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """The start and the end of the answer in the context (``--target TEXT``: that span of the context instead)."""
    import torch

    question, context = request.question, request.context
    if not question or not context:
        raise UsageError("a question answering model needs --question TEXT and --context TEXT")
    encoded = _encode(
        tokenizer, question, context, max_length=max_length, truncation="only_second", return_offsets_mapping=True
    )
    out = _forward(model, encoded)
    start_logits, end_logits = out.start_logits[0].float().cpu(), out.end_logits[0].float().cpu()
    offsets = encoded["offset_mapping"][0].tolist()
    in_context = torch.tensor([sid == 1 for sid in encoded.sequence_ids(0)])
    if request.target:
        first, last = _answer_positions(context, request.target, offsets, in_context)
    else:
        pair = start_logits[:, None] + end_logits[None, :]
        n = len(offsets)
        allowed = in_context[:, None] & in_context[None, :]
        allowed &= torch.ones(n, n, dtype=torch.bool).triu() & ~torch.ones(n, n, dtype=torch.bool).triu(
            MAX_ANSWER_TOKENS
        )
        best = int(pair.masked_fill(~allowed, float("-inf")).argmax())
        first, last = divmod(best, n)
    answer = context[offsets[first][0] : offsets[last][1]]
    targets = [
        Target("start", answer, first, lambda o: o.start_logits.float().softmax(-1)[:, first]),
        Target("end", answer, last, lambda o: o.end_logits.float().softmax(-1)[:, last]),
    ]
    score = float(start_logits.softmax(-1)[first] * end_logits.softmax(-1)[last])
    return _problem(tokenizer, encoded, answer, score, targets)


def _answer_positions(context: str, answer: str, offsets: list, in_context: Any) -> tuple[int, int]:
    """The first and last context tokens covering ``answer``'s first occurrence in the context."""
    begin = context.find(answer)
    if begin < 0:
        raise UsageError(f"--target: '{answer}' is not in --context; give a piece of the context to explain")
    end = begin + len(answer)
    covered = [i for i, (a, b) in enumerate(offsets) if in_context[i] and b > begin and a < end]
    if not covered:
        raise UsageError(f"--target: '{answer}' lies in the part of --context cut at the length limit")
    return covered[0], covered[-1]


def _token_id(tokenizer: Any, wanted: str | None, best: int) -> int:
    """``--target`` as one token of the vocabulary (a vocabulary entry, or a text that encodes to one token)."""
    if wanted is None:
        return best
    vocab = tokenizer.get_vocab()
    if wanted in vocab:
        return int(vocab[wanted])
    ids = tokenizer(wanted, add_special_tokens=False)["input_ids"]
    if len(ids) == 1:
        return int(ids[0])
    pieces = " ".join(tokenizer.convert_ids_to_tokens(ids))
    raise UsageError(
        f"--target: '{wanted}' is {len(ids)} tokens ({pieces}), not one token of the vocabulary"
        f"{did_you_mean(wanted, list(vocab))}"
    )


def _token_problem(model: Any, tokenizer: Any, request: Request, encoded: Any, position: int) -> Problem:
    probs = _forward(model, encoded).logits[0, position].float().softmax(-1)
    index = _token_id(tokenizer, request.target, int(probs.argmax()))
    token = tokenizer.convert_ids_to_tokens(index)
    target = Target("token", token, position, lambda out: out.logits.float().softmax(-1)[:, position, index])
    return _problem(tokenizer, encoded, token, float(probs[index]), [target])


def masked_token(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """The token predicted at the first mask of the prompt."""
    text = _prompt(request, "a text with a mask to fill")
    mask = tokenizer.mask_token
    if mask is None or mask not in text:
        raise UsageError(f"--prompt needs a {mask or 'mask token'} to fill, e.g. 'a small {mask} that purrs'")
    encoded = _encode(tokenizer, text, max_length=max_length)
    positions = (encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero()
    if len(positions) == 0:
        raise UsageError(f"--prompt: the {mask} lies past the length limit ({max_length} tokens)")
    return _token_problem(model, tokenizer, request, encoded, int(positions[0]))


def next_token(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """The token that follows the prompt."""
    text = _prompt(request, "the text to continue")
    encoded = tokenizer(text, return_tensors="pt")
    for key in ("input_ids", "attention_mask"):  # a long prompt keeps its end, as generation does
        encoded[key] = encoded[key][:, -max_length:]
    return _token_problem(model, tokenizer, request, encoded, encoded["input_ids"].shape[1] - 1)


def generated_tokens(model: Any, tokenizer: Any, request: Request, max_length: int) -> Problem:
    """Each token an encoder-decoder model generates greedily from the source (``--target TEXT``: that output)."""
    import torch

    text = _prompt(request, "the source text")
    if not getattr(model.config, "is_encoder_decoder", False):
        raise UsageError(
            f"explaining generated tokens needs an encoder-decoder model; {type(model).__name__} is decoder-only: "
            "explain its next token with --task clm"
        )
    encoded = _encode(tokenizer, text, max_length=max_length)
    if request.target:
        start = model.generation_config.decoder_start_token_id
        if start is None:
            start = model.config.decoder_start_token_id
        output = tokenizer(text_target=request.target)["input_ids"]
        sequence = [int(start), *output]
    else:
        with torch.no_grad():
            generated = model.generate(
                **{k: v.to(model.device) for k, v in encoded.items()},
                max_new_tokens=request.max_new_tokens,
                do_sample=False,
                num_beams=1,
            )
        sequence = generated[0].tolist()
    ends = {tokenizer.pad_token_id, tokenizer.eos_token_id} - {None}
    steps = [t for t in range(1, len(sequence)) if sequence[t] not in ends]
    if not steps:
        raise UsageError("the model generated no token to explain (it stopped at once); give --target TEXT")
    decoder_ids = torch.tensor([sequence[: steps[-1] + 1]])
    with torch.no_grad():
        logits = _forward(model, {**encoded, "decoder_input_ids": decoder_ids[:, :-1]}).logits[0].float()
    probs = logits.softmax(-1).cpu()
    targets = []
    for t in steps:
        token = sequence[t]
        label = tokenizer.convert_ids_to_tokens(token)
        score = _next_probability(token)
        targets.append(Target(f"token {t}", label, t - 1, score, decoder_input_ids=decoder_ids[:, :t]))
    score = float(torch.stack([probs[t - 1, sequence[t]] for t in steps]).prod())
    problem = _problem(tokenizer, encoded, tokenizer.decode(sequence, skip_special_tokens=True), score, targets)
    problem.decoder_ids = decoder_ids
    return problem


def _next_probability(token: int) -> Callable[[Any], Any]:
    """Outputs -> the probability of ``token`` at the decoder's last position (a closure per generated token)."""
    return lambda out: out.logits.float().softmax(-1)[:, -1, token]


BUILDERS: dict[str, Callable[[Any, Any, Request, int], Problem]] = {
    "sequence_label": sequence_label,
    "token_label": token_label,
    "span": span,
    "masked_token": masked_token,
    "next_token": next_token,
    "generated_tokens": generated_tokens,
}
