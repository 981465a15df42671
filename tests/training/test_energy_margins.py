"""`--m-in auto --m-out auto` (training/energy_margins.py): the rule on hand-made energies, its
order of magnitude on CIFAR-like logits, and real tiny fine-tunes whose recorded margins are
recomputed here from the baseline's energies; refusals and resume."""

import json
import shutil

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from outlier_exposure.cli import main
from outlier_exposure.commands.tune import LOSS_FLAGS
from outlier_exposure.data.datasets import load_images, load_labelled
from outlier_exposure.errors import UserInputError
from outlier_exposure.training import energy_margins, runs
from outlier_exposure.training.config import config_from_preset, load_config, tune_config
from outlier_exposure.training.energy_margins import margins_from_energies
from outlier_exposure.training.holdout import load_split
from outlier_exposure.training.loop import train_run
from outlier_exposure.training.setup import build_model
from outlier_exposure.training.val_criterion import logits_of
from tests.helpers.tiny_runs import train_tiny, train_until

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base(tmp_path_factory, digits_npz, one_thread):
    """A tiny baseline (no calibration hold-out) shared by the tests that only read it."""
    return train_tiny(tmp_path_factory.mktemp("margins") / "base", digits_npz)


def test_the_rule_on_hand_made_energies():
    # numpy's linear quantile of n sorted values at q is at position q * (n - 1), interpolated
    e_in = np.array([-12.0, -20, -14, -16, -10, -18])      # sorted -20 .. -10 step 2
    above = np.array([-4.0, -8, -6, -2, -10, 0])             # outliers above the data: -10 .. 0
    # median of e_in: position 2.5 -> -15, so m_in = 2.5 * -15 = -37.5; Q_out(0.99): position
    # 4.95 -> -2 + 0.95 * 2 = -0.1 (above Q_in(0.99) = -10.1)
    assert margins_from_energies(e_in, above) == pytest.approx((-37.5, -0.1))
    # outliers BELOW the data (as the quickstart's photographs): Q_out(0.99) = -25.15 (position
    # 2.97 of -40, -35, -30, -25), so m_out is raised to Q_in(0.99) = -10.1
    below = np.array([-30.0, -25, -40, -35])
    assert margins_from_energies(e_in, below) == pytest.approx((-37.5, -10.1))
    # other settings: Q_out(0.9) at position 4.5 -> -1; 1.5 * Q_in(0.25) (position 1.25 ->
    # -17.5) = -26.25 with Q_out(0.5) = -5
    assert margins_from_energies(e_in, above, 2.5, 0.5, 0.9) == pytest.approx((-37.5, -1.0))
    assert margins_from_energies(e_in, above, 1.5, 0.25, 0.5) == pytest.approx((-26.25, -5.0))
    with pytest.raises(ValueError):
        margins_from_energies(e_in, above, 2.0, 0.9, 0.1)


def test_cifar_like_energies_give_the_papers_order_of_magnitude():
    """Logits drawn to mimic the energy authors' pre-trained CIFAR-10 WRN: in their Figure 2(b)
    (demo_figs/cifar10_vs_svhn.png of wetliu/energy_ood) its in-distribution negative energies
    lie between about 7.5 and 17.5, peaking near 11.5, and SVHN's between 2.5 and 12, peaking
    near 5 with a long right tail; E is close to minus the top logit (energy_ood#23). So: a top
    logit N(11.5, 2) on in-distribution images, 2.5 + Gamma(2, 1.5) on outliers, the other
    nine logits N(0, 1). The paper's margins for this model are -23 / -5."""
    rng = np.random.default_rng(0)

    def energies(top):
        z = rng.normal(0, 1, (len(top), 10))
        z[np.arange(len(top)), rng.integers(0, 10, len(top))] = top
        return -logsumexp(z, axis=1)

    e_in = energies(rng.normal(11.5, 2, 5000))
    e_out = energies(2.5 + rng.gamma(2, 1.5, 5000))
    m_in, m_out = margins_from_energies(e_in, e_out)
    assert -32 < m_in < -26   # the paper: -23, twice this model's median energy
    assert -5 < m_out < -2    # the paper: -5
    # ...while for a model with the quickstart's energies (median -9.4, outliers lower) the
    # margins follow the model: m_out comes from the in-distribution side
    e_small = energies(rng.normal(9.4, 1.7, 5000))
    m_in, m_out = margins_from_energies(e_small, energies(rng.normal(14, 3, 5000)))
    assert m_in == pytest.approx(2.5 * np.median(e_small))
    assert m_out == pytest.approx(np.quantile(e_small, 0.99))


def test_the_defaults_are_those_the_help_names():
    helps = {flag: options["help"] for flag, options in LOSS_FLAGS}
    assert energy_margins.IN_QUANTILE == 0.5  # "the median"
    assert f"{energy_margins.IN_FACTOR:g} x the median" in helps["--m-in"]
    assert f"{energy_margins.OUT_QUANTILE}-quantile" in helps["--m-out"]


def _recomputed(base, cfg, in_images, outlier_images):
    """The rule on the baseline's energies (E = -logsumexp via scipy) on the given images."""
    model = build_model(cfg)
    model.load_state_dict(runs.load_final_weights(base))
    e_in = -logsumexp(logits_of(model, in_images, cfg, "cpu").double().numpy(), axis=1)
    e_out = -logsumexp(logits_of(model, outlier_images, cfg, "cpu").double().numpy(), axis=1)
    # the rule as docs/scores-and-energy.md states it: 2.5 x the median in-distribution
    # energy; the 99th percentile of the outliers' or, when higher, of the in-distribution's
    return (2.5 * np.median(e_in), max(np.quantile(e_out, 0.99), np.quantile(e_in, 0.99)))


def test_auto_margins_are_recorded_and_match_the_baselines_energies(tmp_path, base, capsys):
    tuned = tmp_path / "tuned"
    assert main(["tune", str(base), "--loss", "energy", "--m-in", "auto", "--m-out", "auto",
                 "--outliers", "noise:rademacher:300", "--epochs", "1", "--out", str(tuned),
                 "--quiet"]) == 0
    assert "energy margins (m_in, m_out auto): m_in = " in capsys.readouterr().out
    saved = json.loads((tuned / "config.json").read_text())
    record = saved["energy_margins"]
    assert isinstance(saved["m_in"], float) and isinstance(saved["m_out"], float)
    assert (record["rule"], record["auto"]) == (energy_margins.RULE, ["m_in", "m_out"])
    assert (record["in_factor"], record["in_quantile"], record["out_quantile"]) == (2.5, 0.5, 0.99)
    # fewer images than the sample bound: all 400 training digits and all 300 outliers
    assert (record["n_in"], record["n_out"]) == (400, 300)
    assert record["measured_on"] == {"in": f"training images of {saved['train']}",
                                     "outliers": "noise:rademacher:300", "weights": str(base)}
    cfg = load_config(tuned)
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed)
    outliers = load_images(cfg.outliers, cfg.image_shape, seed=cfg.seed,
                           noise_range=cfg.noise_range)
    expected = _recomputed(base, cfg, train, outliers)
    assert (saved["m_in"], saved["m_out"]) == pytest.approx(expected, rel=1e-5)
    # the margins follow this tiny model's energies, not the paper's CIFAR values
    assert saved["m_in"] > -23.0 and saved["m_in"] < saved["m_out"]


def test_reading_the_margins_leaves_training_as_with_the_numbers(tmp_path, base):
    """An auto run trains exactly as a run given its recorded margins as numbers: measuring
    the energies draws from no generator the training uses and changes no weight."""
    common = dict(loss="energy", outliers="noise:rademacher:300", epochs=1)
    train_run(tune_config(base, m_in="auto", m_out="auto", **common), tmp_path / "auto",
              device="cpu", progress=False)
    chosen = load_config(tmp_path / "auto")
    train_run(tune_config(base, m_in=chosen.m_in, m_out=chosen.m_out, **common),
              tmp_path / "numbers", device="cpu", progress=False)
    auto, numbers = (runs.load_final_weights(tmp_path / name) for name in ("auto", "numbers"))
    assert all(torch.equal(auto[k], numbers[k]) for k in auto)


def test_auto_margins_use_the_calibration_holdout_and_a_seeded_sample(tmp_path, digits_npz,
                                                                       monkeypatch):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    train_tiny(base, digits_npz, calibration=True)
    monkeypatch.setattr(energy_margins, "MAX_SAMPLE", 25)  # below both sets' sizes
    cfg = tune_config(base, loss="energy", m_in="auto", m_out=-1.0,
                      outliers="noise:rademacher:300", epochs=1)
    train_run(cfg, tuned, device="cpu", progress=False)
    saved = json.loads((tuned / "config.json").read_text())
    record = saved["energy_margins"]
    assert record["auto"] == ["m_in"] and saved["m_out"] == -1.0  # the given margin is kept
    assert record["measured_on"]["in"].startswith("calibration hold-out of ")
    assert (record["n_in"], record["n_out"]) == (25, 25)
    # the documented sample: sorted seeded choices, the run's seed for the hold-out and
    # seed + 1 for the outliers
    cfg = load_config(tuned)
    train = load_labelled(cfg.train, cfg.image_shape, seed=cfg.seed)
    held = load_split(base, len(train))
    pick_in = np.sort(np.random.default_rng(cfg.seed).choice(len(held), 25, replace=False))
    pick_out = np.sort(np.random.default_rng(cfg.seed + 1).choice(300, 25, replace=False))
    outliers = load_images(cfg.outliers, cfg.image_shape, seed=cfg.seed,
                           noise_range=cfg.noise_range)
    in_images = type(train)(x=train.x[held[pick_in]], y=train.y[held[pick_in]], name="in")
    out_images = type(outliers)(x=outliers.x[pick_out], y=None, name="out",
                                normalised=outliers.normalised)
    assert saved["m_in"] == pytest.approx(_recomputed(base, cfg, in_images, out_images)[0],
                                          rel=1e-5)


def test_resume_reuses_the_recorded_margins(tmp_path, base, monkeypatch):
    tuned = tmp_path / "tuned"
    cfg = tune_config(base, loss="energy", m_in="auto", m_out="auto",
                      outliers="noise:rademacher:300", epochs=2)
    train_until(cfg, tuned, step=10)  # 8 steps an epoch: stopped in the second epoch
    written = (tuned / "config.json").read_text()

    def no_measuring(*args, **kwargs):
        raise AssertionError("the margins were measured again on resume")

    monkeypatch.setattr(energy_margins, "logits_of", no_measuring)
    train_run(None, tuned, resume=True, device="cpu", progress=False)
    assert (tuned / "config.json").read_text() == written
    assert (tuned / "model.pt").exists()


def test_auto_needs_the_energy_loss(tmp_path, digits_npz, base, capsys):
    npz = f"npz:{digits_npz}:x_train,y_train"
    with pytest.raises(UserInputError, match="--m-in auto .* add --loss energy"):
        config_from_preset("quickstart", "oe-tune", train=npz, test=npz, init_from="x",
                           m_in="auto")
    with pytest.raises(UserInputError, match="--m-out 'soon': give a number"):
        config_from_preset("quickstart", "oe-tune", train=npz, test=npz, init_from="x",
                           loss="energy", m_out="soon")
    capsys.readouterr()
    assert main(["tune", str(base), "--m-in", "auto", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2
    assert "add --loss energy" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: not a number nor auto
        main(["tune", str(base), "--loss", "energy", "--m-in", "nan", "--out", "y"])
    assert "give a number (e.g. -23) or auto" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_baseline_without_negative_energies_is_refused_before_anything_is_written(
        tmp_path, base, capsys):
    odd = tmp_path / "odd"
    # the same run with a classifier head that outputs -10 for every class: every image gets
    # the energy 10 - log(10) > 0, which has no scale for the rule to multiply
    shutil.copytree(base, odd)
    weights = runs.load_final_weights(base)
    head = [k for k in weights if weights[k].ndim == 2][-1]
    bias = head.replace("weight", "bias")
    weights[head] = torch.zeros_like(weights[head])
    weights[bias] = torch.full_like(weights[bias], -10.0)
    runs.save_torch(odd / "model.pt", weights)
    out = tmp_path / "tuned"
    capsys.readouterr()
    assert main(["tune", str(odd), "--loss", "energy", "--m-in", "auto", "--m-out", "auto",
                 "--outliers", "noise:rademacher:50", "--epochs", "1", "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "median in-distribution energy is 7.697, not negative" in err
    assert "give both margins as numbers" in err
    assert not out.exists()
