import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    # The CI machine has 2 cores; more threads only add contention.
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory):
    """A small real labelled set (scikit-learn digits at 16x16) in the npz format users have."""
    from outlier_exposure.data.catalog.offline import digits

    train = digits("train", (16, 16, 1))
    test = digits("test", (16, 16, 1))
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=train.x[:400], y_train=train.y[:400], x_test=test.x[:200],
             y_test=test.y[:200])
    return path


@pytest.fixture(scope="module")
def one_thread():
    """One thread for tiny models: on a shared 2-core machine, two threads spin-wait on each
    other's tiny kernels and run many times slower than one (`pytest.mark.usefixtures`)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
