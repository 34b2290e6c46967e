"""Measurements behind the pipeline's defaults; each module runs as `python -m bench.<name>`."""
