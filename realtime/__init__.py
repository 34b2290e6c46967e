"""The live pipeline, one module per stage:

capture -> detect -> track (ids) -> landmarks (face mesh, blendshapes) -> crop -> classify ->
action_units (measured AUs, per-person baseline) -> affect (mappings) -> temporal (smoothing,
label hysteresis, One-Euro filters) -> draw -> record / csvlog.

pipeline.py wires detect to temporal (no window: the API, the batch and the benchmarks use it);
app.py puts the window, drawing, recording and logging around it; batch.py runs many inputs.
Stages pass the plain records in faces.py.
"""
