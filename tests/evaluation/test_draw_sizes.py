"""How many OOD examples a draw holds: the reference's batch-break rules, re-derived here by
simulating its loaders (CIFAR/SVHN/TinyImageNet/MNIST test.py; NLP_classification/eval_OOD_*.py)."""

import numpy as np
import pytest

from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.draws import DrawSettings, OODSet, draw_size, run_protocol


def _image_loader_count(n_test: int, n_ood: int, test_bs: int = 200) -> int:
    """test.py's get_ood_scores: enumerate the shuffled loader, break when batch_idx >=
    ood_num_examples // test_bs, concatenate, keep [:ood_num_examples]."""
    ood_num_examples = n_test // 5
    kept = []
    for batch_idx, start in enumerate(range(0, n_ood, test_bs)):
        if batch_idx >= ood_num_examples // test_bs:
            break
        kept.extend(range(start, min(start + test_bs, n_ood)))
    return len(kept[:ood_num_examples])


def _text_loader_count(n_test: int, n_ood: int, batch_size: int = 64) -> int:
    """eval_OOD_*.py's get_scores: break when batch_idx * batch_size > ood_num_examples, and
    keep every score read (no truncation)."""
    ood_num_examples = n_test // 5
    kept = 0
    for batch_idx, start in enumerate(range(0, n_ood, batch_size)):
        if batch_idx * batch_size > ood_num_examples:
            break
        kept += min(batch_size, n_ood - start)
    return kept


@pytest.mark.parametrize("name, n_test, expected", [
    ("SVHN", 26032, 5200), ("CIFAR", 10000, 2000), ("Tiny ImageNet val", 10000, 2000),
    ("MNIST", 10000, 2000)])
def test_image_rule_gives_whole_batches_of_200(name, n_test, expected):
    assert draw_size(n_test, 5, "reference-image") == expected
    assert _image_loader_count(n_test, 10 * n_test) == expected  # a set larger than a draw
    assert draw_size(n_test, 5, "exact") == n_test // 5  # SVHN: 5206, the old count


@pytest.mark.parametrize("name, n_test, expected", [("TREC", 500, 128), ("SST", 1821, 384)])
def test_text_rule_reads_batches_of_64_through_the_target(name, n_test, expected):
    assert draw_size(n_test, 5, "reference-text") == expected
    assert _text_loader_count(n_test, 10 * n_test) == expected


@pytest.mark.parametrize("n_test", [1000, 1821, 7532, 26032, 4999, 12345])
def test_rules_equal_the_simulated_loaders(n_test):
    assert draw_size(n_test, 5, "reference-image") == _image_loader_count(n_test, 10**6)
    assert draw_size(n_test, 5, "reference-text") == _text_loader_count(n_test, 10**6)


def test_a_small_set_gives_all_it_has_and_the_protocol_uses_the_rule():
    in_scores = {"msp": np.random.default_rng(0).normal(size=500)}
    sizes = []

    def score(idx):
        sizes.append(len(idx))
        return {"msp": np.ones(len(idx))}

    sets = [OODSet("big", "big", 1000, score), OODSet("small", "small", 90, score)]
    settings = DrawSettings(draws=2, draw_size="reference-text", rule="closest")
    found = run_protocol(in_scores, sets, settings)["msp"]
    # 500 // 5 = 100 -> two batches of 64 = 128; a 90-example set is read to its end, as the
    # reference's loader runs out
    assert found.ood["big"]["n_per_draw"] == 128 == _text_loader_count(500, 1000)
    assert found.ood["small"]["n_per_draw"] == 90 == _text_loader_count(500, 90)
    assert settings.record_fields()["draw_size"] == "reference-text"


def test_bad_rule_and_too_small_a_test_set_are_one_clear_error():
    with pytest.raises(UserInputError, match="draw size rule 'batches'"):
        DrawSettings(draw_size="batches").check()
    with pytest.raises(UserInputError, match="batches of 200.*exact"):
        DrawSettings(draw_size="reference-image").per_draw(360, "the test set has 360 images")


@pytest.mark.usefixtures("one_thread")
def test_an_image_run_draws_by_its_own_rule_unless_told(tmp_path, digits_npz):
    from outlier_exposure.evaluation.protocol import evaluate_scores
    from tests.helpers.tiny_runs import train_tiny

    run = train_tiny(tmp_path / "run", digits_npz)  # quickstart: ood_draw_size "exact"

    def per_draw(**options):
        found = evaluate_scores(run, ["noise:gaussian"], draws=2, device="cpu", write=False,
                                **options)["msp"]
        return found["ood"]["gaussian"]["n_per_draw"], found["draw_size"]

    # 200 test digits: 200 // 5 = 40 exactly; with the text rule one batch of 64 (of the
    # 2 * 40 noise images made, as the reference makes ood_num_examples * num_to_avg)
    assert per_draw() == (40, "exact")
    assert per_draw(draw_size="reference-text") == (64, "reference-text")
    with pytest.raises(UserInputError, match="batches of 200"):
        per_draw(draw_size="reference-image")


def test_the_command_line_offers_every_draw_size_rule():
    from outlier_exposure.commands._common import DRAW_SIZE_CHOICES
    from outlier_exposure.evaluation.draws import DRAW_SIZE_RULES

    assert sorted(DRAW_SIZE_CHOICES) == sorted(DRAW_SIZE_RULES)
