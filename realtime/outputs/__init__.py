"""What a run leaves on disk: the per-frame CSV log (csvlog.py), the annotated recording (record.py)
and the session report (report.py)."""
