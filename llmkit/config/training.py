"""The ``training:`` section, validated against ``transformers.TrainingArguments`` without importing it.

Importing ``transformers.training_args`` pulls in torch (seconds). Instead we read the dataclass's
source with ``ast``: field names, annotations, defaults, help texts and choices. The schema therefore
follows whatever transformers version is installed, and ``--dry-run`` stays fast. Anything this cannot
check (enum values, cross-field rules) is checked again when the runner builds the real dataclass.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

# Fields llmkit sets itself, with the way a user sets them instead.
RESERVED: dict[str, str] = {
    "resume_from_checkpoint": "use --resume",
    "do_train": "llmkit trains when the command is pretrain/finetune",
    "do_eval": "set training.eval_strategy instead",
    "do_predict": "use `llmkit eval` instead",
    "local_rank": "the launcher (torchrun/accelerate) sets it",
    "disable_tqdm": "llmkit draws its own progress display",
}


# Fields whose source annotation is narrower than what TrainingArguments accepts ("fsdp: true" is the
# documented way to turn FSDP on, the annotation says str).
WIDER: dict[str, Any] = {"fsdp": Union[bool, str, list[str]]}  # noqa: UP007 - a runtime value
# Fields that name a file or folder: a relative path is read from the recipe's folder, like data files.
PATH_FIELDS = ("output_dir", "deepspeed", "fsdp_config", "accelerator_config")
# Fields that transformers 5 removed, with what replaces them (shown instead of a bare "unknown key").
REMOVED: dict[str, str] = {
    "warmup_ratio": "transformers 5 takes the ratio as training.warmup_steps (a value below 1 is a fraction of the "
    "total steps)",
    "evaluation_strategy": "renamed training.eval_strategy",
    "no_cuda": "use training.use_cpu",
    "use_mps_device": "removed in transformers 5; MPS is used when available, training.use_cpu turns it off",
    "overwrite_output_dir": "use --overwrite",
    "logging_dir": "removed in transformers 5; set the TENSORBOARD_LOGGING_DIR environment variable",
    "per_gpu_train_batch_size": "use training.per_device_train_batch_size",
    "per_gpu_eval_batch_size": "use training.per_device_eval_batch_size",
}


class _Named:
    """Placeholder for a class we cannot resolve from source (an enum, a config class)."""


_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str, "dict": dict[str, Any], "list": list[Any]}


@dataclass(frozen=True)
class ArgField:
    """One TrainingArguments field as read from source."""

    name: str
    annotation: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None


def _transformers_file(relative: str) -> Path | None:
    """A file of the installed transformers package, found without importing it."""
    return _package_file("transformers", relative)


def _training_args_source() -> Path | None:
    return _transformers_file("training_args.py")


@lru_cache(maxsize=16)
def _top_level_block(relative: str, pattern: str, end: str = r"(?=^\S)") -> ast.stmt | None:
    """Parse only one top-level statement (``class X`` or ``X = {...}``) of a transformers source file.

    Whole files take tens of milliseconds to parse; one class or dict takes well under one.
    """
    path = _transformers_file(relative)
    if path is None:
        return None
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"^{pattern}.*?{end}", text + "\n#end\n", re.M | re.S)
    if found is None:
        return None
    try:
        body = ast.parse(textwrap.dedent(found.group(0))).body
    except SyntaxError:
        return None
    return body[0] if body else None


def enum_values(relative: str, class_name: str) -> tuple[str, ...]:
    """The string values of an ``ExplicitEnum`` in transformers' source (``SchedulerType`` -> linear, ...).

    Empty when the class is not found, so that callers skip the check rather than refuse every value.
    """
    node = _top_level_block(relative, rf"class {class_name}\b")
    if not isinstance(node, ast.ClassDef):
        return ()
    values = []
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            values.append(stmt.value.value)
    return tuple(values)


def dict_keys(relative: str, name: str) -> tuple[str, ...]:
    """The string keys of a module-level dict literal in transformers' source (``INTEGRATION_TO_CALLBACK``)."""
    node = _top_level_block(relative, rf"{name}\s*=\s*\{{", end=r"^\}[^\n]*\n")
    if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Dict):
        return ()
    return tuple(k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))


def _python_type(node: ast.expr) -> Any:
    """Map an annotation AST to a type pydantic can check; unknown names (enums) become ``Any``."""
    if isinstance(node, ast.Constant) and node.value is None:
        return type(None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _python_type(ast.parse(node.value, mode="eval").body)
    if isinstance(node, ast.Name):
        return _SIMPLE.get(node.id, _Named)
    if isinstance(node, ast.Attribute):
        return _Named
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_python_type(node.left), _python_type(node.right)])
    if isinstance(node, ast.Subscript):
        outer = node.value.id if isinstance(node.value, ast.Name) else ""
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if outer in ("Optional",):
            return _union([_python_type(inner[0]), type(None)])
        if outer in ("Union",):
            return _union([_python_type(x) for x in inner])
        if outer in ("list", "List"):
            return list[_resolve(_python_type(inner[0]))]  # type: ignore[misc]
        if outer in ("dict", "Dict"):
            return dict[str, Any]
        if outer == "Literal":
            return Any
    return Any


def _resolve(annotation: Any) -> Any:
    return Any if annotation is _Named else annotation


def _union(types: list[Any]) -> Any:
    flat: list[Any] = []
    # "SomeEnum | str" is a string as far as YAML is concerned; the real dataclass checks the value.
    known = [t for t in types if t is not _Named]
    types = known if known and known != [type(None)] else [Any, *known]
    for t in types:
        if t is Any:
            return Any
        if t not in flat:
            flat.append(t)
    if len(flat) == 1:
        return flat[0]
    # Try bool before str so that `true` stays a bool in `bool | str` fields.
    flat.sort(key=lambda t: 0 if t is bool else 1)
    return Union[tuple(flat)]  # noqa: UP007 - built at run time


def _literal(node: ast.expr | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _class_fields(cls: ast.ClassDef) -> dict[str, ArgField]:
    """The init fields one dataclass body declares (``field(...)`` metadata: help, choices, init)."""
    fields: dict[str, ArgField] = {}
    for stmt in cls.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        name = stmt.target.id
        if name.startswith("_"):
            continue
        default, help_text, choices, init = None, "", None, True
        value = stmt.value
        if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "field":
            for kw in value.keywords:
                if kw.arg == "default":
                    default = _literal(kw.value)
                elif kw.arg == "init":
                    init = _literal(kw.value) is not False
                elif kw.arg == "metadata" and isinstance(kw.value, ast.Dict):
                    for key, val in zip(kw.value.keys, kw.value.values, strict=False):
                        key_name = _literal(key)
                        if key_name == "help":
                            help_text = _literal(val) or ""
                        elif key_name == "choices":
                            found = _literal(val)
                            choices = tuple(found) if isinstance(found, list | tuple) else None
        else:
            default = _literal(value)
        if init:
            fields[name] = ArgField(
                name, _resolve(_python_type(stmt.annotation)), default, " ".join(help_text.split()), choices
            )
    return fields


def _package_file(package: str, relative: str) -> Path | None:
    """A file of an installed package, found without importing the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    return path if path.exists() else None


def _module_file(module: str) -> Path | None:
    """``trl.trainer.sft_config`` -> the installed ``trl/trainer/sft_config.py`` (or package ``__init__.py``)."""
    package, _, rest = module.partition(".")
    relative = rest.replace(".", "/")
    return _package_file(package, f"{relative}.py") or _package_file(package, f"{relative}/__init__.py")


def _class_chain(module: str, class_name: str, depth: int = 0) -> list[ast.ClassDef]:
    """A dataclass and its bases up to (not including) TrainingArguments, base first, read from source.

    Bases are followed through the module's own classes and its ``from .x import Name`` imports, which is how
    TRL declares ``SFTConfig(_BaseConfig)`` and ``_BaseConfig(TrainingArguments)``.
    """
    path = _module_file(module)
    if path is None or depth > 8:
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None)
    if cls is None:
        return []
    chain: list[ast.ClassDef] = []
    for base in cls.bases:
        name = base.id if isinstance(base, ast.Name) else None
        if name is None or name == "TrainingArguments":
            continue
        if any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body):
            chain += _class_chain(module, name, depth + 1)
            continue
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and any(alias.name == name for alias in node.names):
                chain += _class_chain(_absolute(module, path, node), name, depth + 1)
    return [*chain, cls]


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from .x import y`` written in ``module``."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    if path.name != "__init__.py":
        parts = parts[:-1]
    parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    return ".".join([*parts, *([node.module] if node.module else [])])


@lru_cache(maxsize=8)
def training_fields(arguments: str | None = None) -> dict[str, ArgField]:
    """All init fields of TrainingArguments, or of the subclass ``arguments`` names, read from installed source.

    ``arguments`` is a dotted ``module.Class`` name (``trl.trainer.sft_config.SFTConfig``): its fields and its
    bases' are laid over TrainingArguments', so the ``training:`` section of a task that trains with TRL accepts
    ``SFTConfig``'s fields without importing TRL (which imports torch).
    """
    path = _training_args_source()
    if path is None:
        return {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(
        (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrainingArguments"),
        None,
    )
    if cls is None:
        return {}
    fields = _class_fields(cls)
    if arguments:
        module, _, class_name = arguments.rpartition(".")
        for sub in _class_chain(module, class_name):
            fields.update(_class_fields(sub))
    return fields


@lru_cache(maxsize=8)
def training_section_model(arguments: str | None = None) -> type[BaseModel]:
    """A closed pydantic model with one optional field per TrainingArguments (or ``arguments``) field."""
    definitions: dict[str, Any] = {}
    for name, info in training_fields(arguments).items():
        annotation = WIDER.get(name, info.annotation)
        if info.choices:
            annotation = Literal[info.choices]  # type: ignore[valid-type]
        extra = {"path": True} if name in PATH_FIELDS else None
        # The field's own doc as description: editors show it from the recipe's JSON Schema.
        field = Field(None, description=info.help or None, json_schema_extra=extra)
        definitions[name] = (Optional[annotation], field)  # noqa: UP045
    extra = "forbid" if definitions else "allow"
    return create_model(
        "TrainingSection",
        __config__=ConfigDict(extra=extra, frozen=True),
        __doc__=f"{arguments or 'TrainingArguments'} fields (see its documentation).",
        **definitions,
    )


def training_field_help(name: str, arguments: str | None = None) -> str:
    """Help text of one TrainingArguments (or ``arguments``) field, read from the installed source."""
    info = training_fields(arguments).get(name)
    return info.help if info else ""
