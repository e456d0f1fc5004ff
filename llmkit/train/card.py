"""The model card (README.md) of a run directory, and the parts an export's card shares with it.

The front matter is Hub metadata made with ``huggingface_hub.ModelCardData`` (``base_model`` as a hub id,
``library_name``, ``pipeline_tag``, ``license``, ``datasets``, ``model-index`` with the measured metrics), so
the Hub shows the model's widget, base model and results. The card never holds an absolute local path: a
path in the recipe shows as its last two parts, a local base model as its folder name. The usage snippet
starts with ``model_id = "."`` (the folder the card sits in); ``llmkit push`` puts the repository id there.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.train.rundir import METRICS_FILE, RECIPE_FILE, read_json

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
MODEL_ID_LINE = 'model_id = "."  # the folder this card is in; on the Hub: "user/name"'
TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")
METRIC_SPLITS = ("validation", "test")
# An absolute POSIX or Windows path inside a text (not the path part of a URL).
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~])(?:[A-Za-z]:\\|/)[^\s()'\"`|]+")


@dataclass
class CardFacts:
    """What a card says, read from a run directory (``metrics.json``, ``recipe.yaml``, ``config.json``)."""

    name: str
    task: TaskSpec
    recipe: dict[str, Any]
    metrics: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)  # id2label of a classification head
    adapter: bool = False
    remote_code: bool = False  # config.json's auto_map names code shipped beside the weights (a head-pruned model)

    @property
    def base(self) -> str | None:
        """The model the run started from, as the recipe names it (None: built from ``model.config``)."""
        model = self.recipe.get("model") or {}
        return None if model.get("config") else model.get("name_or_path")


def read_facts(run_dir: Path, task: TaskSpec, name: str | None = None) -> CardFacts:
    """The card's facts from a run directory (or an export folder holding the same files)."""
    import yaml

    from llmkit.models import adapters

    recipe_file = run_dir / RECIPE_FILE
    recipe = yaml.safe_load(recipe_file.read_text(encoding="utf-8")) if recipe_file.is_file() else {}
    config = read_json(run_dir / "config.json")
    labels = {str(k): str(v) for k, v in (config.get("id2label") or {}).items()}
    if sorted(labels.values()) == [f"LABEL_{i}" for i in range(len(labels))]:
        labels = {}  # transformers' placeholder names: the head has no labels of its own
    return CardFacts(
        name=name or run_dir.resolve().name,
        task=task,
        recipe=recipe or {},
        metrics=read_json(run_dir / METRICS_FILE),
        labels=labels,
        adapter=adapters.is_adapter_dir(run_dir),
        remote_code=bool(config.get("auto_map")),
    )


def local_name(value: str) -> str:
    """A local path shown without the machine's folders: its last two parts (``textcls/train.csv``)."""
    from pathlib import PureWindowsPath

    parts = (PureWindowsPath(value) if "\\" in value else Path(value)).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else value


def scrub_paths(value: Any) -> Any:
    """The recipe with every absolute path cut to its last two parts (a card is published; paths are private)."""
    if isinstance(value, dict):
        return {k: scrub_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_paths(v) for v in value]
    if isinstance(value, str):
        return ABSOLUTE_PATH.sub(lambda m: local_name(m.group()), value)
    return value


def datasets_of(recipe: dict[str, Any]) -> list[str]:
    """Hub dataset ids: ``card.datasets``, else ``data.dataset_name``; local files have none."""
    card = recipe.get("card") or {}
    if card.get("datasets"):
        return [str(d) for d in card["datasets"]]
    name = (recipe.get("data") or {}).get("dataset_name")
    return [str(name)] if name else []


def data_name(recipe: dict[str, Any]) -> str:
    """How the results name their data: the hub dataset, else the folder of the training file."""
    found = datasets_of(recipe)
    if found:
        return found[0]
    data = recipe.get("data") or {}
    first = data.get("train_file") or data.get("validation_file") or data.get("test_file") or "local data"
    first = first[0] if isinstance(first, list) else first
    parent = Path(str(first)).parent.name
    return parent or Path(str(first)).stem


def card_license(facts: CardFacts) -> str | None:
    """``card.license`` from the recipe, else what the base model's own card declares."""
    from llmkit.models import base_license

    return (facts.recipe.get("card") or {}).get("license") or base_license(facts.base)


def measured(metrics: dict[str, Any]) -> list[tuple[str, str, float]]:
    """(split, metric, value) for every number of the validation and test splits except timings."""
    found = []
    for split in METRIC_SPLITS:
        for name, value in (metrics.get(split) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool) and not name.endswith(TIMING_SUFFIXES):
                found.append((split, name, float(value)))
    return found


def metadata(facts: CardFacts, library_name: str) -> Any:
    """The card's front matter as ``huggingface_hub.ModelCardData`` (the Hub's own schema)."""
    from huggingface_hub import EvalResult, ModelCardData

    from llmkit.models import hub_id

    task = facts.task
    dataset = data_name(facts.recipe)
    results = [
        EvalResult(
            task_type=task.pipeline_tag or task.name,
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_split=split,
            metric_type=name,
            metric_value=round(value, 4),
        )
        for split, name, value in measured(facts.metrics)
        if value == value and abs(value) != float("inf")  # the Hub's YAML takes no nan/inf
    ]
    tags = [
        "llmkit",
        task.name,
        *(["lora", "peft"] if facts.adapter else []),
        *(facts.recipe.get("card") or {}).get("tags", []),
    ]
    return ModelCardData(
        base_model=hub_id(facts.base),
        library_name=library_name,
        pipeline_tag=task.pipeline_tag,
        license=card_license(facts),
        datasets=datasets_of(facts.recipe) or None,
        tags=list(dict.fromkeys(tags)),
        model_name=facts.name,
        eval_results=results or None,
    )


def origin_line(facts: CardFacts) -> str:
    """One sentence on what the model is and where it started from (no local paths)."""
    from llmkit.models import hub_id

    task = facts.task
    what = f"A LoRA adapter (PEFT) for `{task.name}`" if facts.adapter else f"A `{task.name}` model"
    base, hub = facts.base, hub_id(facts.base)
    if base is None:
        start = "trained from scratch from `model.config` (below)"
    elif hub:
        start = f"fine-tuned from [`{hub}`](https://huggingface.co/{hub})"
    elif Path(str(base)).is_absolute() or "/" in str(base):
        start = f"fine-tuned from the local checkpoint `{Path(str(base)).name}`"
    else:
        start = f"trained from llmkit's built-in `{base}` (random weights built from a config)"
    tag = f" ({task.pipeline_tag})" if task.pipeline_tag else ""
    return f"{what}{tag}, {start}, with [llmkit](https://pypi.org/project/llmkit/)."


def usage_lines(facts: CardFacts) -> list[str]:
    """A Python snippet that loads the model with transformers (or PEFT) alone and, when it can, runs it."""
    task = facts.task
    runs = bool(task.pipeline_tag and task.pipeline_example)
    if facts.adapter:
        code = _adapter_loading(facts, runs)
    else:
        code = [f"from transformers import {task.auto_model}, AutoTokenizer{', pipeline' if runs else ''}"]
        code += ["", MODEL_ID_LINE]
        if facts.remote_code:
            code += [
                "# attention heads removed by `llmkit prune`: the code that rebuilds the layers ships with the model",
                f"model = {task.auto_model}.from_pretrained(model_id, trust_remote_code=True)",
            ]
        else:
            code.append(f"model = {task.auto_model}.from_pretrained(model_id)")
    code.append("tokenizer = AutoTokenizer.from_pretrained(model_id)")
    if runs:
        code.append(f'pipe = pipeline("{task.pipeline_tag}", model=model, tokenizer=tokenizer)')
        code.append(f"print(pipe({task.pipeline_example}))")
    return ["```python", *code, "```"]


def _adapter_loading(facts: CardFacts, runs: bool) -> list[str]:
    """PEFT's Auto class when it has one for the head, else the base model by name plus ``PeftModel``."""
    import peft

    auto = facts.task.auto_model
    labels = ", num_labels=config.num_labels, id2label=config.id2label, label2id=config.label2id"
    labels = labels if facts.labels else ""
    config_line = ["config = AutoConfig.from_pretrained(model_id)  # the base config with this head's labels"]
    config_line = config_line if facts.labels else []
    peft_auto = "AutoPeft" + auto.removeprefix("Auto")
    names = ["AutoConfig"] if facts.labels else []
    names += ["AutoTokenizer", *(["pipeline"] if runs else [])]
    if hasattr(peft, peft_auto):
        imports = [f"from peft import {peft_auto}", f"from transformers import {', '.join(names)}"]
        load = [f"model = {peft_auto}.from_pretrained(model_id{labels})"]
    else:
        imports = ["from peft import PeftConfig, PeftModel", f"from transformers import {auto}, {', '.join(names)}"]
        load = [
            "base_id = PeftConfig.from_pretrained(model_id).base_model_name_or_path",
            f"model = PeftModel.from_pretrained({auto}.from_pretrained(base_id{labels}), model_id)",
        ]
    return [*imports, "", MODEL_ID_LINE, *config_line, *load]


def data_lines(data: dict[str, Any]) -> list[str]:
    """The card's data table from metrics.json ``data``: rows, truncated and source per split, and the labels."""
    if not data.get("rows"):
        return []
    lines = ["## Training data", "", "| split | rows | truncated | source |", "|---|---|---|---|"]
    for split, rows in data["rows"].items():
        truncated = (data.get("truncated") or {}).get(split, "")
        source = scrub_paths((data.get("sources") or {}).get(split, ""))
        lines.append(f"| {split} | {rows} | {truncated} | {source} |")
    if data.get("labels"):
        lines += ["", "Labels: " + ", ".join(str(label) for label in data["labels"])]
    return [*lines, ""]


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """The card's results table: every number of the validation and test splits except timings."""
    rows = measured(metrics)
    if not rows:
        return []
    lines = ["## Results", "", "| split | metric | value |", "|---|---|---|"]
    lines += [f"| {split} | {name} | {value:.4g} |" for split, name, value in rows]
    return [*lines, ""]


def recipe_lines(facts: CardFacts) -> list[str]:
    """The model config of a model built from scratch, and the whole recipe (paths cut) folded away."""
    import yaml

    if not facts.recipe:
        return []
    lines = []
    model = facts.recipe.get("model") or {}
    if model.get("config"):
        config = yaml.safe_dump(model["config"], sort_keys=False).rstrip()
        lines += [
            "## Model config",
            "",
            "Built from scratch with this `model.config`:",
            "",
            "```yaml",
            config,
            "```",
            "",
        ]
    text = yaml.safe_dump(scrub_paths(facts.recipe), sort_keys=False, allow_unicode=True).rstrip()
    lines += ["## Recipe", "", "<details><summary>recipe.yaml (local paths cut)</summary>", ""]
    return [*lines, "```yaml", text, "```", "", "</details>", ""]


def card_text(facts: CardFacts, library_name: str, usage: list[str], extra: list[str] = (), intro: str = "") -> str:
    """The whole card: front matter, what the model is, how to use it, data, results, extra sections, recipe."""
    from huggingface_hub import ModelCard

    data = metadata(facts, library_name)
    lines = [f"# {facts.name}", "", origin_line(facts)]
    lines += [intro] if intro else []
    lines += ["", "## Use", "", *usage, ""]
    lines += data_lines(facts.metrics.get("data") or {})
    lines += metric_lines(facts.metrics)
    lines += list(extra)
    lines += recipe_lines(facts)
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)))


def write_run_card(run_dir: Path, task: TaskSpec) -> None:
    """README.md of a run directory (replacing PEFT's empty template on LoRA runs)."""
    facts = read_facts(run_dir, task)
    text = card_text(facts, "peft" if facts.adapter else "transformers", usage_lines(facts))
    (run_dir / CARD_FILE).write_text(text, encoding="utf-8")


def for_repo(text: str, repo_id: str) -> str:
    """The card as uploaded to ``repo_id``: the usage snippet loads from the Hub."""
    return text.replace(MODEL_ID_LINE, f'model_id = "{repo_id}"')


def card_json(text: str) -> dict[str, Any]:
    """The metadata of a card as a dict (for checks and ``llmkit push``)."""
    from huggingface_hub import ModelCard

    return json.loads(json.dumps(ModelCard(text).data.to_dict(), default=str))
