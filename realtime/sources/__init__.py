"""Where frames come from: files, cameras, network streams, microphones; one small protocol."""
