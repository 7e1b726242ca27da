"""Secrets in URLs (camera passwords, tokens, stream keys) masked before any text leaves the process.

IP cameras carry their password in the URL (``rtsp://admin:secret@cam/live``), signed HTTP links a token in the query,
and RTMP ingest URLs the stream key in the last path segment.  Every URL the user gives shows up in errors, logs, the
preview window and ``--stats``; :func:`redact` masks the secret parts of every URL found in a text, and
:class:`RedactingFilter` does the same for every log record, third-party ones included.
"""
from __future__ import annotations

import logging
import re
from typing import Iterable

#: What a masked secret reads as.
MASK = "***"

#: ``scheme://`` and everything up to whitespace or a quote: URLs inside error messages
#: (PyAV quotes them: ``Connection refused: 'rtsp://...'``) and log lines, not only bare ones.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")

#: Punctuation that ends a sentence or closes a bracket around a URL rather than belonging to it.
_TRAILING = ".,;:!?)]}"

#: ``key=value`` pairs of a query or fragment (``#access_token=`` in OAuth redirects); a value may
#: start with '#' (SRT's ``streamid=#!::r=live/KEY``), elsewhere '#' starts the fragment.
_PARAM = re.compile(r"(?<=[?&;#])([^=&;#?]+)=(#?[^&;#]*)")

#: Query keys whose value is a secret, compared lowercase without ``-``/``_``/``.``: exact names ...
_SECRET_KEYS = frozenset({"sig", "pwd", "pw", "code", "streamid", "sid", "jwt"})
#: ... parts of names (``access_token``, ``X-Amz-Signature``, ``client_secret``, ``passphrase``) ...
_SECRET_PARTS = ("token", "secret", "pass", "signature", "credential", "auth", "session")
#: ... and name endings (``key``, ``api_key``, ``streamkey``, ``AccessKey``).
_SECRET_SUFFIX = "key"

#: RTMP flavours: the last path segment is the stream key (``rtmp://host/app/KEY``).
_RTMP_SCHEMES = frozenset({"rtmp", "rtmps", "rtmpt", "rtmpts", "rtmpe", "rtmpte"})


def redact(text: str) -> str:
    """``text`` with the secrets of every URL in it masked as ``***``.

    Masks the password of ``user:password@`` (the user name stays: it tells which account), the
    values of query (and fragment) parameters whose names mean a secret (``token``, ``key``,
    ``password``, ``sig``, ``secret``, ``auth``, ``access_token``, ``api_key``, ``streamkey``, ...),
    and the last path segment of ``rtmp(s)://host/app/KEY`` (the stream key).

    Parameters
    ----------
    text : str
        Any text: a bare URL, an error message or a log line that quotes one.

    Returns
    -------
    str
        The same text with the secrets masked; unchanged when it holds none.
        Idempotent: ``redact(redact(t)) == redact(t)``.

    Examples
    --------
    >>> redact("stream rtsp://admin:hunter2@10.0.0.5/live cannot be opened")
    'stream rtsp://admin:***@10.0.0.5/live cannot be opened'
    >>> redact("https://cdn.example/a.m3u8?token=abc&x=1")
    'https://cdn.example/a.m3u8?token=***&x=1'
    """
    if "://" not in text:  # the common case (every log line): no URL, no work
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group(0)
    body = url.rstrip(_TRAILING)
    return redact_url(body) + url[len(body):]


def redact_url(url: str) -> str:
    """One whole URL, ``scheme://[user[:password]@]host[/path][?query][#fragment]``, with its password,
    secret parameter values and RTMP stream key masked (:func:`redact` finds the URLs in a text)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, rest = _split_userinfo(rest)
    split = _find_first(rest, "/?#")
    host, tail = rest[:split], rest[split:]
    split = _find_first(tail, "?#")
    path, params = tail[:split], tail[split:]
    if scheme.lower() in _RTMP_SCHEMES:
        path = _mask_stream_key(path)
    # redact() again on the path and the values: a URL nested in another (a proxy's ?url=rtsp://...).
    return f"{scheme}://{userinfo}{host}{redact(path)}{_PARAM.sub(_mask_param, params)}"


def _find_first(text: str, chars: str) -> int:
    """Index of the first of ``chars`` in ``text``, or its length."""
    return min((i for i in map(text.find, chars) if i >= 0), default=len(text))


#: ``user:password@`` with a raw '/', '?' or '#' in the password (not a ``host:port/`` prefix).
_RAW_USERINFO = re.compile(r"[^:@/?#]*:(?!\d*(?:[/?#]|$))[^@]*@")


def _split_userinfo(rest: str) -> tuple[str, str]:
    """``(user info with its '@', password masked; what follows)`` of a URL after ``scheme://``."""
    # As FFmpeg splits it (av_url_split): the authority ends at the first '/', '?' or '#', and its
    # last '@' ends the user info, so a password typed with a raw '@' is still all masked.
    at = rest.rfind("@", 0, _find_first(rest, "/?#"))
    if at < 0:
        # A password with a raw '/', '?' or '#': FFmpeg cannot open it, and quotes it in its error.
        raw = _RAW_USERINFO.match(rest)
        at = raw.end() - 1 if raw else -1
    if at < 0:
        return "", rest
    user, colon, password = rest[:at].partition(":")
    return (f"{user}:{MASK}" if colon and password else rest[:at]) + "@", rest[at + 1:]


def _mask_stream_key(path: str) -> str:
    # '/app/KEY': the key is the last segment; a lone '/app' names the application only.
    segments = path.split("/")
    return path if len([s for s in segments if s]) < 2 or not segments[-1] else "/".join(segments[:-1] + [MASK])


def _mask_param(match: re.Match[str]) -> str:
    key, value = match.group(1), match.group(2)
    return f"{key}={MASK}" if value and is_secret_key(key) else f"{key}={redact(value)}"


def is_secret_key(key: str) -> bool:
    """Whether a URL parameter named ``key`` carries a secret (``access_token``, ``X-Amz-Signature``, ...)."""
    name = re.sub(r"[-_.\s]|%2[dD]|%5[fF]", "", key).lower()
    return name in _SECRET_KEYS or name.endswith(_SECRET_SUFFIX) or any(part in name for part in _SECRET_PARTS)


class RedactingFilter(logging.Filter):
    """A logging filter that masks URL secrets in a record's message and exception text.

    It formats the message once (``record.getMessage()``), masks it and stores the result as ``record.msg`` with no
    ``args``, so handlers and formatters downstream only ever see the masked text.  It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call: the handler reports it, as it would without this filter
            return True
        record.msg, record.args = redact(message), None
        # Formatters cache the traceback text in exc_text and reuse it: filling it here, masked,
        # keeps a PyAV error quoting the URL out of the traceback too.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


#: Loggers whose records (or handlers) may carry a user's URL: vqe's own and PyAV's FFmpeg log.
VQE_LOGGERS = ("vqe", "realtime", "kernels", "libav")


def install_redaction(loggers: Iterable[str] = VQE_LOGGERS) -> RedactingFilter:
    """Mask URL secrets in everything logged: one :class:`RedactingFilter` (returned) on every relevant handler.

    Handler filters see every record the handler emits, whichever logger it came from, so the root logger's handlers
    cover third-party loggers that propagate to root.  The filter also goes on the ``loggers`` named and their own
    handlers (records they log directly, handlers that do not propagate).  Call it after logging is configured: handlers
    added later are not covered.  Installing twice adds nothing.
    """
    redacting = RedactingFilter()
    for name in ("", *loggers):
        logger = logging.getLogger(name)
        for target in (logger, *logger.handlers):
            if not any(isinstance(f, RedactingFilter) for f in target.filters):
                target.addFilter(redacting)
    return redacting
