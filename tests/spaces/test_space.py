"""The space: validation (`complete`), one knob = one change, what cannot run here, and sampling (`suggest`)."""

from __future__ import annotations

import optuna
import pytest

from greenknobs._errors import GreenknobsError
from greenknobs.spaces import KNOBS, KNOBS_BY_NAME, Hardware, Space, TaskInfo, check_combination

from .conftest import NO_GPU, NO_NVML, cpu_hardware

_MISSING = object()


def gpu_hardware() -> Hardware:
    return Hardware(device="cuda", cpu_cores=16, gpu_name="NVIDIA H100 80GB HBM3", power_limit_range_w=(200.0, 700.0),
                    power_limit_default_w=700.0,
                    missing={"cpu-inference": "dynamic int8 kernels run on the CPU only"})


# Two candidate models, so that `model` has a second value too (nothing is loaded: TaskInfo is all the space reads).
TWO_MODELS = TaskInfo(models=("tiny-bert", "minilm-l6"), min_layers=4, max_positions=512,
                      layers={"tiny-bert": 4, "minilm-l6": 6})


def _other_values(space: Space, name: str) -> list:
    st = space.status[name]
    knob = st.knob
    if st.reason is not None:
        return []
    if knob.kind in ("categorical", "bool"):
        return [v for v in st.applicable_values if v != knob.baseline]
    return sorted({knob.low, knob.high} - {knob.baseline})


def _enabling(space: Space, name: str) -> dict:
    """The parent setting under which a conditional knob means something ({} for unconditional knobs)."""
    cond = KNOBS_BY_NAME[name].condition
    if cond is None:
        return {}
    parent = space.status[cond.parent]
    candidates = parent.applicable_values or (parent.knob.low, parent.knob.high)
    return {cond.parent: next(v for v in candidates if cond.holds(v))}


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a.keys() | b.keys() if a.get(k, _MISSING) != b.get(k, _MISSING)}


# -- one knob = one change -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(KNOBS_BY_NAME))
def test_changing_one_knob_changes_exactly_that_key(name):
    """No knob switches another: from the baseline, setting one knob to any other value it may take (on a CPU
    or a GPU machine) changes that key only. Knobs it enables or disables appear or vanish at their baselines."""
    tried = 0
    for hardware in (cpu_hardware(), gpu_hardware()):
        space = Space(hardware, TWO_MODELS)
        before = space.complete(_enabling(space, name))
        for value in _other_values(space, name):
            after = space.complete({**_enabling(space, name), name: value})
            assert after[name] == value
            for key in _changed(before, after) - {name}:
                child = KNOBS_BY_NAME[key]
                assert child.condition is not None and child.condition.parent == name, f"{name}={value} changed {key}"
                assert after.get(key, before.get(key)) == space.status[key].knob.baseline
            tried += 1
    assert tried, f"knob {name} has no second value on either machine"


def test_enabling_a_parent_brings_its_children_at_their_baselines(space):
    full, lora = space.baseline(), space.complete({"adaptation": "lora"})
    assert "lora_rank" not in full and "drop_from" not in full
    assert _changed(full, lora) == {"adaptation", "lora_rank", "lora_alpha", "lora_dropout"}
    assert (lora["lora_rank"], lora["lora_alpha"], lora["lora_dropout"]) == tuple(
        KNOBS_BY_NAME[k].baseline for k in ("lora_rank", "lora_alpha", "lora_dropout"))


def test_baseline_holds_every_active_knob_at_its_declared_value(space):
    base = space.baseline()
    inactive = {k.name for k in KNOBS if k.condition and not k.condition.holds(KNOBS_BY_NAME[k.condition.parent].baseline)}
    assert inactive == {"lora_rank", "lora_alpha", "lora_dropout", "drop_from"}
    assert set(base) == set(KNOBS_BY_NAME) - inactive
    for name, value in base.items():
        assert value == space.status[name].knob.baseline
    assert base["model"] == "tiny-bert"
    assert space.differences(base) == {}
    assert space.differences(space.complete({"epochs": 1})) == {"epochs": 1}


# -- what cannot run on this machine -------------------------------------------------------------------------

NOT_HERE = [
    ("pin_memory", True, NO_GPU),
    ("power_limit_w", 250, NO_NVML),
    ("train_precision", "fp16", NO_GPU),
    ("infer_precision", "fp16", NO_GPU),
]


@pytest.mark.parametrize("name,value,why", NOT_HERE)
def test_a_value_that_cannot_run_here_is_refused_with_the_reason(space, name, value, why):
    with pytest.raises(GreenknobsError) as err:
        space.complete({name: value})
    message = str(err.value)
    assert "\n" not in message
    assert f"{name} = " in message and "cannot run on this machine" in message and why in message


@pytest.mark.parametrize("name,value,why", NOT_HERE)
def test_what_cannot_run_here_is_left_out_of_the_search_with_the_reason(space, name, value, why):
    st = space.status[name]
    if st.knob.kind == "bool" or name == "power_limit_w":
        assert st.reason == why and name not in space.searched
    else:
        assert st.value_reasons[value] == why
        assert value not in space.searched[name].choices
    with pytest.raises(GreenknobsError, match="cannot"):
        if name in space.searched:
            Space(space.hardware, space.task, search=[name], ranges={name: {"choices": [value]}})
        else:
            Space(space.hardware, space.task, search=[name])


@pytest.mark.parametrize("name,value", [("adaptation", "qlora"), ("quantization", "bnb-int8"), ("quantization", "bnb-nf4")])
def test_bitsandbytes_on_a_cpu_runs_only_where_a_study_names_it(space, name, value):
    """Slow on a CPU: left out of the default search, with the reason, but valid where named (ranges, fixed, a
    configuration) — never refused, since it runs."""
    st = space.status[name]
    assert value not in space.searched[name].choices and value not in st.value_reasons
    assert "at your cost" not in st.value_costs[value] and "bitsandbytes" in st.value_costs[value]
    assert space.complete({name: value})[name] == value
    named = Space(space.hardware, space.task, search=[name], ranges={name: {"choices": [st.knob.baseline, value]}})
    assert named.searched[name].choices == (st.knob.baseline, value)
    assert Space(space.hardware, space.task, fixed={name: value}).baseline()[name] == value


def test_bitsandbytes_on_a_gpu_is_searched_by_default():
    space = Space(gpu_hardware(), TWO_MODELS)
    assert {"qlora"} <= set(space.searched["adaptation"].choices)
    assert {"bnb-int8", "bnb-nf4"} <= set(space.searched["quantization"].choices)


def test_the_power_limit_is_searched_over_the_gpus_own_range():
    space = Space(gpu_hardware(), TWO_MODELS)
    choices = space.searched["power_limit_w"].choices
    assert choices[0] == 0 and all(200 <= w <= 700 for w in choices[1:]) and len(choices) > 2
    assert space.complete({"power_limit_w": choices[-1]})["power_limit_w"] == choices[-1]


def test_cpu_only_quantization_is_refused_on_a_gpu_machine():
    with pytest.raises(GreenknobsError, match="dynamic-int8 cannot run on this machine"):
        Space(gpu_hardware(), TWO_MODELS).complete({"quantization": "dynamic-int8"})


# -- validation ----------------------------------------------------------------------------------------------


DOMAIN = "outside its domain {domain}: choose a value inside it"  # {domain}: the knob's, as declared


@pytest.mark.parametrize("values,fragment", [
    ({"max_lenght": 64}, "unknown knob 'max_lenght' in config: did you mean 'max_length'?"),
    ({"lora_rnk": 8}, "did you mean 'lora_rank'?"),
    ({"max_length": 33}, "value 33 for knob 'max_length' is " + DOMAIN),
    ({"max_length": 1024}, DOMAIN),  # tiny-bert has 512 positions
    ({"compile": "yes"}, DOMAIN),
    ({"grad_accum": True}, DOMAIN),
    ({"epochs": 99}, DOMAIN),
    ({"epochs": 1.5}, DOMAIN),
    ({"learning_rate": 0.5}, DOMAIN),
    ({"learning_rate": "fast"}, DOMAIN),
    ({"train_fraction": 0.0}, DOMAIN),
    ({"drop_layers": 4}, DOMAIN),
    ({"lora_rank": 16}, "sets 'lora_rank', which only applies when adaptation in {lora, qlora}"),
    ({"adaptation": "full", "lora_dropout": 0.0}, "only applies when adaptation in"),
    ({"drop_from": "bottom"}, "sets 'drop_from', which only applies when drop_layers > 0"),
    # Impossible pairs are conditions, so that a study never samples them either.
    ({"gradient_checkpointing": True, "adaptation": "head"},
     "sets 'gradient_checkpointing', which only applies when adaptation in {full, lora, qlora}"),
    ({"quantization": "dynamic-int8", "infer_precision": "bf16"},
     "sets 'infer_precision', which only applies when quantization = none"),
])
def test_bad_values_are_refused_in_one_line_naming_the_fix(space, values, fragment):
    with pytest.raises(GreenknobsError) as err:
        space.complete(values)
    message = str(err.value)
    if "{domain}" in fragment:
        (name,) = values
        fragment = fragment.format(domain=space.status[name].knob.domain_text())
    assert fragment in message
    assert "\n" not in message and ": " in message


def test_toml_numbers_are_read_as_the_knobs_type(space):
    config = space.complete({"train_fraction": 1, "epochs": 1.0, "max_length": 64.0, "lora_dropout": 0} |
                            {"adaptation": "lora"})
    assert config["train_fraction"] == 1.0 and isinstance(config["train_fraction"], float)
    assert config["epochs"] == 1 and isinstance(config["epochs"], int)
    assert config["max_length"] == 64 and isinstance(config["max_length"], int)
    assert isinstance(config["lora_dropout"], float)


def test_hand_built_impossible_pairs_are_refused_too(task):
    base = Space(cpu_hardware(), task).baseline()
    for pair, fragment in (({"adaptation": "head", "gradient_checkpointing": True}, "gradient_checkpointing does nothing"),
                           ({"quantization": "dynamic-int8", "infer_precision": "bf16"}, "needs an fp32 model"),
                           ({"quantization": "bnb-nf4", "infer_precision": "fp16"}, "sets its own compute precision")):
        with pytest.raises(GreenknobsError, match=fragment):
            check_combination({**base, **pair}, task)


def test_dropping_every_layer_of_a_model_is_refused():
    with pytest.raises(GreenknobsError, match=r"drop_layers = 6 would remove every layer of minilm-l6 \(6 layers\): choose at most 5"):
        check_combination({"model": "minilm-l6", "drop_layers": 6}, TWO_MODELS)
    check_combination({"model": "minilm-l6", "drop_layers": 5}, TWO_MODELS)
    # The domain stops below the smallest model, so no configuration reaches the check through `complete`.
    assert Space(cpu_hardware(), TWO_MODELS).status["drop_layers"].knob.high == 3


# -- sampling ------------------------------------------------------------------------------------------------


def _study() -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))


def test_suggest_samples_conditional_knobs_only_where_they_are_active(space):
    study = _study()
    study.enqueue_trial({"adaptation": "full", "drop_layers": 0})
    study.enqueue_trial({"adaptation": "lora", "drop_layers": 2})
    seen = set()
    for _ in range(24):
        trial = study.ask()
        config = space.suggest(trial)
        lora = config["adaptation"] in ("lora", "qlora")
        assert {"lora_rank", "lora_alpha", "lora_dropout"} <= set(trial.params) if lora else not (
            {"lora_rank", "lora_alpha", "lora_dropout"} & set(trial.params))
        assert ("drop_from" in trial.params) == (config["drop_layers"] > 0) == ("drop_from" in config)
        assert space.params_of(config) == trial.params
        assert space.complete(config) == config  # what was sampled is a valid, complete configuration
        seen.add((lora, config["drop_layers"] > 0))
    assert seen == {(False, False), (True, True), (False, True), (True, False)}


def test_suggest_keeps_to_narrowed_ranges_and_fixed_knobs(cpu, task):
    space = Space(cpu, task, search=["learning_rate", "batch_size", "adaptation", "lora_rank", "drop_layers"],
                  ranges={"learning_rate": {"low": 1e-4, "high": 3e-4}, "batch_size": {"choices": [8, 32]},
                          "lora_rank": {"choices": [4, 16]}, "drop_layers": {"low": 1, "high": 2}},
                  fixed={"epochs": 1, "tokenizer": "rust", "drop_from": "bottom"})
    assert space.baseline()["epochs"] == 1 and space.baseline()["tokenizer"] == "rust"
    study = _study()
    base = space.baseline()
    for _ in range(16):
        trial = study.ask()
        config = space.suggest(trial)
        assert 1e-4 <= config["learning_rate"] <= 3e-4
        assert config["batch_size"] in (8, 32)
        assert config.get("lora_rank", 4) in (4, 16)
        assert config["drop_layers"] in (1, 2) and config["drop_from"] == "bottom"
        assert (config["epochs"], config["tokenizer"]) == (1, "rust")
        assert set(trial.params) <= {"learning_rate", "batch_size", "adaptation", "lora_rank", "drop_layers"}
        unsearched = set(config) - set(space.searched) - {"epochs", "tokenizer", "drop_from", "lora_alpha", "lora_dropout"}
        assert all(config[k] == base[k] for k in unsearched)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"search": ["max_lenght"]}, "unknown knob 'max_lenght' in search: did you mean 'max_length'?"),
    ({"fixed": {"epochs": 9}}, "fixed value 9 for knob 'epochs' is outside its domain"),
    ({"search": ["epochs"], "fixed": {"epochs": 1}}, "both searched and fixed"),
    ({"search": ["epochs"], "ranges": {"epochs": {"low": 3, "high": 2}}}, "low 3 above high 2"),
    ({"search": ["epochs"], "ranges": {"epochs": {"low": 0}}}, "goes outside its domain"),
    ({"search": ["epochs"], "ranges": {"epochs": {"lo": 1}}}, "unknown field(s) lo"),
    ({"search": ["max_length"], "ranges": {"max_length": {"choices": [64, 65]}}}, "value 65 for knob 'max_length'"),
    ({"search": ["max_length"], "ranges": {"max_length": {"low": 32}}}, "needs a non-empty list `choices`"),
    ({"search": ["epochs"], "ranges": {"batch_size": {"choices": [8]}}}, "which is not searched"),
    ({"search": ["pin_memory"]}, f"cannot be searched on this machine ({NO_GPU})"),
    # A searched knob that no sampled configuration could enable would change nothing.
    ({"search": ["lora_rank"]}, "only applies when adaptation in {lora, qlora}, which no configuration"),
    ({"search": ["adaptation", "lora_rank"], "ranges": {"adaptation": {"choices": ["full", "head"]}}},
     "no configuration of this study allows"),
    ({"search": ["drop_from"], "fixed": {"drop_layers": 0}}, "only applies when drop_layers > 0"),
])
def test_bad_study_spaces_are_refused(cpu, task, kwargs, fragment):
    with pytest.raises(GreenknobsError) as err:
        Space(cpu, task, **kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_searching_everything_leaves_out_children_that_fixed_values_disable(cpu, task):
    assert {"lora_rank", "drop_from"} <= set(Space(cpu, task).searched)
    space = Space(cpu, task, fixed={"adaptation": "head"})
    assert not {"lora_rank", "lora_alpha", "lora_dropout"} & set(space.searched)
    assert "drop_from" in space.searched
    assert Space(cpu, task, search=["lora_rank"], fixed={"adaptation": "lora"}).suggest(_study().ask())["lora_rank"] in (4, 8, 16, 32)


def test_a_fixed_child_holds_wherever_its_searched_parent_enables_it(cpu, task):
    space = Space(cpu, task, search=["drop_layers"], fixed={"drop_from": "bottom"})
    assert "drop_from" not in space.baseline()  # drop_layers = 0 there
    assert space.complete({"drop_layers": 2})["drop_from"] == "bottom"
    with pytest.raises(GreenknobsError, match="fixed sets 'drop_from', which only applies when drop_layers > 0"):
        Space(cpu, task, search=["epochs"], fixed={"drop_from": "bottom"})
    with pytest.raises(GreenknobsError, match="config sets 'drop_from'"):
        space.complete({"drop_layers": 0, "drop_from": "top"})  # given explicitly, an inactive knob is an error


def test_a_study_baseline_replaces_the_declared_one_and_is_validated():
    from greenknobs._errors import GreenknobsError
    from greenknobs.spaces import Hardware, Space, TaskInfo

    hw = Hardware(device="cpu", cpu_cores=2, missing={})
    task = TaskInfo(models=("m",), min_layers=6, max_positions=512, layers={"m": 6})
    space = Space(hw, task, search=["max_length"], baseline={"max_length": 512})
    assert space.baseline()["max_length"] == 512
    assert Space(hw, task, search=["max_length"]).baseline()["max_length"] != 512
    with pytest.raises(GreenknobsError, match="outside its domain"):
        Space(hw, task, baseline={"max_length": 4096})
    with pytest.raises(GreenknobsError, match="both fixed and given a baseline"):
        Space(hw, task, fixed={"epochs": 1}, baseline={"epochs": 2})
    with pytest.raises(GreenknobsError, match="did you mean 'max_length'"):
        Space(hw, task, baseline={"max_lenght": 64})
