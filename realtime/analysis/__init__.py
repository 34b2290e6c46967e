"""The per-frame analysis, one module per stage, with no window and no files:

capture -> detect -> track (ids) -> landmarks (face mesh, blendshapes) -> crop -> classify ->
action_units (measured AUs, per-person baseline) -> affect (AUs, valence/arousal; calibration, events)
-> temporal (smoothing, label hysteresis, One-Euro filters). head.py reads head pose and gaze off the mesh.

find.py holds the MediaPipe half (detect, track, landmarks; the detector rate), pipeline.py the rest and
the whole: it wires detect to temporal for the app, the API, the batch and the benchmarks; stages pass
the plain records in faces.py, and rows.py flattens them into the columns of the CSV and the API.

Two cores: for a live source, worker.py runs the Pipeline in a second process on the newest frame and
follow.py moves its boxes across the frames shown in between; for a file analysed frame by frame,
split.py runs find.py's half in a second process while the classifier reads the frame before.
Nothing here imports realtime.window or realtime.outputs.
"""
