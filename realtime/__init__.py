"""The live pipeline, one module per stage:

capture -> detect -> crop -> classify -> track (ids) -> affect (mappings) -> temporal (smoothing,
label hysteresis, One-Euro filters) -> draw
-> record / csvlog, wired together by app.py. Stages pass the plain records in faces.py.
"""
