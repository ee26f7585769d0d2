"""Bundled data: the demo catalog and the situation bank (installed as the package `fffusion_data`)."""
