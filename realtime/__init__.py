"""Live facial-expression analysis in three rooms:

- analysis/  the per-frame stages and the Pipeline (no window, no files): what the API, the batch
             and the benchmarks use;
- window/    the live window: the frame loop, keys, layout, drawing, dashboard;
- outputs/   the CSV log, the recording and the session report.

At this level only what ties them together: cli.py (the shared analysis flags), batch.py (many
inputs, in parallel or on a cluster), quiet.py (library log levels), style.py (shared colours).
"""
