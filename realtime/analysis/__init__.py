"""The per-frame analysis, one module per stage, with no window and no files:

capture -> detect -> track (ids) -> landmarks (face mesh, blendshapes) -> crop -> classify ->
action_units (measured AUs, per-person baseline) -> affect (AUs, valence/arousal) -> temporal
(smoothing, label hysteresis, One-Euro filters).

pipeline.py wires detect to temporal for the app, the API, the batch and the benchmarks; stages pass
the plain records in faces.py, and rows.py flattens them into the columns of the CSV and the API.
Nothing here imports realtime.window or realtime.outputs.
"""
