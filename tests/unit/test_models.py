"""Model references: aliases, local directories, hub ids (offline)."""

import pytest

from llmkit.config import ModelSection
from llmkit.errors import ModelError
from llmkit.models import load_config, load_model, load_tokenizer, resolve_source


def test_aliases_resolve_without_loading_anything():
    assert resolve_source("tiny-bert").kind == "builtin"
    minilm = resolve_source("minilm-l6")
    assert minilm.kind == "local" and minilm.path.endswith("model")


def test_hub_like_ids_and_missing_directories_are_told_apart(tmp_path):
    assert resolve_source("bert-base-uncased").kind == "hub"
    assert resolve_source("org/model").kind == "hub"
    assert resolve_source(str(tmp_path)).kind == "local"
    with pytest.raises(ModelError, match=r"directory '\./runs/nope' not found"):
        resolve_source("./runs/nope")


def test_offline_hub_id_fails_fast_with_one_clear_line():
    with pytest.raises(ModelError) as info:
        load_tokenizer(ModelSection(name_or_path="no-such-org/no-such-model"))
    message = str(info.value)
    assert "HF_HUB_OFFLINE=1" in message and "\n" not in message


def test_typo_of_an_alias_is_suggested():
    with pytest.raises(ModelError, match="did you mean 'tiny-bert'"):
        load_tokenizer(ModelSection(name_or_path="tiny-bertt"))


def test_tiny_models_are_deterministic():
    section = ModelSection(name_or_path="tiny-gpt2")
    tokenizer = load_tokenizer(section)
    first = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer))
    second = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer))
    assert all((a == b).all() for a, b in zip(first.parameters(), second.parameters(), strict=True))
    assert first.config.vocab_size == len(tokenizer)


def test_gpt2_gets_a_pad_token():
    tokenizer = load_tokenizer(ModelSection(name_or_path="tiny-gpt2"))
    assert tokenizer.pad_token is not None and tokenizer.pad_token == tokenizer.eos_token


def test_pickle_only_checkpoints_are_refused(tmp_path):
    section = ModelSection(name_or_path="tiny-bert")
    tokenizer = load_tokenizer(section)
    model = load_model(section, "AutoModel", load_config(section, tokenizer))
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    import torch

    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    tokenizer.save_pretrained(tmp_path)
    local = ModelSection(name_or_path=str(tmp_path))
    with pytest.raises(ModelError, match="pickle"):
        load_model(local, "AutoModel", load_config(local))


class Payload:
    """A pickle that runs a shell command when loaded unsafely."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def saved_tiny_bert(folder):
    section = ModelSection(name_or_path="tiny-bert")
    tokenizer = load_tokenizer(section)
    load_model(section, "AutoModel", load_config(section, tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return ModelSection(name_or_path=str(folder), allow_pickle_weights=True)


def test_malicious_pickle_weights_are_refused_naming_the_file_and_never_run(tmp_path):
    import torch

    local = saved_tiny_bert(tmp_path / "model")
    (tmp_path / "model" / "model.safetensors").unlink()
    target = tmp_path / "pwned"
    torch.save({"bert.embeddings.word_embeddings.weight": Payload(target)}, tmp_path / "model" / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"model/pytorch_model.bin: it asks for posix.system, which a safe load"):
        load_model(local, "AutoModel", load_config(local))
    assert not target.exists()
    (tmp_path / "model" / "pytorch_model.bin").write_bytes(b"<html>not found</html>")
    with pytest.raises(ModelError, match=r"pytorch_model.bin: it is not a PyTorch file"):
        load_model(local, "AutoModel", load_config(local))


@pytest.mark.parametrize("keep", [0.5, 0.0001])
def test_truncated_safetensors_are_a_model_error_naming_the_file(tmp_path, keep):
    local = saved_tiny_bert(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: max(int(len(data) * keep), 1)])
    with pytest.raises(ModelError, match=r"model/model.safetensors: it is not a readable safetensors file"):
        load_model(local, "AutoModel", load_config(local))
