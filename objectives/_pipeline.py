"""One trial: the four metered phases (data, model, training, inference) in order, each inside an energy window."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from greenknobs.objectives import _build, _infer, _models, _train, _warmup
from greenknobs.objectives._datasets import TextSplits, load_splits
from greenknobs.objectives._metrics import score
from greenknobs.objectives._result import TrialResult, aborted
from greenknobs.objectives._tasks import Task
from greenknobs.objectives._tokens import Encoded, TokenCache, encode, subsample
from greenknobs.objectives._train import TrialFailed
from greenknobs.objectives._trained import REUSED_PHASES, TrainedModels, keep, training_identity
from greenknobs.spaces import Hardware, Space, TaskInfo, detect_hardware

Progress = Callable[..., None]


class Pipeline:
    """Runs configurations of one task on one machine; holds what trials may share (raw data, tokenized data)."""

    warm_space: Space | None = None  # the study's space: its first-use costs are paid in the warm-up (_warmup.py)
    power_journal: Any = None  # where a power cap is written down before it is set (search/study/_power.py)

    def __init__(self, task: Task, *, meter: Any = None, hardware: Hardware | None = None, seed: int = 0,
                 progress: Progress | None = None, token_cache: TokenCache | None = None) -> None:
        self.task = task
        self.seed = seed
        self.hardware = hardware or detect_hardware()
        if meter is None:
            from greenknobs.objectives.energy import make_meter

            meter = make_meter()
        self.meter = meter
        self.progress = progress
        self.token_cache = token_cache or TokenCache()
        self.trained = TrainedModels()  # trained models kept for serving under other inference knobs (_trained.py)
        self.warmup_reading: Any = None

    @functools.cached_property
    def splits(self) -> TextSplits:
        return load_splits(self.task.dataset)

    @functools.cached_property
    def task_info(self) -> TaskInfo:
        layers = {m: _models.num_layers(m) for m in self.task.models}
        return TaskInfo(
            models=self.task.models,
            min_layers=min(layers.values()),
            max_positions=min(_models.max_positions(m) for m in self.task.models),
            layers=layers,
        )

    def space(self, search: Any = None, ranges: Any = None, fixed: Any = None, baseline: Any = None) -> Space:
        return Space(self.hardware, self.task_info, search=search, ranges=ranges, fixed=fixed, baseline=baseline)

    def _emit(self, event: str, **info: Any) -> None:
        if self.progress:
            self.progress(event, **info)

    def for_split(self, split: str) -> Pipeline:
        """The same task scored on another split, sharing this pipeline's data, meter, token cache and warm-up:
        confirmation scores the held-out test split with everything else as the search had it."""
        if split == self.task.eval_split:
            return self
        sibling = copy.copy(self)  # the same loaded splits, meter, caches, warm-up and power journal
        sibling.task = dataclasses.replace(self.task, eval_split=split)
        return sibling

    def training_identity(self, config: Mapping[str, Any], seed: int | None, scope: str) -> str:
        """What identifies the model `config` trains at `seed`, within `scope` (objectives/_trained.py)."""
        return training_identity(scope, self.task, self.splits.fingerprint, config,
                                 self.seed if seed is None else seed)

    def has_trained(self, config: Mapping[str, Any], seed: int | None, scope: str | None) -> bool:
        """Whether a run of `config` at `seed` within `scope` would serve a kept model instead of training."""
        return scope is not None and self.training_identity(config, seed, scope) in self.trained

    def run(self, config: Mapping[str, Any], seed: int | None = None,
            monitor: Callable[[Report], None] | None = None, *, reuse: str | None = None,
            label: str = "") -> TrialResult:
        """`config` must be complete (Space.complete). A run that ends before its result raises RunAborted (an error:
        TrialFailed, a library's, early stopping's) or RunInterrupted (Ctrl-C, SIGTERM), from what ended it, with the
        joules it burned and the reports it made.
        `reuse`: the scope (a study's name) within which trained models are shared. A run whose training identity
        (objectives/_trained.py) matches a model trained in that scope serves it: its data phase runs as always, its
        model and training phases carry the recorded joules (listed in `reused_phases`, `reused_training` names the
        run that trained it, by the `label` that run was given), and only inference is measured. A run that trains
        keeps its model for the runs after it. None: train, keep nothing.
        `seed` (default: the pipeline's) decides the training subsample, the data order and the head's
        initialisation: repeats at different seeds measure the F1 spread, not only the meter's.

        `monitor` (early stopping): after each of `_train.report_steps`, a fixed seeded slice of the evaluation split
        is scored inside its own energy window ("monitor", charged to the trial but kept out of the configuration's
        joules) and `monitor(report)` is called; it may raise to stop the trial, which then carries its curve."""
        config = dict(config)
        seed = self.seed if seed is None else seed
        paid_warmup = self.warmup_reading is None
        self.warm_up(config)
        warmup = self.warmup_reading if paid_warmup else None
        device = self.hardware.device
        readings: dict[str, Any] = {}
        reused: list[str] = []
        identity = None if reuse is None else self.training_identity(config, seed, reuse)
        kept = self.trained.get(identity) if identity is not None else None
        started = time.perf_counter()
        first = len(self.meter.readings)
        extra: dict[str, Any] = {}
        try:
            with self._system(config, extra) as power_w:
                extra["power_limit_w"] = power_w
                self._seed(seed)
                self._emit("phase", phase="data")
                key = self._token_key(config, seed)
                with self.meter.window("data") as got:
                    cached = self.token_cache.get(key)
                    data = cached[0] if cached else self._tokenize(config, seed)
                readings["data"] = got[0]
                if cached:
                    readings["data"], reused = cached[1], ["data"]
                else:
                    self.token_cache.put(key, data, got[0])
                train_set, eval_set, tokenizer = data
                if kept is not None:  # served from the kept model: the recorded phases, no training, no monitor
                    model, facts = kept.serving_copy(device), kept.facts
                    readings.update({p: kept.readings[p] for p in REUSED_PHASES})
                    reused += list(REUSED_PHASES)
                else:
                    self._emit("phase", phase="model")
                    with self.meter.window("model") as got:
                        built = _build.build_model(config, config["model"], self.splits.num_labels, device,
                                                   self.task.lora_targets)
                    readings["model"] = got[0]
                    self._emit("phase", phase="training")
                    training = _Segments(self.meter, "training")
                    hook = None
                    if monitor is not None:
                        hook = self._monitor_hook(built.model, eval_set, config, tokenizer.pad_token_id, training,
                                                  sum(r.energy_j for r in readings.values()), monitor, extra)
                    with training:
                        trained = _train.train(built.model, train_set, config, device, tokenizer.pad_token_id, seed,
                                               self._emit, monitor=hook)
                    readings["training"] = training.total()
                    model = built.model
                    facts = {"trainable_params": built.trainable_params, "total_params": built.total_params,
                             "layers": built.layers, "lora_modules": built.lora_modules,
                             "epoch_losses": trained["epoch_losses"]}
                    if identity is not None:  # copied outside every energy window, before serving changes it
                        self.trained.put(keep(identity, model, {p: readings[p] for p in REUSED_PHASES}, facts,
                                              label))
                self._emit("phase", phase="inference")
                with self.meter.window("inference") as got:
                    served, info = _infer.prepare(model, config, device)
                    preds = _infer.predict(served, eval_set, config["infer_batch_size"], device, tokenizer.pad_token_id)
                readings["inference"] = got[0]
        except BaseException as err:
            # Whatever stopped the trial, the joules it burned are part of what the search cost.
            cause: BaseException = err
            if isinstance(err, torch.OutOfMemoryError):
                cause = TrialFailed(f"out of memory: {str(err).splitlines()[0][:160]}")
            stop = aborted(cause, self._burned(first), [r.to_dict() for r in extra.get("curve", [])])
            if stop is None:
                raise
            raise stop from cause
        scores = score(eval_set.labels, preds, self.splits.num_labels, self.splits.majority_label,
                       prior=self.splits.class_counts)
        return TrialResult(
            task=self.task.name, model=config["model"], config=config, seed=seed,
            energy_j=sum(r.energy_j for r in readings.values()),
            phase_energy_j={p: r.energy_j for p, r in readings.items()},
            phase_time_s={p: r.time_s for p, r in readings.items()},
            energy_source=self.meter.source, energy_description=self.meter.description,
            time_s=time.perf_counter() - started,
            f1=scores.f1, f1_kind=scores.f1_kind, weighted_f1=scores.weighted_f1, accuracy=scores.accuracy,
            majority_f1=scores.majority_f1, chance_f1=scores.chance_f1, degenerate=scores.degenerate,
            degenerate_reason=scores.degenerate_reason,
            predicted_counts=scores.predicted_counts, trainable_params=facts["trainable_params"],
            total_params=facts["total_params"], layers=facts["layers"], lora_modules=facts["lora_modules"],
            n_train=len(train_set), n_eval=len(eval_set), eval_split=self.task.eval_split,
            token_width=train_set.width, power_limit_w=extra.get("power_limit_w"),
            quantized_linear_layers=info.get("quantized_linear_layers", 0), served=info.get("served", ""),
            epoch_losses=list(facts["epoch_losses"]), reused_phases=reused,
            training_id=identity or "", reused_training=(kept.label or "an earlier run") if kept is not None else "",
            hardware={**self.meter.hardware, **{"power_limit": extra[k] for k in ("power_limit_note",) if k in extra}},
            warmup_energy_j=warmup.energy_j if warmup else 0.0, warmup_time_s=warmup.time_s if warmup else 0.0,
            monitor_energy_j=sum(r.energy_j for r in extra.get("monitor", [])),
            curve=[r.to_dict() for r in extra.get("curve", [])],
        )

    def warm_up(self, config: Mapping[str, Any]) -> None:
        """Pay the process's one-off costs before the first metered trial, metered apart and charged to no trial:
        a tiny run of the baseline and of every value with a first-use cost (8-bit AdamW, bf16, int8, NF4, QLoRA,
        compile, ...) that `warm_space`, the study's space, can reach — see objectives/_warmup.py."""
        if self.warmup_reading is not None:
            return
        import logging

        import peft  # noqa: F401  (imported lazily by LoRA trials otherwise)
        import sklearn.metrics  # noqa: F401

        device = self.hardware.device
        with self.meter.window("warm-up") as got:
            tokenizer = _models.load_tokenizer(config["model"], config["tokenizer"])
            texts, labels = self.splits.train["text"][:8], self.splits.train["label"][:8]
            data = encode(tokenizer, texts, labels, 32, "dynamic")
            for what, small in _warmup.configs(self.warm_space, config):
                try:
                    built = _build.build_model(small, config["model"], self.splits.num_labels, device,
                                               self.task.lora_targets)
                    _train.train(built.model, data, small, device, tokenizer.pad_token_id, self.seed)
                    served, _ = _infer.prepare(built.model, small, device)
                    _infer.predict(served, data, 8, device, tokenizer.pad_token_id)
                except Exception as err:  # the trial that uses it fails with its own reason; this one is a warm-up
                    logging.getLogger(__name__).info("warm-up of %s failed: %s", what, err)
        self.warmup_reading = got[0]

    def _monitor_hook(self, model: Any, eval_set: Encoded, config: Mapping[str, Any], pad_token_id: int,
                      training: _Segments, before_j: float, monitor: Callable[[Report], None],
                      extra: dict[str, Any]) -> Callable[[int, int], None]:
        """The training loop's report hook: pause the training window, score the slice in a "monitor" window,
        report, resume. Scoring runs in eval mode under inference_mode: no RNG draw, no gradient, so the run trains
        exactly as it would unmonitored."""
        part = eval_slice(eval_set, self.task.dataset.seed)
        extra.setdefault("curve", [])
        extra.setdefault("monitor", [])

        def hook(step: int, total: int) -> None:
            training.pause()
            with self.meter.window("monitor") as got:
                model.eval()
                preds = _infer.predict(model, part, config["infer_batch_size"], self.hardware.device, pad_token_id)
                model.train()
            extra["monitor"].append(got[0])
            scores = score(part.labels, preds, self.splits.num_labels, self.splits.majority_label,
                           prior=self.splits.class_counts)
            report = Report(at=step / total, f1=scores.f1, one_class=len(scores.predicted_counts) <= 1,
                            energy_j=before_j + training.energy_j(),
                            monitor_j=sum(r.energy_j for r in extra["monitor"]))
            extra["curve"].append(report)
            self._emit("report", at=report.at, f1=report.f1)
            monitor(report)
            training.resume()

        return hook

    def _burned(self, first: int) -> dict[str, float]:
        return {r.phase: r.energy_j for r in self.meter.readings[first:]}

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        torch.manual_seed(seed)

    @contextlib.contextmanager
    def _system(self, config: Mapping[str, Any], notes: dict[str, Any] | None = None) -> Iterator[float | None]:
        """cpu_threads and the GPU power limit, for the trial; yields the power limit read back from the GPU (None
        where NVML cannot read one). Every trial on a GPU reads its limit back: a cap set by power_limit_w (only
        with the opt-in, objectives/energy/_gpu.py), or for power_limit_w = 0 the limit in force, which runs as it
        is found; a card found at a non-default limit puts that label in `notes["power_limit_note"]`."""
        threads = torch.get_num_threads()
        if config.get("cpu_threads", 0):
            torch.set_num_threads(config["cpu_threads"])
        try:
            from greenknobs.objectives import energy

            if config.get("power_limit_w", 0):
                with energy.power_limit(config["power_limit_w"], journal=self.power_journal) as read_back_w:
                    yield read_back_w
            elif self.hardware.power_limit_default_w is not None:  # readable: read, never set
                limit_w, note = energy.limit_in_force_w()
                if note and notes is not None:
                    notes["power_limit_note"] = note
                yield limit_w
            else:
                yield None
        finally:
            torch.set_num_threads(threads)

    def _token_key(self, config: Mapping[str, Any], seed: int) -> tuple:
        # The seed matters only where it picks a training subsample.
        return (self.splits.fingerprint, config["model"], config["tokenizer"], config["max_length"],
                config["padding"], config["train_fraction"], seed if config["train_fraction"] < 1.0 else None,
                self.task.eval_split)

    def _tokenize(self, config: Mapping[str, Any], seed: int) -> tuple[Encoded, Encoded, Any]:
        tokenizer = _models.load_tokenizer(config["model"], config["tokenizer"])
        train = self.splits.train
        keep = subsample(train["label"], config["train_fraction"], seed)
        texts, labels = train["text"], train["label"]
        split = getattr(self.splits, self.task.eval_split)
        return (
            encode(tokenizer, [texts[i] for i in keep], [labels[i] for i in keep], config["max_length"], config["padding"]),
            encode(tokenizer, split["text"], split["label"], config["max_length"], config["padding"]),
            tokenizer,
        )


@dataclass(frozen=True)
class Report:
    """One intermediate report of a monitored run (early stopping)."""

    at: float  # share of the run's optimizer steps done
    f1: float  # on the fixed evaluation slice
    one_class: bool  # the slice was given one class only
    energy_j: float  # the run's joules so far (data, model, training), the monitor's own left out
    monitor_j: float  # the joules scoring the slices took so far

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SLICE_SHARE, SLICE_MIN, SLICE_MAX = 0.25, 50, 250


def eval_slice(data: Encoded, seed: int) -> Encoded:
    """A fixed, seeded quarter of the evaluation split (50 to 250 examples): the same texts for every trial."""
    n = len(data)
    k = min(n, max(min(SLICE_MIN, n), min(SLICE_MAX, round(SLICE_SHARE * n))))
    keep = sorted(random.Random(f"greenknobs-slice:{seed}:{n}").sample(range(n), k))
    return Encoded({key: [values[i] for i in keep] for key, values in data.features.items()},
                   [data.labels[i] for i in keep])


class _Segments:
    """An energy window that can pause (a monitor scores a slice in its own window) and resume; its reading is the
    sum of its segments. Closed on any exit, as `EnergyMeter.window` is."""

    def __init__(self, meter: Any, phase: str) -> None:
        self.meter, self.phase = meter, phase
        self.readings: list[Any] = []
        self.open = False

    def __enter__(self) -> _Segments:
        self.resume()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pause()

    def pause(self) -> None:
        if self.open:
            self.readings.append(self.meter.end(self.phase))
            self.open = False

    def resume(self) -> None:
        if not self.open:
            self.meter.begin(self.phase)
            self.open = True

    def energy_j(self) -> float:
        return sum(r.energy_j for r in self.readings)

    def total(self) -> Any:
        from greenknobs.objectives.energy import EnergyReading

        rs = self.readings
        return EnergyReading(self.phase, *(sum(getattr(r, f) for r in rs) for f in
                                           ("energy_j", "gpu_energy_j", "cpu_energy_j", "dram_energy_j", "time_s")),
                             rs[0].source)
