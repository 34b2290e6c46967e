"""The live window around the analysis: the frame loop and its keys (app.py), where overlays go
(layout.py), drawing them (draw.py), the dashboard beside the video (dashboard.py), and the checks
made before anything opens (preflight.py)."""
