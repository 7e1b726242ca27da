"""The recorder keeps the chain's own output buffers instead of copying them, and writes every frame right."""
import numpy as np
import pytest

from realtime import Frame, Pipeline, build_settings
from realtime.sinks.recorder import Recorder

from conftest import textured_frames


class KeepingWriter:
    """Remembers each written array (the object) and a copy of what it held when written."""

    def __init__(self) -> None:
        self.frames = 0
        self.arrays: list[np.ndarray] = []
        self.pictures: list[np.ndarray] = []

    def write(self, image: np.ndarray, pts_s: float) -> None:
        self.arrays.append(image)
        self.pictures.append(image.copy())
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        pass


def _pipeline(stages: str, backend: str = "cpu") -> Pipeline:
    return Pipeline(build_settings(stages=stages, backend=backend))


def _record(stages: str, frames: list[np.ndarray], slots: int = 3, backend: str = "cpu"):
    """Record ``frames`` through a chain; the arrays the chain emitted, and copies taken as they came."""
    pipe = _pipeline(stages, backend)
    writer = KeepingWriter()
    recorder = Recorder(writer, slots=slots).start()
    emitted, at_emission = [], []
    try:
        for i, image in enumerate(frames):
            for out in pipe.push(Frame(image, i, i / 25.0, 0.0)):
                emitted.append(out.image)
                at_emission.append(out.image.copy())
                recorder.write(out)
    finally:
        recorder.close()
    return writer, emitted, at_emission


@pytest.mark.parametrize("stages", ["denoise,sharpen", "color", "stabilize"])
def test_the_recorder_writes_the_chains_own_arrays_unchanged(stages):
    # More frames than ring slots, through temporal stages: the chain makes every later frame
    # while the recorder still holds earlier ones, and must write none of them over.
    frames = textured_frames(9, 48, 64, seed=3)
    writer, emitted, at_emission = _record(stages, frames)
    assert writer.frames == len(emitted)
    for got, want in zip(writer.pictures, at_emission):
        np.testing.assert_array_equal(got, want)
    assert all(written is made for written, made in zip(writer.arrays, emitted))  # no copy


@pytest.mark.cuda
def test_on_a_gpu_the_host_copies_of_results_are_written_unchanged():
    frames = textured_frames(6, 24, 40, seed=5)
    writer, emitted, at_emission = _record("denoise,color", frames, backend="cuda")
    for got, want in zip(writer.pictures, at_emission):
        np.testing.assert_array_equal(got, want)
    assert all(written is made for written, made in zip(writer.arrays, emitted))


def test_frames_passed_through_untouched_are_written_as_given():
    frames = textured_frames(4, 32, 48)
    writer, emitted, _ = _record("", frames)
    for image, written, picture in zip(frames, writer.arrays, writer.pictures):
        assert written is image
        np.testing.assert_array_equal(picture, image)


def test_outputs_kept_by_a_caller_are_never_written_over():
    # A consumer (or a stage keeping its own output as state) holds frames as long as it likes.
    pipe = _pipeline("denoise,sharpen,contrast,color")
    kept, copies = [], []
    for i, image in enumerate(textured_frames(8, 32, 48, seed=7)):
        (out,) = pipe.push(Frame(image, i, i / 25.0, 0.0))
        kept.append(out.image)
        copies.append(out.image.copy())
    assert len({id(a) for a in kept}) == len(kept)
    for held, copy in zip(kept, copies):
        np.testing.assert_array_equal(held, copy)


def test_a_stage_reuses_an_output_buffer_once_nobody_holds_it():
    stage = _pipeline("sharpen").stages[0]
    image = textured_frames(1, 32, 48)[0]
    first = stage.apply(image)
    address = first.ctypes.data
    del first
    assert stage.apply(image).ctypes.data == address  # no new allocation per frame


@pytest.mark.parametrize("planar", [False, True], ids=["bgr", "i420"])
def test_frames_that_change_size_mid_run_are_scaled_to_the_recording(tmp_path, caplog, planar):
    """A camera or a stream that comes back at another size: the recording goes on at its own size,
    every frame whole (a smaller frame must not be read past its end), and the log says so once."""
    from fractions import Fraction

    from kernels.colorspace import YuvFormat
    from kernels.planes import i420_shape
    from realtime.sinks.recording import Recordings
    from realtime.sinks.writers import OutputOptions
    from realtime.sources.files import SourceInfo
    from realtime.sources.y4m import Y4mReader

    fmt = YuvFormat("bt601", False)
    info = SourceInfo("cam", 64, 48, Fraction(30), None, fmt)

    def frame(i, h, w, level):
        shape = i420_shape(h, w) if planar else (h, w, 3)
        return Frame(np.full(shape, level, np.uint8), i, i / 30, 0.0)

    out = tmp_path / "rec.y4m"
    recordings = Recordings([out], OutputOptions(), live=True)
    recordings.start(info, (64, 48), i420_shape(48, 64) if planar else (48, 64, 3))
    sizes = [(48, 64)] * 3 + [(36, 48)] * 3 + [(60, 80)] * 3
    with caplog.at_level("WARNING", logger="realtime.sinks.recording"):
        for i, (h, w) in enumerate(sizes):
            recordings.write(frame(i, h, w, 40 + 20 * i))
    recordings.stop(complete=True)
    warnings = [r.getMessage() for r in caplog.records if "changed size" in r.getMessage()]
    assert warnings == ["the frames changed size to 48x36 mid-run: the recording goes on at 64x48, scaled",
                        "the frames changed size to 80x60 mid-run: the recording goes on at 64x48, scaled"]
    reader, lumas = Y4mReader(out), []
    try:
        while (planes := reader.read_planes()) is not None:
            lumas.append(planes[0].copy())
    finally:
        reader.close()
    assert len(lumas) == len(sizes) and all(y.shape == (48, 64) for y in lumas)
    # Each frame is flat, so scaled it stays flat: no samples from past a smaller frame's end.
    assert all(np.ptp(y) <= 1 for y in lumas)
