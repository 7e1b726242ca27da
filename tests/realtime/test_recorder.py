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


def _record(stages: str, frames: list[np.ndarray], exchange: bool, slots: int = 3, backend: str = "cpu"):
    pipe = _pipeline(stages, backend)
    writer = KeepingWriter()
    recorder = Recorder(writer, frames[0].shape, slots=slots).start()
    emitted = []
    try:
        for i, image in enumerate(frames):
            for out in pipe.push(Frame(image, i, i / 25.0, 0.0)):
                emitted.append(out.image)
                recorder.write(out, exchange=pipe.exchange_output if exchange else None)
                # The caller may still read the image after handing it over.
                assert out.image is emitted[-1]
    finally:
        recorder.close()
    return writer, emitted


@pytest.mark.parametrize("stages", ["denoise,sharpen", "color"])
def test_exchanged_outputs_are_written_without_copies_and_equal_copied_ones(stages):
    # More frames than ring slots, through a temporal stage: every buffer is exchanged
    # several times, and the denoiser's history must not notice.
    frames = textured_frames(9, 48, 64, seed=3)
    copied, copied_emitted = _record(stages, frames, exchange=False)
    taken, emitted = _record(stages, frames, exchange=True)
    assert taken.frames == copied.frames == len(frames)
    for got, want in zip(taken.pictures, copied.pictures):
        np.testing.assert_array_equal(got, want)
    # The recorder wrote the very arrays the chain produced (no copy) ...
    assert all(written is made for written, made in zip(taken.arrays, emitted))
    # ... and the copying recorder never did.
    assert not any(written is made for written, made in zip(copied.arrays, copied_emitted))


@pytest.mark.cuda
def test_on_a_gpu_the_host_copy_of_the_result_is_taken_without_copying():
    frames = textured_frames(6, 24, 40, seed=5)
    copied, _ = _record("denoise,color", frames, exchange=False, backend="cuda")
    taken, emitted = _record("denoise,color", frames, exchange=True, backend="cuda")
    for got, want in zip(taken.pictures, copied.pictures):
        np.testing.assert_array_equal(got, want)
    assert all(written is made for written, made in zip(taken.arrays, emitted))


def test_frames_passed_through_untouched_are_copied_not_taken():
    frames = textured_frames(4, 32, 48)
    writer, emitted = _record("", frames, exchange=True)
    for image, written, picture in zip(frames, writer.arrays, writer.pictures):
        assert written is not image
        np.testing.assert_array_equal(picture, image)
    assert all(made is image for made, image in zip(emitted, frames))


def test_a_stage_exchanges_only_its_output_buffers_for_a_like_array():
    stage = _pipeline("sharpen").stages[0]
    image = textured_frames(1, 32, 48)[0]
    out = stage.apply(image)
    assert not stage.exchange_output(image, np.empty_like(image))            # its input, not its output
    assert not stage.exchange_output(out, np.empty((16, 48, 3), np.uint8))    # wrong shape
    assert not stage.exchange_output(out, np.empty(out.shape, np.float32))    # wrong dtype
    work = stage.buffer("work", (3, 32, 48), "float32")
    assert not stage.exchange_output(work, np.empty_like(work))              # scratch, not an output
    spare = np.empty_like(out)
    assert stage.exchange_output(out, spare)
    assert stage.apply(image) is spare


def test_what_the_one_to_one_stages_return_is_exchangeable():
    # A returned buffer that is not among the stage's output keys would merely be copied (safe
    # but slow): these stages' outputs must be taken without a copy.
    image = textured_frames(1, 64, 96)[0]
    for name in ("denoise", "sharpen", "contrast", "color"):
        stage = _pipeline(name).stages[0]
        out = stage.apply(image)
        assert out is not image
        assert stage.exchange_output(out, np.empty_like(out)), name
