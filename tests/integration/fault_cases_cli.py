"""Fault-table rows: commands that read user inputs and write user-named files (generate, eval, export, recipes).

Every row checks (through the harness) that no file under the case folder changed: the refused output,
the run the command read, the user's inputs. Runs come from ``env.finished_run``, private copies.
"""

from __future__ import annotations

import json

from fault_table import Case, Env


def _put(env: Env, name: str, content: str | bytes) -> str:
    """Write a file into the case folder and return its name as the user would type it (relative)."""
    env.write(name, content)
    return name


def _folder(env: Env, name: str) -> str:
    """A folder of the user's, holding one file of theirs; returns its name."""
    env.write(f"{name}/theirs.txt", "the user's file\n")
    return name


def _clm(env: Env, *args: object) -> list:
    return ["generate", "--model", env.finished_run("clm"), *args]


def _cls(env: Env, *args: object) -> list:
    return ["generate", "--model", env.finished_run("textcls"), *args]


def _broken_run(task: str, damage: str):
    """A copy of a finished run with one thing broken, read by ``eval``/``generate``/``export``."""

    def setup(env: Env) -> list:
        run = env.finished_run(task)
        if damage == "weights-deleted":
            (run / "model.safetensors").unlink()
        elif damage == "weights-truncated":
            data = (run / "model.safetensors").read_bytes()
            (run / "model.safetensors").write_bytes(data[: len(data) // 3])
        elif damage == "config-invalid":
            (run / "config.json").write_text('{"model_type": "gpt2",\n  "n_layer": 2,,\n}\n')
        elif damage == "no-model":  # a run that failed before saving a model
            for name in ("config.json", "model.safetensors"):
                (run / name).unlink()
        return [run]

    return setup


def _then(setup, build):
    return lambda env: build(env, *setup(env))


def _earlier_export_and_notes(env: Env) -> list:
    env.write("out/model.safetensors", b"weights of an earlier export")
    env.write("out/llmkit-export.json", json.dumps({"files": ["model.safetensors"]}))
    env.write("out/notes.txt", "the user's own notes, not part of the export\n")
    return ["export", env.finished_run("textcls"), "out", "--overwrite"]


def _predictions_exist(env: Env) -> list:
    env.write("preds.jsonl", '{"id": 0, "prediction": "kept"}\n')
    return ["eval", env.finished_run("textcls"), "--predictions", "preds.jsonl"]


CASES = [
    # --- outputs that would lose data (exit 2, the file untouched) ---------------------------------
    Case(
        "cli-generate-output-exists",
        lambda env: [*_clm(env, "--prompt", "hi", "--output", _put(env, "out.jsonl", "results I keep\n"))],
        2,
        ["--output: out.jsonl exists", "--overwrite"],
    ),
    Case(
        "cli-generate-output-is-the-model-weights",
        lambda env: [*_clm(env, "--prompt", "hi", "--output", "run/model.safetensors", "--overwrite")],
        2,
        ["would replace 'model.safetensors' of the model in", "outside the run directory"],
    ),
    Case(
        "cli-generate-output-is-a-directory",
        lambda env: [*_clm(env, "--prompt", "hi", "--output", _folder(env, "results"))],
        2,
        ["--output: results is a directory"],
    ),
    Case(
        "cli-generate-output-is-the-input",
        lambda env: [*_clm(env, "--input", _put(env, "p.txt", "hi\n"), "--output", "p.txt", "--overwrite")],
        2,
        ["--output: p.txt is also the input file"],
    ),
    Case("cli-eval-predictions-exist", _predictions_exist, 2, ["--predictions: preds.jsonl exists", "--overwrite"]),
    Case(
        "cli-export-out-holds-user-files",
        lambda env: ["export", env.finished_run("textcls"), _folder(env, "out"), "--overwrite"],
        2,
        ["OUT: out is not an empty directory", "files llmkit did not write"],
    ),
    Case(
        "cli-export-overwrite-keeps-user-files",
        _earlier_export_and_notes,
        2,
        ["not part of the earlier export (notes.txt)"],
    ),
    Case(
        "cli-recipes-copy-exists",
        lambda env: ["recipes", "copy", "textcls", _put(env, "my.yaml", "task: textcls  # mine\n")],
        2,
        ["DEST: my.yaml exists", "--force"],
    ),
    # --- option ranges and names, before any model loads (exit 2) ------------------------------------
    Case(
        "cli-generate-max-new-tokens-zero",
        lambda env: _clm(env, "--prompt", "hi", "--max-new-tokens", "0"),
        2,
        ["--max-new-tokens: 0 is out of range; it must be at least 1"],
    ),
    Case(
        "cli-generate-top-p-and-penalty-out-of-range",
        lambda env: _clm(env, "--prompt", "hi", "--top-p", "1.5", "--repetition-penalty", "0"),
        2,
        ["--top-p: 1.5 is out of range; it must be in (0, 1]", "--repetition-penalty: 0.0"],
    ),
    Case(
        "cli-generate-temperature-zero-when-sampling",
        lambda env: _clm(env, "--prompt", "hi", "--sample", "--temperature", "0"),
        2,
        ["--temperature: 0.0 is out of range", "when sampling", "--greedy"],
    ),
    Case(
        "cli-generate-more-sequences-than-beams",
        lambda env: _clm(env, "--prompt", "hi", "--num-beams", "2", "--num-return-sequences", "4"),
        2,
        ["--num-return-sequences: 4 is more than --num-beams 2"],
    ),
    Case(
        "cli-generate-unknown-device",
        lambda env: _clm(env, "--prompt", "hi", "--device", "gpu"),
        2,
        ["--device: 'gpu' is not one of cpu, cuda, cuda:N, mps"],
    ),
    Case(
        "cli-generate-cuda-device-that-is-not-there",
        lambda env: _clm(env, "--prompt", "hi", "--device", "cuda:99"),
        2,
        ["--device cuda:99: "],
    ),
    Case(
        "cli-generate-max-new-tokens-over-the-context",
        lambda env: _clm(env, "--prompt", "hi", "--max-new-tokens", "64"),
        2,
        ["--max-new-tokens: 64 leaves no room for a prompt in the model's 64-token context", "at most 63"],
    ),
    Case(
        "cli-generate-question-to-a-text-model",
        lambda env: _cls(env, "--question", "What is it?", "--context", "a lamp"),
        2,
        ["a textcls model reads text", "--question/--context are for extractive QA models"],
    ),
    Case(
        "cli-generate-blank-prompt-to-a-classifier",
        lambda env: _cls(env, "--prompt", "  "),
        2,
        ["input 1: the text is empty; a textcls model needs something to read"],
    ),
    Case(
        "cli-eval-unknown-split",
        lambda env: ["eval", env.finished_run("textcls"), "--split", "valid"],
        2,
        ["--split: 'valid' is not one of train, validation, test", "did you mean 'validation'"],
    ),
    # --- --input files (exit 3) ----------------------------------------------------------------------
    Case(
        "cli-input-missing", lambda env: _clm(env, "--input", "prompts.txt"), 3, ["--input: prompts.txt: no such file"]
    ),
    Case(
        "cli-input-is-a-directory",
        lambda env: _clm(env, "--input", _folder(env, "prompts")),
        3,
        ["--input: prompts is a directory"],
    ),
    Case("cli-input-empty", lambda env: _clm(env, "--input", env.write("p.txt", "")), 3, ["p.txt is empty"]),
    Case(
        "cli-input-only-blank-lines",
        lambda env: _clm(env, "--input", env.write("p.txt", "\n   \n\t\n")),
        3,
        ["p.txt holds only blank lines"],
    ),
    Case(
        "cli-input-not-utf8",
        lambda env: _clm(env, "--input", env.write("p.txt", "a cat\nun caf\xe9\n".encode("latin-1"))),
        3,
        ["p.txt:2: not UTF-8 text (byte 0xe9 at column 7)"],
    ),
    Case(
        "cli-input-jsonl-bad-json",
        lambda env: _clm(env, "--input", env.write("p.jsonl", '{"text": "a"}\n\n{"text": "b",}\n')),
        3,
        ["p.jsonl:3: not valid JSON"],
    ),
    Case(
        "cli-input-jsonl-without-text",
        lambda env: _clm(env, "--input", env.write("p.jsonl", '{"text": "a"}\n{"sentence": "b"}\n')),
        3,
        ["p.jsonl:2: the object has no 'text' or 'prompt' field", "'sentence'"],
    ),
    # --- what eval/generate/export read (exit 4, one line naming the path) ---------------------------
    Case("cli-eval-missing-run", lambda env: ["eval", "runs/gone"], 4, ["TARGET: runs/gone: no such run directory"]),
    Case(
        "cli-eval-target-is-a-file",
        lambda env: ["eval", _put(env, "preds.jsonl", "{}\n")],
        4,
        ["TARGET: preds.jsonl is a file, not a run directory"],
    ),
    Case(
        "cli-generate-model-is-a-file",
        lambda env: ["generate", "--model", env.finished_run("clm") / "model.safetensors", "--prompt", "hi"],
        4,
        ["--model: ", "model.safetensors is a file"],
    ),
    Case(
        "cli-generate-folder-is-not-a-model",
        lambda env: ["generate", "--model", _folder(env, "notes"), "--prompt", "hi"],
        4,
        ["--model: notes is neither an llmkit run directory nor a model checkpoint"],
    ),
    Case(
        "cli-eval-weights-deleted",
        _then(_broken_run("textcls", "weights-deleted"), lambda env, run: ["eval", run]),
        4,
        ["TARGET: ", "has no model weights (model.safetensors is missing)"],
    ),
    Case(
        "cli-export-weights-truncated",
        _then(_broken_run("textcls", "weights-truncated"), lambda env, run: ["export", run, "out"]),
        4,
        ["RUN: ", "model.safetensors is truncated or damaged"],
    ),
    Case(
        "cli-generate-config-invalid-json",
        _then(_broken_run("clm", "config-invalid"), lambda env, run: ["generate", "--model", run, "--prompt", "hi"]),
        4,
        ["config.json is not valid JSON", "line 2 column 16"],
    ),
    Case(
        "cli-eval-run-without-a-model",
        _then(_broken_run("textcls", "no-model"), lambda env, run: ["eval", run]),
        4,
        ["llmkit run that holds no model"],
    ),
]
