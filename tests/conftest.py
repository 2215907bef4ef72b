def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a headless chromium (needs chromium + playwright)")
