"""Audio passthrough: the input's audio packets copied unchanged, in sync with the video."""
from __future__ import annotations

import logging
from pathlib import Path

import av

log = logging.getLogger(__name__)


class AudioPassthrough:
    """Remuxes the first audio stream of ``input_path`` into an output container.

    Packets are copied bit for bit (no re-encode).  Timestamps move by the same
    offset as the video's, so the two stay in sync; :meth:`mux_until` keeps the
    muxer's interleaving queue short.

    Parameters
    ----------
    input_path : path
        File whose audio is kept.
    output : av.container.OutputContainer
        Container being written (before its header is written).
    shift_s : float
        Seconds subtracted from every audio timestamp (the output's time origin).
    """

    def __init__(self, input_path: str | Path, output: av.container.OutputContainer, shift_s: float) -> None:
        self._input = av.open(str(input_path), metadata_errors="ignore")
        source = self._input.streams.audio[0]
        self.stream = output.add_stream_from_template(source)
        self._output = output
        self._source = source
        self._shift = round(shift_s / source.time_base) if source.time_base else 0
        self._packets = self._input.demux(source)
        self._pending: av.Packet | None = None
        self.packets = 0

    def _next(self) -> av.Packet | None:
        if self._pending is None:
            for packet in self._packets:
                if packet.pts is not None and packet.size:
                    self._pending = packet
                    break
        return self._pending

    def mux_until(self, t_s: float | None) -> None:
        """Mux every audio packet that starts before ``t_s`` seconds (all when ``None``)."""
        while (packet := self._next()) is not None:
            if t_s is not None and (packet.pts - self._shift) * packet.time_base >= t_s:
                return
            packet.pts -= self._shift
            if packet.dts is not None:
                packet.dts -= self._shift
            packet.stream = self.stream
            self._output.mux(packet)
            self.packets += 1
            self._pending = None

    def close(self) -> None:
        self._input.close()
