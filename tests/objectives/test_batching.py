"""The batching knob's order of training batches: seeded, each text once per epoch, the shuffled baseline as it always
was, and the padding count that the batching benchmark reads (`padding_per_epoch`) equal to what training met."""

from __future__ import annotations

import pytest
import torch

from greenknobs.objectives import _models, _tokens, _train
from greenknobs.spaces import Space

N = 288  # fortunes: 36 batches of 8 (mega-batches of 9 batches, LengthGroupedSampler's size for this many)


@pytest.fixture(scope="module")
def setup(tiny_pipeline):
    tokenizer = _models.load_tokenizer("tiny-bert", "rust")
    split = tiny_pipeline.splits.train
    texts, labels = split["text"][:N], split["label"][:N]
    encoded = {padding: _tokens.encode(tokenizer, texts, labels, 64, padding) for padding in ("fixed", "dynamic")}
    space = Space(tiny_pipeline.hardware, tiny_pipeline.task_info)

    def config(**values):
        return space.complete({"max_length": 64, "batch_size": 8, "epochs": 2, "padding": "dynamic", **values})

    return encoded, config, tokenizer.pad_token_id


def epochs_of(data, config, seed, pad, epochs=2):
    """Each epoch's batches as lists of example indices (read back through the labels' positions)."""
    indexed = _tokens.Encoded(dict(data.features), list(range(len(data))))  # labels = the example's index
    loader = _train.training_loader(indexed, config, seed, pad)
    return [[b["labels"].tolist() for b in loader] for _ in range(epochs)]


@pytest.mark.parametrize("batching", ["shuffled", "length-grouped"])
def test_the_order_is_decided_by_the_seed_and_keeps_every_text_once_per_epoch(setup, batching):
    encoded, config, pad = setup
    c = config(batching=batching)
    first, again, other = (epochs_of(encoded["dynamic"], c, s, pad) for s in (0, 0, 1))
    assert first == again
    assert first != other and first[0] != first[1]  # another seed, another epoch: another order
    for epoch in first + other:
        assert sorted(i for batch in epoch for i in batch) == list(range(N))
        assert [len(b) for b in epoch] == [8] * (N // 8)


def test_the_shuffled_baseline_draws_the_batches_it_always_drew(setup):
    """A plain seeded RandomSampler, as before the knob existed: earlier baseline runs stay comparable."""
    encoded, config, pad = setup
    generator = torch.Generator().manual_seed(3)
    plain = torch.utils.data.DataLoader(_tokens.Encoded(dict(encoded["dynamic"].features), list(range(N))),
                                        batch_size=8, shuffle=True, generator=generator,
                                        collate_fn=_tokens.Collate(pad))
    assert epochs_of(encoded["dynamic"], config(), 3, pad) == [[b["labels"].tolist() for b in plain] for _ in range(2)]


def test_length_grouped_batches_hold_texts_of_similar_length_whatever_the_padding(setup):
    encoded, config, pad = setup
    lengths = _train.text_lengths(encoded["dynamic"])
    assert _train.text_lengths(encoded["fixed"]) == lengths  # the texts' own tokens, not the padded width

    def spread(data, batching):
        epoch = epochs_of(data, config(batching=batching), 0, pad, epochs=1)[0]
        return sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in epoch) / len(epoch)

    for padding in ("fixed", "dynamic"):
        assert spread(encoded[padding], "length-grouped") < spread(encoded[padding], "shuffled") / 3
    assert spread(encoded["fixed"], "length-grouped") == spread(encoded["dynamic"], "length-grouped")


def test_only_dynamic_padding_turns_grouping_into_fewer_padded_tokens(setup):
    encoded, config, pad = setup
    counts = {(p, b): _train.padding_per_epoch(encoded[p], config(padding=p, batching=b), 0, pad)
              for p in ("fixed", "dynamic") for b in ("shuffled", "length-grouped")}
    real = sum(_train.text_lengths(encoded["dynamic"]))
    assert {tuple(t - p for t, p in epochs) for epochs in counts.values()} == {(real, real)}  # same texts each epoch
    assert counts["fixed", "shuffled"] == counts["fixed", "length-grouped"] == [(N * 64, N * 64 - real)] * 2
    grouped, shuffled = (sum(p for _, p in counts["dynamic", b]) for b in ("length-grouped", "shuffled"))
    assert grouped < shuffled / 2


@pytest.mark.parametrize("batching", ["shuffled", "length-grouped"])
def test_the_padding_count_replays_what_training_met(setup, tiny_pipeline, batching):
    encoded, config, pad = setup
    c = config(batching=batching, grad_accum=2)
    torch.manual_seed(0)
    from greenknobs.objectives import _build

    model = _build.build_model(c, "tiny-bert", tiny_pipeline.splits.num_labels, "cpu").model
    trained = _train.train(model, encoded["dynamic"], c, "cpu", pad, seed=5)
    replay = _train.padding_per_epoch(encoded["dynamic"], c, 5, pad)
    assert (trained["tokens"], trained["padded_tokens"]) == tuple(map(sum, zip(*replay)))
    assert trained["optimizer_steps"] == 2 * (N // 8 // 2)
