"""The training configuration: a typed model, filled from a YAML recipe plus CLI overrides."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import model_validator, BaseModel, ConfigDict, Field, ValidationError

DEFAULT_RECIPE = "smollm2-135m-lora"


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


class TrainConfig(BaseModel):
    """Everything that decides a training run. Saved as ``train_config.yaml`` next to the model."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field("smollm2-135m", description="Base model: embedded name, HF id ORG/NAME, or a local path.")
    method: Literal["lora", "full"] = Field("lora", description="LoRA adapters (peft) or full fine-tuning.")
    seed: int = Field(0, description="Seed for init, shuffling and dropout: the same seed gives the same run.")

    epochs: float = Field(1.0, description="Passes over the training data (fractions allowed).")
    max_steps: int | None = Field(None, description="Stop after this many optimizer steps (overrides epochs).")
    max_minutes: float | None = Field(
        None, ge=0,
        description="Wall-clock budget of the training loop: after a few timed steps, the run is cut to the steps "
        "that fit (its learning-rate schedule rebuilt to end there); epochs/max_steps stay the upper bound. "
        "The step count then depends on the machine's speed (recorded in the summary and the checkpoints). "
        "0 or null: no budget.",
    )
    max_examples: int | None = Field(None, description="Use only the first N training conversations.")
    batch_tokens: int = Field(
        4096, description="Token budget of one micro-batch: batch size x longest sequence (padding included)."
    )
    max_batch_size: int = Field(64, description="Upper bound on conversations per micro-batch.")
    grad_accum: int = Field(1, description="Micro-batches per optimizer step.")
    max_seq_len: int = Field(2048, description="Longer conversations are skipped (counted and reported).")

    lr: float = Field(2e-4, description="Peak learning rate.")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Decay after warmup.")
    warmup_ratio: float = Field(0.05, description="Share of the steps spent warming up linearly.")
    weight_decay: float = Field(0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, description="Gradient clipping norm (0 disables clipping).")

    lora_r: int = Field(16, description="LoRA rank.")
    lora_alpha: int = Field(32, description="LoRA scaling alpha (effective scale alpha / r).")
    lora_dropout: float = Field(0.0, description="Dropout on the LoRA input.")
    lora_target: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Module names that get adapters, or 'all-linear'."
    )
    lora_top_layers: int | None = Field(
        None,
        description="Adapt only the last N transformer layers: backpropagation stops below them "
        "(cheaper steps). None adapts every layer.",
    )

    add_tool_tokens: bool = Field(
        True,
        description="Add <tool_call> and </tool_call> as single (non-special) tokens: shorter calls, a one-token "
        "trigger for constrained decoding. Their embeddings start as the mean of their old sub-tokens and are trained.",
    )
    shared_prefix: bool = Field(
        True,
        description="Run the prefix shared by a batch (the tools block) once per step without gradient, instead "
        "of once per conversation with gradient. Forward values are identical; gradients do not flow into the "
        "prefix's keys/values.",
    )
    prefix_reuse: int = Field(
        0, ge=0,
        description="With shared_prefix: reuse the prefix's keys/values for up to N further steps before "
        "recomputing them (0: every step). Saves the prefix forward pass on most steps; the reused values lag "
        "the weights by at most N optimizer steps.",
    )
    decision_weight: float = Field(
        1.0, gt=0,
        description="Loss weight of the tokens where an assistant turn decides: its first token (a call or words) "
        "and the token after each call (another call or the end of the turn); other assistant tokens weigh 1.",
    )
    group_by_prefix: bool = Field(True, description="Batch conversations with the same system turn together.")
    quantization: Literal["none", "nf4"] = Field(
        "none",
        description="Load the frozen base in 4-bit NF4 (bitsandbytes) and train LoRA on top: QLoRA, CUDA only. "
        "Needs method: lora.",
    )
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "fp32",
        description="Compute precision: fp32, bf16 (autocast; on a GPU the frozen base also loads in bfloat16), "
        "or auto: bf16 where the device computes it fast (a CUDA GPU that supports it, a CPU whose bfloat16 "
        "products measure 1.5x float32's: AVX512-BF16, AMX), else fp32.",
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (large models on GPU).")

    checkpoint_every: int = Field(100, description="Save a resumable checkpoint every N optimizer steps (0: never).")
    keep_checkpoints: int = Field(2, description="How many recent checkpoints to keep.")
    log_every: int = Field(1, description="Write a metrics.jsonl row every N steps.")
    eval_examples: int = Field(200, description="Eval conversations used for the final eval loss.")

    @model_validator(mode="after")
    def _qlora_is_lora(self) -> "TrainConfig":
        if self.quantization == "nf4" and self.method != "lora":
            raise ValueError("quantization nf4 (QLoRA) trains adapters: it needs method lora")
        return self


def recipes_dir() -> Path:
    return Path(str(resources.files("tooltune.train") / "recipes"))


def recipe_names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))


def load_recipe(name_or_path: str | None) -> tuple[dict, str]:
    """The raw recipe mapping and where it came from (a shipped name or a YAML path)."""
    name = name_or_path or DEFAULT_RECIPE
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = recipes_dir() / f"{name}.yaml"
        if not path.is_file():
            raise RecipeError(f"unknown recipe {name!r} (shipped: {', '.join(recipe_names())}; or a YAML file path)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of settings")
    data.pop("accelerate", None)  # documentation for multi-process launches, not a training setting
    return data, str(path)


def make_config(recipe: str | None = None, overrides: dict | None = None) -> TrainConfig:
    """Recipe values, then overrides (CLI flags; None means 'not given')."""
    data, source = load_recipe(recipe)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        reasons = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                reasons.append(f"unknown key {key!r}")
            else:
                reasons.append(f"{key}: {err['msg']}")
        raise RecipeError(f"{source}: " + "; ".join(reasons)) from None


def save_config(cfg: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
