"""Training the DMC controller end to end through the differentiable console (Lightning).

Each example is dry stems, a random console recipe drawn from the per-role priors (no drums bus: the DMC's
console has none) and its mix. The model predicts every parameter from the trimmed stems; the prediction is
rendered through the console (the same code that renders recipes for users) and compared with the target mix by
the audio losses, and with the recipe's own values by the parameter loss.

Two regimes (``TrainConfig.regime``):

* ``style``: self-supervised style transfer (:class:`~mixdown.data.pipeline.StyleTransferDataset`): the same
  recipe's mix of the section before is the reference. With probability ``1 - reference_probability`` a batch
  is shown without it, so one model serves both ``--method dmc`` and ``--method dmc --reference``.
* ``automix``: no reference, toward people's mixes (:class:`~mixdown.data.pipeline.HumanMixDataset`: the
  dataset's own mix of each excerpt, e.g. the synthetic corpus's composer mixes or a MedleyDB copy); the audio
  losses alone teach, as a person's mix has no recipe.

Several processes (``TrainConfig.devices``) train through Lightning's DDP (gloo on CPU, NCCL on GPUs), each on
its own share of every epoch; several machines add Lightning's usual ``num_nodes`` and launcher environment.

Weights are saved as safetensors with the model's config (:func:`save_dmc`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import torch

from mixdown.console.recipe import Recipe
from mixdown.data.random_mix import console_inputs
from mixdown.errors import ParameterError
from mixdown.export.files import atomic_path, write_text_atomic
from mixdown.extras import require
from mixdown.methods.dmc.mixer import model_inputs, render_prediction
from mixdown.methods.dmc.model import DmcConfig, DmcModel
from mixdown.methods.dmc.space import SPACE
from mixdown.train.losses import LossWeights, mix_loss

__all__ = ["DmcTask", "TrainConfig", "export_checkpoint", "load_dmc", "prepare_batch", "save_dmc", "train_dmc"]

try:  # Lightning is the `train` extra: the model and its weights load without it
    import lightning as L
except ImportError:  # pragma: no cover - exercised only without the extra
    L = None


@dataclass
class PreparedBatch:
    """What one training step needs: model inputs, console inputs per item, and the targets.

    Attributes:
        stems: ``(batch, tracks, 2, n)`` trimmed model inputs; ``mask``, ``roles`` ``(batch, tracks)``.
        inputs, names, track_roles, trims: per item, per real track (console inputs and their trims).
        target_mix: ``(batch, 2, n)``; ``target_tracks`` ``(batch, tracks, track_size)``; ``target_return``
            ``(batch, len(SPACE.ret))``.
        reference: ``(batch, 2, n')`` mixes in the target's style, or None.
        known: per item, whether the target values are the target mix's (a random recipe's) or not (a person's
            mix): the parameter loss counts only the known.
    """

    stems: torch.Tensor
    mask: torch.Tensor
    roles: torch.Tensor
    inputs: list[list[torch.Tensor]] = field(default_factory=list)
    names: list[list[str]] = field(default_factory=list)
    track_roles: list[list[str | None]] = field(default_factory=list)
    trims: list[list[float]] = field(default_factory=list)
    target_mix: torch.Tensor | None = None
    target_tracks: torch.Tensor | None = None
    target_return: torch.Tensor | None = None
    reference: torch.Tensor | None = None


def prepare_batch(batch: dict) -> PreparedBatch:
    """A :class:`~mixdown.data.pipeline.RandomMixDataset` (or ``StyleTransferDataset``) batch as model inputs and
    targets."""
    stems, mask = batch["stems"], batch["mask"]
    size, tracks = mask.shape
    prepared = PreparedBatch(torch.zeros_like(stems), mask, torch.full((size, tracks), DmcModel.role_index(None)))
    prepared.target_tracks = torch.zeros(size, tracks, SPACE.track_size)
    prepared.target_return = torch.zeros(size, len(SPACE.ret))
    for i in range(size):
        recipe = Recipe.from_dict(json.loads(batch["recipe"][i]))
        count = int(mask[i].sum())
        inputs = console_inputs(stems[i, :count])
        model_stems, trims = model_inputs(inputs)
        prepared.stems[i, :count] = model_stems
        prepared.roles[i, :count] = torch.tensor([DmcModel.role_index(t.role) for t in recipe.tracks])
        prepared.target_tracks[i, :count], prepared.target_return[i] = SPACE.from_recipe(recipe)
        prepared.inputs.append(inputs)
        prepared.names.append([t.name for t in recipe.tracks])
        prepared.track_roles.append([t.role for t in recipe.tracks])
        prepared.trims.append(trims)
    prepared.target_mix, prepared.reference = batch["mix"], batch.get("reference")
    prepared.known = batch["known"].tolist() if "known" in batch else [True] * size
    return prepared


def _losses(model: DmcModel, prepared: PreparedBatch, weights: LossWeights, sample_rate: int) -> dict:
    """The mean of each loss term over the batch's items."""
    tracks, ret = model(prepared.stems, prepared.mask, prepared.roles, prepared.reference)
    totals: dict[str, torch.Tensor] = {}
    for i, inputs in enumerate(prepared.inputs):
        count = len(inputs)
        mix = render_prediction(inputs, prepared.names[i], prepared.track_roles[i], prepared.trims[i],
                                tracks[i, :count], ret[i], sample_rate)
        predicted = torch.cat([tracks[i, :count].reshape(1, -1), ret[i : i + 1]], 1)[None]
        target = torch.cat([prepared.target_tracks[i, :count].reshape(1, -1), prepared.target_return[i : i + 1]], 1)
        item_weights = weights if prepared.known[i] else dataclasses.replace(weights, params=0.0)
        terms = mix_loss(mix[None], prepared.target_mix[i : i + 1], sample_rate, item_weights, predicted,
                         target[None])
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + value / len(prepared.inputs)
    return totals


if L is not None:

    class DmcTask(L.LightningModule):
        """The DMC controller with its losses and optimiser, for ``lightning.Trainer``.

        Args:
            config: the model's sizes.
            weights: the loss terms' weights.
            learning_rate: AdamW's peak step size: a linear warm-up over ``warmup_steps``, then a cosine decay to
                a tenth of it at ``max_steps``.
            sample_rate: Hz of the examples.
            reference_probability: share of training batches that keep their reference (when they have one).
        """

        def __init__(self, config: DmcConfig = DmcConfig(), weights: LossWeights = LossWeights(params=1.0),
                     learning_rate: float = 3e-4, sample_rate: int = 44100, reference_probability: float = 0.5,
                     max_steps: int = 10000, warmup_steps: int = 200) -> None:
            super().__init__()
            self.model = DmcModel(config)
            self.weights, self.learning_rate, self.sample_rate = weights, learning_rate, sample_rate
            self.reference_probability, self.max_steps, self.warmup_steps = reference_probability, max_steps, warmup_steps

        def training_step(self, batch: dict, index: int) -> torch.Tensor:
            prepared = prepare_batch(batch)
            if prepared.reference is not None and float(torch.rand(())) >= self.reference_probability:
                prepared.reference = None  # the seeded global generator: the same choices on a rerun
            terms = _losses(self.model, prepared, self.weights, self.sample_rate)
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, prog_bar=True, batch_size=len(batch["song"]))
            return terms["total"]

        def validation_step(self, batch: dict, index: int) -> None:
            terms = _losses(self.model, prepare_batch(batch), self.weights, self.sample_rate)
            self.log_dict({f"val/{k}": v for k, v in terms.items()}, batch_size=len(batch["song"]), sync_dist=True)

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.learning_rate, weight_decay=1e-4)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": torch.optim.lr_scheduler.LambdaLR(
                optimizer, self._schedule), "interval": "step"}}

        def _schedule(self, step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = min(1.0, (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps))
            return 0.1 + 0.45 * (1.0 + math.cos(math.pi * progress))

else:  # pragma: no cover

    class DmcTask:  # type: ignore[no-redef]
        def __init__(self, *args, **kwargs) -> None:
            require("lightning", "DmcTask (training)")


def save_dmc(model: DmcModel, path: str | os.PathLike) -> Path:
    """Write the model's weights as safetensors with its config in the header, atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"config": json.dumps(model.config.to_dict()), "format": "mixdown-dmc-1"})
    return path


def load_dmc(path: str | os.PathLike) -> DmcModel:
    """A model saved by :func:`save_dmc`, in eval mode; ParameterError naming the file when it is not one."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        model = DmcModel(DmcConfig.from_dict(json.loads(meta["config"])))
        model.load_state_dict(load_file(str(path)))
    except (OSError, KeyError, ValueError, RuntimeError, SafetensorError) as e:
        raise ParameterError(f"{path}: expected DMC weights written by mixdown (safetensors with a config), found "
                             f"{type(e).__name__}: {str(e)[:200]}; fix: point at a file from `mixdown train dmc`") from None
    return model.eval()


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """The model of a run's Lightning checkpoint (mid-run too) as :func:`save_dmc` weights; the model's sizes come
    from the run folder's ``config.json``."""
    checkpoint = Path(checkpoint)
    try:
        run = json.loads((checkpoint.parent / "config.json").read_text(encoding="utf-8"))
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise ParameterError(f"{checkpoint}: expected a checkpoint of `mixdown train dmc` beside its config.json, "
                             f"found {type(e).__name__}: {str(e)[:200]}") from None
    config = DmcConfig.from_dict({**DmcConfig().to_dict(), **run.get("model", {}), "sample_rate": run["sample_rate"]})
    model = DmcModel(config)
    model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    return save_dmc(model, out)


@dataclass
class TrainConfig:
    """A training run (``mixdown train dmc --config run.yaml`` reads these keys).

    Attributes:
        dataset: ``"NAME:ROOT"`` read by its loader (e.g. ``"synth:corpus/"``), split by song with ``seed``;
            None: the synthetic tone source (tests, smoke runs).
        regime: ``style`` (a reference in the same style, kept with ``reference_probability``) or ``automix``.
        out: run folder: Lightning checkpoints (``last.ckpt``: a run resumes from it), ``metrics.csv`` and the
            final ``dmc.safetensors``.
        tracks, seconds, sample_rate: example size. batch_size, workers: the loader.
        max_steps: optimiser steps in all (a resumed run continues to it); max_hours: a wall-clock limit too
            (None: none). examples_per_epoch, val_examples: random mixes per epoch and for validation (a fixed
            set, always with its reference in the ``style`` regime).
        learning_rate, seed: Adam's step; everything random derives from the seed.
        accelerator, devices, strategy: Lightning's (``cpu``, 1, ``auto``); e.g. ``devices: 2`` with ``strategy:
            ddp`` trains in two processes (on CPU through gloo), each seeing half of every epoch.
        weights: the loss weights (:class:`~mixdown.train.losses.LossWeights` fields).
        model: :class:`~mixdown.methods.dmc.model.DmcConfig` fields to change.
    """

    dataset: str | None = None
    regime: str = "style"
    reference_probability: float = 0.5
    out: str = "runs/dmc"
    tracks: int = 8
    seconds: float = 3.0
    sample_rate: int = 44100
    batch_size: int = 4
    workers: int = 2
    max_steps: int = 10000
    max_hours: float | None = None
    examples_per_epoch: int = 1000
    val_examples: int = 32
    learning_rate: float = 3e-4
    seed: int = 0
    weights: dict = field(default_factory=lambda: {"mrstft": 1.0, "af": 1.0, "params": 1.0})
    model: dict = field(default_factory=dict)
    accelerator: str = "cpu"
    devices: int = 1
    strategy: str = "auto"

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a YAML (or JSON) config; ParameterError naming the file and any unknown key."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ParameterError(f"{path}: expected a readable YAML training config, found {e}") from None
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ParameterError(f"{path}: unknown key(s) {unknown}; expected some of {sorted(cls.__dataclass_fields__)}")
        config = cls(**data)
        if config.regime not in ("style", "automix") or not 0.0 <= config.reference_probability <= 1.0:
            raise ParameterError(f"{path}: expected regime style or automix and reference_probability in [0, 1], "
                                 f"found {config.regime!r} and {config.reference_probability}")
        return config


def _datasets(config: TrainConfig):
    from mixdown.data.loaders import load_dataset
    from mixdown.data.pipeline import HumanMixDataset, StyleTransferDataset, SyntheticSource
    from mixdown.data.splits import split_songs

    if config.dataset:
        name, _, root = config.dataset.partition(":")
        parts = split_songs(load_dataset(name, root), (0.9, 0.1, 0.0), seed=config.seed)
        train_source, val_source = parts["train"], parts["validation"] or parts["train"]
    else:
        train_source = val_source = SyntheticSource(min_tracks=min(2, config.tracks))
    common = dict(tracks=config.tracks, seconds=config.seconds, sample_rate=config.sample_rate,
                  drum_bus_probability=0.0)
    if config.regime == "automix" and not config.dataset:
        raise ParameterError("train dmc: expected a dataset with mixes for the automix regime, found none; fix: set "
                             "dataset: synth:corpus/ (its composer mixes) or another loader's NAME:ROOT")
    kind = StyleTransferDataset if config.regime == "style" else HumanMixDataset
    return (kind(train_source, length=config.examples_per_epoch, seed=config.seed, **common),
            kind(val_source, length=config.val_examples, seed=config.seed + 1, **common))


def train_dmc(config: TrainConfig) -> Path:
    """Train (or resume) a DMC run; returns the path of the final ``dmc.safetensors``."""
    require("lightning", "training (mixdown train dmc)")
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from mixdown.data.pipeline import make_loader

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "config.json", json.dumps(asdict(config), indent=1))  # every DDP process writes it
    L.seed_everything(config.seed, workers=True, verbose=False)
    train_set, val_set = _datasets(config)
    model = DmcConfig.from_dict({**DmcConfig().to_dict(), **config.model, "sample_rate": config.sample_rate})
    task = DmcTask(model, LossWeights(**config.weights), config.learning_rate, config.sample_rate,
                   config.reference_probability, config.max_steps)
    limit = None if config.max_hours is None else timedelta(hours=config.max_hours)
    trainer = L.Trainer(max_steps=config.max_steps, max_time=limit, accelerator=config.accelerator,
                        devices=config.devices, strategy=config.strategy,
                        default_root_dir=str(out),
                        logger=CSVLogger(str(out), name="", version=""), log_every_n_steps=10,
                        callbacks=[ModelCheckpoint(dirpath=str(out), save_last=True, every_n_train_steps=100)],
                        enable_model_summary=False)
    last = out / "last.ckpt"
    trainer.fit(task, make_loader(train_set, config.batch_size, config.workers, shuffle=True),
                make_loader(val_set, config.batch_size, 0), ckpt_path=str(last) if last.is_file() else None)
    if trainer.is_global_zero:
        save_dmc(task.model, out / "dmc.safetensors")
    return out / "dmc.safetensors"
