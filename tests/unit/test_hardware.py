"""Hardware rules: which mixed precision runs where, CPU multi-process runs, Trainer's loss scaling."""

import pytest

from llmkit.train.hardware import Machine, detect, needs_cpu_flag, precision_refusal

CPU = Machine(accelerator=None, cpu_capability="AVX2", cpu_bf16=False)
CPU_BF16 = Machine(accelerator=None, cpu_capability="AVX512", cpu_bf16=True)
GPU = Machine(accelerator="cuda", cpu_capability="AVX2", cpu_bf16=False)


def test_fp16_is_refused_on_the_cpu_whatever_the_cpu():
    for machine in (CPU, CPU_BF16):
        message = precision_refusal(bf16=False, fp16=True, use_cpu=False, machine=machine)
        assert message.startswith("training.fp16:") and "GPU" in message


def test_bf16_on_the_cpu_needs_native_support_and_names_the_cpu():
    message = precision_refusal(bf16=True, fp16=False, use_cpu=False, machine=CPU)
    assert message.startswith("training.bf16:") and "(AVX2)" in message and "AVX512-BF16 or AMX" in message
    assert precision_refusal(bf16=True, fp16=False, use_cpu=False, machine=CPU_BF16) is None


def test_with_an_accelerator_transformers_decides_unless_use_cpu():
    assert precision_refusal(bf16=True, fp16=True, use_cpu=False, machine=GPU) is None
    assert precision_refusal(bf16=False, fp16=True, use_cpu=True, machine=GPU).startswith("training.fp16:")
    assert precision_refusal(bf16=False, fp16=False, use_cpu=False, machine=CPU) is None


def test_cpu_only_multi_process_runs_get_use_cpu():
    assert needs_cpu_flag(2, None, CPU)
    assert not needs_cpu_flag(1, None, CPU)
    assert not needs_cpu_flag(2, False, CPU)  # the user's explicit choice stands
    assert not needs_cpu_flag(2, None, GPU)


def test_detect_reports_this_machine():
    import torch

    machine = detect()
    assert machine.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert isinstance(machine.cpu_bf16, bool)
    assert (machine.accelerator == "cuda") == torch.cuda.is_available()


@pytest.mark.parametrize(
    ("cls", "model_type", "sizes", "expected"),
    [
        ("BertForSequenceClassification", "bert", {"hidden_size": 16, "num_attention_heads": 2}, False),
        ("BertForMaskedLM", "bert", {"hidden_size": 16, "num_attention_heads": 2}, False),
        ("GPT2ForSequenceClassification", "gpt2", {"n_embd": 16, "n_head": 2}, False),
        ("GPT2LMHeadModel", "gpt2", {"n_embd": 16, "n_head": 2}, True),
    ],
)
def test_loss_uses_item_count_only_for_losses_that_divide_by_it(cls, model_type, sizes, expected):
    import transformers

    from llmkit.train.model import loss_uses_item_count

    config = transformers.AutoConfig.for_model(model_type, num_hidden_layers=1, n_layer=1, vocab_size=40, **sizes)
    assert loss_uses_item_count(getattr(transformers, cls)(config)) is expected
