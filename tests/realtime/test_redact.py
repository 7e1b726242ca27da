"""Secrets in URLs (camera passwords, tokens, stream keys) never reach an error, a log, the window or --stats."""
import io
import json
import logging

import av
import pygame
import pytest
from test_live import free_port, serve

from realtime import build_settings, cli, errors
from realtime.redact import RedactingFilter, install_redaction, redact
from realtime.run.session import Session
from realtime.sources import streams
from realtime.sources.files import PacedSource, open_source

from conftest import run_vqe, textured_frames

SECRETS = ("hunter2", "s3cr3t")


def assert_no_secret(text):
    assert not any(s in text for s in SECRETS), text
    assert "***" in text, text


@pytest.fixture
def clean_logging():
    """Takes away the redacting filters a test installs (on pytest's handlers and the vqe loggers)."""
    yield
    for name in ("", "vqe", "realtime", "kernels", "libav"):
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            for f in [f for f in target.filters if isinstance(f, RedactingFilter)]:
                target.removeFilter(f)


@pytest.mark.parametrize("text, expected", [
    ("rtsp://admin:hunter2@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
    ("http://cdn.example/live.m3u8?token=s3cr3t&x=1", "http://cdn.example/live.m3u8?token=***&x=1"),
    ("https://h/a?Access_Token=s3cr3t&api-key=s3cr3t&X-Amz-Signature=ff&user=bob&pwd=s3cr3t",
     "https://h/a?Access_Token=***&api-key=***&X-Amz-Signature=***&user=bob&pwd=***"),
    ("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl", "rtmp://a.rtmp.youtube.com/live2/***"),
    ("rtmps://live-api-s.facebook.com:443/rtmp/FB-1-s3cr3t?s_bl=1",
     "rtmps://live-api-s.facebook.com:443/rtmp/***?s_bl=1"),
    ("rtsp://admin:p%40ss%2Fhunter2@cam/live", "rtsp://admin:***@cam/live"),  # '@' and '/' percent-encoded
    ("rtsp://admin:p@ss@hunter2@cam/live", "rtsp://admin:***@cam/live"),  # '@' typed raw
    ("srt://h:9000?streamid=#!::r=live/s3cr3t,m=publish&latency=200", "srt://h:9000?streamid=***&latency=200"),
    ("https://proxy/?url=rtsp://a:hunter2@cam/x&y=2", "https://proxy/?url=rtsp://a:***@cam/x&y=2"),
    # text around URLs: error messages and log lines, PyAV's quotes, brackets and a full stop
    ("[Errno 111] Connection refused: 'rtsp://admin:hunter2@127.0.0.1:9/live'",
     "[Errno 111] Connection refused: 'rtsp://admin:***@127.0.0.1:9/live'"),
    ("from rtsp://u:hunter2@a/x and (http://b/y?sig=s3cr3t).", "from rtsp://u:***@a/x and (http://b/y?sig=***)."),
])
def test_redact_masks_secrets_in_urls_and_in_text_around_them(text, expected):
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent


@pytest.mark.parametrize("text", [
    "rtsp://admin@cam:554/live?channel=1&subtype=0",
    "tcp://127.0.0.1:9000?listen=1",
    "rtmp://localhost/live",
    "https://medium.com:443/@user/post#intro",
    "udp://[::1]:1234?pkt_size=1316",
    "/videos/a:b@c.mp4 and camera 0, 100% done",
])
def test_redact_leaves_text_without_secrets_unchanged(text):
    assert redact(text) == text


def test_unopenable_stream_error_hides_the_password():
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live"
    r = run_vqe("--stream", url, "--no-display", "--stream-timeout", "1", "--reconnect", "0")
    assert r.returncode == errors.EXIT_SOURCE
    assert_no_secret(r.stderr)
    assert "rtsp://admin:***@127.0.0.1" in r.stderr and "cannot be opened" in r.stderr


class RecordingOpen:
    """Stands in for ``av.open``: keeps the URL FFmpeg was given, fails as FFmpeg would."""

    def __init__(self, error):
        self.error, self.urls = error, []

    def __call__(self, url, **kwargs):
        self.urls.append(url)
        raise self.error(url)


def real_pyav_error(url, open_=av.open):  # the real av.open, bound before a test replaces it
    try:
        open_(url, timeout=(1, 1))
    except av.FFmpegError as exc:
        return exc
    raise AssertionError(f"{url} opened")


@pytest.mark.parametrize("error", [real_pyav_error, lambda url: OSError(f"cannot open {url!r}: host down")],
                         ids=["pyav", "message-only"])
def test_stream_source_opens_the_real_url_and_shows_the_masked_one(monkeypatch, error):
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live?token=s3cr3t"
    fake = RecordingOpen(error)
    monkeypatch.setattr(streams.av, "open", fake)
    with pytest.raises(errors.SourceError) as info:
        streams.StreamSource(url, timeout_s=1, retries=0)
    assert fake.urls == [url]  # FFmpeg gets the password; nothing else does
    assert_no_secret(str(info.value))


def test_ffmpeg_error_quoting_the_url_is_redacted_by_the_cli(monkeypatch, capsys, clean_logging):
    """An FFmpeg error nobody translated (PyAV quotes the URL in it) reaches the user masked."""
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live"
    monkeypatch.setattr(streams, "StreamSource", lambda url, **kwargs: av.open(url, timeout=(1, 1)))
    code = cli.main(["--stream", url, "--no-display"])
    err = capsys.readouterr().err
    assert code == errors.EXIT_INTERNAL and "internal error" in err and "Connection refused" in err
    assert_no_secret(err)


def test_log_filter_masks_third_party_records_and_tracebacks(clean_logging):
    """Records of any logger that reach the root handlers, their arguments and tracebacks included."""
    url = f"rtsp://admin:hunter2@127.0.0.1:{free_port()}/live?token=s3cr3t"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        install_redaction()
        install_redaction()  # twice adds nothing
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        third_party = logging.getLogger("some.library")
        third_party.warning("opening %s", url)
        try:
            av.open(url, timeout=(1, 1))
        except av.FFmpegError:
            third_party.exception("open failed")
    finally:
        root.removeHandler(handler)
    text = out.getvalue()
    assert "opening rtsp://admin:***@" in text and "ConnectionRefusedError" in text
    assert_no_secret(text)


def test_window_title_and_hud_hide_the_source_secrets(make_y4m, monkeypatch):
    """A source named by a URL with a password (any Source: the window shows what ``info.path`` says)."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    source = PacedSource(open_source(make_y4m(textured_frames(50, 32, 48))))
    source.info.path = "rtsp://admin:hunter2@cam/live?token=s3cr3t"
    session = Session(source, build_settings(stages="color", backend="cpu"), live=True, display=True)
    seen = []

    def drive(display):
        real_draw = display.draw

        def draw(original, enhanced, hud):
            real_draw(original, enhanced, hud)
            seen.append((pygame.display.get_caption()[0], list(hud)))
            pygame.event.post(pygame.event.Event(pygame.QUIT))
        display.draw = draw
        return real_loop(display)

    real_loop = session._display_loop
    session._display_loop = drive
    try:
        stats = session.run()
    finally:
        source.close()  # the caller's to close, as in the CLI
    (title, hud), *_ = seen
    assert_no_secret(title)
    assert not any(s in line for line in hud for s in SECRETS) and hud
    assert_no_secret(stats.extra["source"])


@pytest.fixture(scope="module")
def lost_stream_run(ffmpeg, media, tmp_path_factory):
    """``vqe -v`` on a real stream whose URL carries a password and a token, until the stream is lost.

    The sender ends, so the run logs the loss and a failed reconnect (warnings naming the stream),
    ends with the error line, and writes --stats for the frames it got.
    """
    port = free_port()
    stats = tmp_path_factory.mktemp("redact") / "stats.json"
    server = serve(ffmpeg, media / "clean_bikes_street_272p.mp4", port, seconds=3.0)
    try:
        r = run_vqe("-v", "--stream", f"tcp://admin:hunter2@127.0.0.1:{port}/live?token=s3cr3t", "--no-display",
                    "--stats", stats, "--stages", "none", "--stream-timeout", "1", "--reconnect", "1", timeout_s=60)
    finally:
        server.kill()
        server.wait()
    assert r.returncode == errors.EXIT_SOURCE, r.stderr
    return r.stderr, stats


@pytest.mark.slow
def test_logs_at_debug_level_hide_the_stream_secrets(lost_stream_run):
    stderr, _ = lost_stream_run
    assert "reconnect attempt 1 of 1" in stderr and "lost" in stderr.splitlines()[-1]
    assert_no_secret(stderr)
    assert "tcp://admin:***@127.0.0.1" in stderr and "token=***" in stderr


@pytest.mark.slow
def test_stats_json_of_a_stream_run_hides_the_secrets(lost_stream_run):
    _, stats = lost_stream_run
    text = stats.read_text()
    assert_no_secret(text)
    data = json.loads(text)
    assert data["frames"] > 0 and data["source"].startswith("tcp://admin:***@127.0.0.1:")
