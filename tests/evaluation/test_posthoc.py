"""Post-hoc scorers against direct computations (numpy, manual autograd), `oe eval` with
several scores in one pass, every scorer's deployed module against its own score, and a new
scorer registered in a few lines working for `oe eval` and a deployed detector."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import outlier_exposure as oe
from outlier_exposure.cli import main
from outlier_exposure.data.datasets import load_labelled
from outlier_exposure.errors import UserInputError
from outlier_exposure.evaluation.protocol import load_trained_model, predict_outputs
from outlier_exposure.metrics import detection_metrics
from outlier_exposure.models import create_model
from outlier_exposure.evaluation.posthoc import (
    KNN, ODIN, SCORERS, Mahalanobis, Scorer, classifier_head, logits_and_features, make_scorer,
    scorer_names,
)
from tests.helpers.tiny_runs import train_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def _tiny_model(seed=0, channels=1, classes=3):
    torch.manual_seed(seed)
    model = create_model("small-cnn", classes, in_channels=channels, width=4)
    # Non-trivial batch-norm statistics, so that eval mode differs from train mode.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("name, kwargs, side, channels", [
    ("small-cnn", dict(width=4), 16, 1), ("convnet", {}, 28, 1), ("allconv", {}, 32, 3),
    ("wrn", dict(depth=10, widen_factor=1), 32, 3)])
def test_every_model_is_its_head_of_its_features(name, kwargs, side, channels):
    torch.manual_seed(0)
    model = create_model(name, 5, in_channels=channels, **kwargs).eval()
    x = torch.randn(3, channels, side, side)
    with torch.no_grad():
        torch.testing.assert_close(classifier_head(model)(model.features(x)), model(x))


def test_mahalanobis_matches_numpy_pinv():
    rng = np.random.default_rng(0)
    n, d = 300, 6
    y = rng.integers(0, 3, n)
    train = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 3 * np.eye(3, d)[y]
    train[:, -1] = 2.0  # a constant feature: a singular covariance, which pinv handles
    test = rng.normal(size=(40, d)) * 2
    scorer = Mahalanobis().fit(_tiny_model(), torch.tensor(train, dtype=torch.float32),
                               torch.tensor(y))
    got = scorer.score_outputs(None, torch.tensor(test, dtype=torch.float32)).numpy()

    f = train.astype(np.float32).astype(np.float64)
    means = np.stack([f[y == c].mean(0) for c in range(3)])
    cov = (f - means[y]).T @ (f - means[y]) / n
    prec = np.linalg.pinv(cov)
    t = test.astype(np.float32).astype(np.float64)
    want = np.min([np.einsum("nd,de,ne->n", t - m, prec, t - m) for m in means], axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_mahalanobis_input_perturbation_matches_a_manual_gradient_step():
    model = _tiny_model()
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    train = torch.randn(60, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    labels = torch.arange(60) % 3
    eps, std = 0.01, (0.5,)
    scorer = Mahalanobis(epsilon=eps, std=std).fit(model, [(train, labels)])
    got = scorer.score(x, batch_size=4)  # batches of 4 and 2
    for i in range(len(x)):  # one example at a time, by hand
        xi = x[i:i + 1].clone().requires_grad_(True)
        d = torch.stack([((model.features(xi).double() - m) @ scorer.precision
                          * (model.features(xi).double() - m)).sum() for m in scorer.means])
        d[d.argmin()].backward()
        step = torch.where(xi.grad >= 0, 1.0, -1.0) / std[0]
        with torch.no_grad():
            f = model.features(xi - eps * step).double()
            want = min(((f - m) @ scorer.precision * (f - m)).sum() for m in scorer.means)
        assert got[i].item() == pytest.approx(want.item(), rel=1e-4)
    # epsilon 0: the plain distance of the features
    plain = Mahalanobis().fit(model, [(train, labels)])
    with torch.no_grad():
        torch.testing.assert_close(plain.score(x), plain.score_outputs(None, model.features(x)))


@pytest.mark.parametrize("k", [1, 5])
def test_knn_matches_brute_force_numpy(k):
    rng = np.random.default_rng(3)
    bank, queries = rng.normal(size=(97, 8)), rng.normal(size=(23, 8))
    queries[0] = 3 * bank[5]  # same direction as a training feature: distance 0 for k = 1
    scorer = KNN(k=k, chunk_elements=97 * 5).fit(_tiny_model(), torch.tensor(bank, dtype=torch.float32))
    got = scorer.score_outputs(None, torch.tensor(queries, dtype=torch.float32)).numpy()
    b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    dist = np.linalg.norm(q[:, None, :] - b[None, :, :], axis=2)
    want = np.sort(dist, axis=1)[:, k - 1]
    np.testing.assert_allclose(got, want, atol=2e-4)
    if k == 1:
        assert got[0] == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="at least"):
        KNN(k=200).fit(_tiny_model(), torch.tensor(bank, dtype=torch.float32))


def _odin_by_hand(model, x, t, eps, std):
    scores = []
    for i in range(len(x)):
        xi = x[i:i + 1].clone().requires_grad_(True)
        logits = model(xi)
        log_s = torch.log_softmax(logits / t, dim=1)[0, logits.argmax()]
        (-log_s).backward()  # x~ = x - eps * sign(-grad log S_yhat)
        step = torch.where(xi.grad >= 0, 1.0, -1.0) / torch.tensor(std).view(1, -1, 1, 1)
        with torch.no_grad():
            scores.append(-torch.softmax(model(xi - eps * step) / t, dim=1).max().item())
    return np.array(scores)


@pytest.mark.parametrize("t, eps", [(1.0, 0.0), (10.0, 0.002), (1000.0, 0.05)])
def test_odin_matches_a_manual_autograd_computation(t, eps):
    model = _tiny_model(channels=3)
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    std = (0.25, 0.5, 1.0)
    got = ODIN(t, eps, std=std).fit(model).score(x, batch_size=3).numpy()
    np.testing.assert_allclose(got, _odin_by_hand(model, x, t, eps, std), rtol=1e-5, atol=1e-7)
    if (t, eps) == (1.0, 0.0):  # ODIN without its two changes is MSP
        with torch.no_grad():
            msp = -torch.softmax(model(x), 1).max(1).values.numpy()
        np.testing.assert_allclose(got, msp, rtol=1e-6)


def test_odin_tuning_keeps_the_grid_point_with_the_lowest_validation_fpr():
    model = _tiny_model()
    gen = torch.Generator().manual_seed(5)
    val_in, val_out = torch.randn(60, 1, 16, 16, generator=gen), 3 * torch.rand(50, 1, 16, 16, generator=gen)
    scorer = ODIN(temperatures=(1.0, 100.0), epsilons=(0.0, 0.01, 0.1), std=(0.5,)).fit(
        model, val_in, ood=val_out, tuned_on="test-val")
    grid = scorer.tuned["grid"]
    assert len(grid) == 6
    best = min(grid, key=lambda g: (g["fpr"], -g["auroc"]))
    assert (scorer.temperature, scorer.epsilon) == (best["temperature"], best["epsilon"])
    # the recorded validation FPR is what the chosen pair really gives on the validation sets
    fixed = ODIN(scorer.temperature, scorer.epsilon, std=(0.5,)).fit(model)
    m = detection_metrics(fixed.score(val_in).numpy(), fixed.score(val_out).numpy())
    assert m["fpr"] == pytest.approx(scorer.params()["validation_fpr"])
    # one-shot iterators of batches (a generator, say) give the same choice
    again = ODIN(temperatures=(1.0, 100.0), epsilons=(0.0, 0.01, 0.1), std=(0.5,)).fit(
        model, (b for b in val_in.split(25)), ood=iter(val_out.split(20)))
    assert [g["fpr"] for g in again.tuned["grid"]] == pytest.approx([g["fpr"] for g in grid])
    assert (again.temperature, again.epsilon) == (scorer.temperature, scorer.epsilon)
    with pytest.raises(ValueError, match="validation"):
        ODIN().fit(model, val_in)


def test_scorer_registry():
    assert scorer_names() == ["msp", "xent", "energy", "maxlogit", "odin", "mahalanobis", "knn"]
    with pytest.raises(UserInputError, match="unknown score"):
        make_scorer("bogus")


def _fitted(name, model):
    """Scorer `name` fitted on random training inputs (ODIN with fixed T and eps)."""
    if name == "odin":
        return ODIN(10.0, 0.002).fit(model)
    scorer = make_scorer(name, **({"k": 5} if name == "knn" else {}))
    if not scorer.needs_training_features:
        return scorer.fit(model)
    train = torch.randn(60, 1, 16, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        features = model.features(train)
    return scorer.fit(model, features, torch.arange(60) % 3)


@pytest.mark.parametrize("name", list(SCORERS))
def test_every_scorers_deployed_module_gives_its_scores(name):
    """What a deployed detector runs (`deployed()`, rebuilt from the saved settings and tensors
    as `load_detector` does) scores as the scorer's own fit/score path."""
    model = _tiny_model()
    scorer = _fitted(name, model)
    if scorer.not_deployable_because:
        with pytest.raises(NotImplementedError, match="cannot be deployed"):
            scorer.deployed()
        return
    x = torch.randn(9, 1, 16, 16, generator=torch.Generator().manual_seed(8))
    want = scorer.score(x, batch_size=4)
    rebuilt = make_scorer(name, **scorer.settings()).load_fitted_state(scorer.fitted_state())
    with torch.no_grad():
        logits, features = logits_and_features(model, x)
        for module in (scorer.deployed(), rebuilt.deployed()):
            torch.testing.assert_close(module(logits, features), want, rtol=1e-5, atol=1e-6)
    assert set(dict(scorer.deployed().named_buffers())) == set(scorer.fitted)


class DistanceToMean(Scorer):
    """A new scorer in a few lines: distance of the features to the training features' mean."""

    name, needs_features, needs_training_features, fitted = "centre", True, True, ("centre",)

    def fit(self, model, data=None, labels=None, **_):
        super().fit(model)
        self.centre = data.float().mean(0)
        return self

    def score_outputs(self, logits, features):
        return (features.float() - self.centre).norm(dim=1)

    def deployed(self):
        return DistanceToMeanScore(self.centre)


class DistanceToMeanScore(torch.nn.Module):
    def __init__(self, centre):
        super().__init__()
        self.register_buffer("centre", centre)

    def forward(self, logits, features):
        return (features.float() - self.centre).norm(dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_a_new_scorer_is_one_class_and_one_registry_line(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setitem(SCORERS, "centre", DistanceToMean)  # the one registry line
    model, cfg = load_trained_model(tiny_run, "cpu")
    train = load_labelled(cfg.train, cfg.image_shape)
    test = load_labelled(cfg.test, cfg.image_shape)
    _, train_feats = predict_outputs(model, train, cfg, "cpu", 100, features=True)
    _, test_feats = predict_outputs(model, test, cfg, "cpu", 100, features=True)
    want = (test_feats - train_feats.mean(0)).norm(dim=1).numpy()

    # `oe eval`: fitted on the run's training features, scored from the cached features
    assert main(["eval", str(tiny_run), "--ood", "noise:gaussian", "--draws", "1",
                 "--score", "centre", "msp"]) == 0
    assert json.loads((tiny_run / "results_centre.json").read_text())["score"] == "centre"
    with np.load(tiny_run / "scores_centre.npz") as cached:
        np.testing.assert_allclose(cached["in"], want, rtol=1e-5)

    # a deployed detector and its export, with deploy/ unchanged
    assert main(["detector", str(tiny_run), "--score", "centre"]) == 0
    assert json.loads((tiny_run / "detector.json").read_text())["stats"] == "detector_stats.pt"
    det = oe.load_detector(tiny_run)
    x = np.asarray(test.x[:8])
    np.testing.assert_allclose(det.score(x), want[:8], rtol=1e-5)
    assert main(["export", str(tiny_run), "--out", str(tmp_path / "model.pt")]) == 0
    _, scores, _ = torch.jit.load(str(tmp_path / "model.pt"))(torch.from_numpy(x))
    np.testing.assert_allclose(scores.numpy(), want[:8], rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, digits_npz):
    return train_tiny(tmp_path_factory.mktemp("posthoc") / "base", digits_npz)


def test_eval_several_scores_in_one_pass(tiny_run, tmp_path, capsys):
    names = ["msp", "energy", "maxlogit", "mahalanobis", "knn", "odin"]
    assert main(["eval", str(tiny_run), "--ood", "noise:gaussian", "lfw-faces", "--draws", "2",
                 "--score", *names, "--odin-val", "noise:uniform", "--knn-k", "10"]) == 0
    out = capsys.readouterr().out
    assert out.count("Test error") == len(names) and "Mean AUROC" in out  # a table per score + summary
    results = json.loads((tiny_run / "results.json").read_text())
    assert results["score"] == "msp"  # the first score keeps the single-score file
    for name in names:
        r = json.loads((tiny_run / f"results_{name}.json").read_text())
        assert r["score"] == name and set(r["ood"]) == {"gaussian", "lfw-faces"}
        assert (tiny_run / f"scores_{name}.npz").exists()
    assert (tiny_run / "scores_summary.md").exists()
    odin = json.loads((tiny_run / "results_odin.json").read_text())["score_params"]
    assert odin["tuned_on"] == "noise:uniform" and odin["grid_size"] == 44
    assert json.loads((tiny_run / "results_knn.json").read_text())["score_params"]["k"] == 10

    # the cached in-distribution scores equal a direct computation from the model
    model, cfg = load_trained_model(tiny_run, "cpu")
    test = load_labelled(cfg.test, cfg.image_shape)
    logits, feats = predict_outputs(model, test, cfg, "cpu", 100, features=True)
    with np.load(tiny_run / "scores_energy.npz") as cached:
        np.testing.assert_allclose(cached["in"], -torch.logsumexp(logits, 1).numpy(), rtol=1e-6)
    train = load_labelled(cfg.train, cfg.image_shape)
    _, train_feats = predict_outputs(model, train, cfg, "cpu", 100, features=True)
    b = F.normalize(train_feats, dim=1).numpy().astype(np.float64)
    q = F.normalize(feats, dim=1).numpy().astype(np.float64)
    want = np.sort(np.sqrt(np.maximum(2 - 2 * q @ b.T, 0)), axis=1)[:, 9]
    with np.load(tiny_run / "scores_knn.npz") as cached:
        np.testing.assert_allclose(cached["in"], want, atol=1e-4)

    # one score alone gives the same numbers for it (same draws), in the same file shape
    assert main(["eval", str(tiny_run), "--ood", "noise:gaussian", "lfw-faces", "--draws", "2",
                 "--score", "energy"]) == 0
    alone = json.loads((tiny_run / "results.json").read_text())
    together = json.loads((tiny_run / "results_energy.json").read_text())
    assert alone["ood"] == together["ood"] and alone["score"] == "energy"


@pytest.mark.parametrize("args, message", [
    (["--score", "odin"], "--odin-val"),
    (["--score", "odin", "--odin-val", "noise:gaussian"], "also an --ood test set"),
    (["--score", "odin", "--odin-T", "10"], "together"),
    (["--score", "bogus"], "unknown score"),
    (["--score", "knn", "--knn-k", "5000"], "exceeds"),
])
def test_eval_bad_score_options(tiny_run, capsys, args, message):
    assert main(["eval", str(tiny_run), "--ood", "noise:gaussian", "--draws", "1", *args]) == 2
    assert message in capsys.readouterr().err
