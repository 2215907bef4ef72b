import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a headless chromium (needs chromium + playwright)")


@pytest.fixture(autouse=True)
def one_thread():
    "Small tensors: one torch thread is about as fast, and far faster when other jobs share the cores."
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
