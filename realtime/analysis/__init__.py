"""The per-frame analysis, one module per stage, with no window and no files:

capture -> detect -> track (ids) -> landmarks (face mesh, blendshapes) -> crop -> classify ->
action_units (measured AUs, per-person baseline) -> affect (AUs, valence/arousal; calibration, events)
-> temporal (smoothing, label hysteresis, One-Euro filters). head.py reads head pose and gaze off the mesh.

For a live source, worker.py runs the Pipeline in a second process on the newest frame and follow.py
moves its boxes across the frames shown in between.

pipeline.py wires detect to temporal for the app, the API, the batch and the benchmarks; stages pass
the plain records in faces.py, and rows.py flattens them into the columns of the CSV and the API.
Nothing here imports realtime.window or realtime.outputs.
"""
