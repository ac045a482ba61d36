"""Models trained and exported by captcha-edge itself (installed as ``edge_runtime.shipped``)."""
