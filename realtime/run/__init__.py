"""Running a chain: the pipeline, capture and ring buffer, the session and file job, stats and progress."""
