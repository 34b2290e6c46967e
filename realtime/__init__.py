"""The live pipeline, one module per stage:

capture -> detect -> crop -> classify -> track (ids + smoothing) -> affect (mappings) -> draw
-> record / csvlog, wired together by app.py. Stages pass the plain records in faces.py.
"""
