"""The live pipeline, one module per stage:

capture -> detect -> track (ids) -> landmarks (face mesh, blendshapes) -> crop -> classify ->
action_units (measured AUs, per-person baseline) -> affect (mappings) -> temporal (smoothing,
label hysteresis, One-Euro filters) -> draw -> record / csvlog, wired together by app.py.
Stages pass the plain records in faces.py.
"""
