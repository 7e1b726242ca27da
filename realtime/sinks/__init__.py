"""Where enhanced frames go: the preview window, recordings, network streams, a virtual camera."""
