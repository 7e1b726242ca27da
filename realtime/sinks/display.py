"""The pygame preview on the main thread: compare modes, HUD, keys. It only ever shows the newest frame."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Sequence

import cv2
import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

from realtime.errors import VqeError  # noqa: E402

log = logging.getLogger(__name__)

COMPARE_MODES = ("enhanced", "side", "wipe")
KEY_HELP = (
    ("1-9", "toggle stage 1-9"),
    ("c", "compare mode: enhanced / side by side / wipe"),
    ("drag", "move the wipe divider"),
    ("h", "toggle the HUD"),
    ("r", "start / stop recording"),
    ("s", "save a PNG snapshot"),
    ("w", "white balance: pick a white point (click), w again: automatic"),
    ("r-click", "automatic white balance"),
    ("f", "fullscreen"),
    ("?", "this help"),
    ("q, Esc", "quit"),
)


class DisplayError(VqeError, RuntimeError):
    """No window can be opened here."""

    exit_code = 2


@dataclass(frozen=True)
class Action:
    """What a key or window event asks the session to do."""

    kind: str  # quit, toggle_stage, record, snapshot, white_point ((x, y) input-frame pixels, or None: automatic)
    value: Any = None


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int, int, int]:
    """Largest rectangle of ``size``'s aspect inside ``box``, centred: (x, y, w, h)."""
    w, h = size
    bw, bh = box
    scale = min(bw / w, bh / h)
    fw, fh = max(1, int(w * scale)), max(1, int(h * scale))
    return (bw - fw) // 2, (bh - fh) // 2, fw, fh


class Display:
    """A resizable window (captioned ``title``) showing the enhanced video, optionally against the original.

    The window starts fitted to ``frame_size`` (width, height; within the desktop); keys 1-9 toggle
    ``stage_names`` in order.
    """

    def __init__(self, stage_names: Sequence[str], frame_size: tuple[int, int], title: str = "vqe") -> None:
        try:
            pygame.display.init()
            pygame.font.init()
            desktop = pygame.display.get_desktop_sizes()[0] if pygame.display.get_desktop_sizes() else (1920, 1080)
            _, _, w, h = fit(frame_size, (int(desktop[0] * 0.9), int(desktop[1] * 0.9)))
            w, h = min(w, frame_size[0]), min(h, frame_size[1])
            self.window = pygame.display.set_mode((w, h), pygame.RESIZABLE)
        except pygame.error as exc:
            raise DisplayError(f"cannot open a window ({exc}): use --no-display, or run where a display is "
                               f"available") from None
        pygame.display.set_caption(title)
        self.stage_names = list(stage_names)
        self.frame_size = tuple(frame_size)
        #: Waiting for the click that sets the white point (key ``w``).
        self.picking = False
        #: The white point last asked for, ``None``: automatic white balance.
        self.white_point: tuple[int, int] | None = None
        self._picture_size: tuple[int, int] | None = None  # (w, h) of the composed picture last drawn
        self.mode = "enhanced"
        self.hud = True
        self.help = False
        self.fullscreen = False
        self.divider = 0.5
        self._dragging = False
        self._video_rect = (0, 0, w, h)
        self._font = pygame.font.Font(None, 20)
        self._composite: np.ndarray | None = None
        self._scaled: np.ndarray | None = None

    # --- events ---------------------------------------------------------------------------

    def poll(self) -> list[Action]:
        """Handle window events; return what the session must act on."""
        actions: list[Action] = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                actions.append(Action("quit"))
            elif event.type == pygame.KEYDOWN:
                actions.extend(self._key(event))
            elif event.type == pygame.VIDEORESIZE and not self.fullscreen:
                self.window = pygame.display.set_mode((max(event.w, 64), max(event.h, 48)), pygame.RESIZABLE)
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.picking:
                actions.extend(self._pick(event.pos))
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 3:
                actions.extend(self._automatic_white())
            elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and self.mode == "wipe":
                self._dragging = True
                self._move_divider(event.pos[0])
            elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
                self._dragging = False
            elif event.type == pygame.MOUSEMOTION and self._dragging:
                self._move_divider(event.pos[0])
        return actions

    def _key(self, event: pygame.event.Event) -> list[Action]:
        key, text = event.key, getattr(event, "unicode", "")
        if key in (pygame.K_q, pygame.K_ESCAPE):
            return [Action("quit")]
        if text == "?" or (key == pygame.K_SLASH and event.mod & pygame.KMOD_SHIFT):
            self.help = not self.help
        elif key == pygame.K_c:
            self.mode = COMPARE_MODES[(COMPARE_MODES.index(self.mode) + 1) % len(COMPARE_MODES)]
        elif key == pygame.K_h:
            self.hud = not self.hud
        elif key == pygame.K_f:
            self.fullscreen = not self.fullscreen
            flags = pygame.FULLSCREEN if self.fullscreen else pygame.RESIZABLE
            self.window = pygame.display.set_mode((0, 0) if self.fullscreen else self.window.get_size(), flags)
        elif key == pygame.K_r:
            return [Action("record")]
        elif key == pygame.K_s:
            return [Action("snapshot")]
        elif key == pygame.K_w:
            if self.picking or self.white_point is not None:
                return self._automatic_white()
            self.picking = True
        elif pygame.K_1 <= key <= pygame.K_9 and key - pygame.K_1 < len(self.stage_names):
            return [Action("toggle_stage", self.stage_names[key - pygame.K_1])]
        return []

    def _pick(self, pos: tuple[int, int]) -> list[Action]:
        """The click that ends white-point picking: the frame pixel under it (a click off the picture waits on)."""
        point = self.frame_point(pos)
        if point is None:
            return []
        self.picking, self.white_point = False, point
        return [Action("white_point", point)]

    def _automatic_white(self) -> list[Action]:
        """Out of picking, and back to the automatic white balance where a point was set."""
        was_set = self.white_point is not None
        self.picking, self.white_point = False, None
        return [Action("white_point", None)] if was_set else []

    def frame_point(self, pos: tuple[int, int]) -> tuple[int, int] | None:
        """The input-frame pixel ``(x, y)`` shown at window position ``pos``; ``None`` off the picture.

        Undoes the fit into the window, then the compare layout (side by side shows the frame twice:
        either half gives the same pixel), then a resizing stage (the picture has the chain's output
        size, the point is in pixels of the input).
        """
        if self._picture_size is None:
            return None
        x, y, w, h = self._video_rect
        if not (x <= pos[0] < x + w and y <= pos[1] < y + h):
            return None
        pw, ph = self._picture_size
        fw = pw // 2 if self.mode == "side" else pw  # the frame's width in the picture
        u = (pos[0] - x) * pw / w % fw
        v = (pos[1] - y) * ph / h
        in_w, in_h = self.frame_size
        return min(int(u * in_w / fw), in_w - 1), min(int(v * in_h / ph), in_h - 1)

    def _move_divider(self, x: int) -> None:
        vx, _, vw, _ = self._video_rect
        self.divider = float(np.clip((x - vx) / max(vw, 1), 0.0, 1.0))

    # --- drawing --------------------------------------------------------------------------

    def _compose(self, original: np.ndarray, enhanced: np.ndarray) -> np.ndarray:
        """The picture to show, in video pixels (BGR)."""
        if self.mode == "enhanced":
            return enhanced
        h, w = enhanced.shape[:2]
        if original.shape != enhanced.shape:  # a resizing stage: compare at the output size
            original = cv2.resize(original, (w, h), interpolation=cv2.INTER_LINEAR)
        shape = (h, 2 * w, 3) if self.mode == "side" else (h, w, 3)
        if self._composite is None or self._composite.shape != shape:
            self._composite = np.empty(shape, np.uint8)
        comp = self._composite
        if self.mode == "side":
            comp[:, :w] = original
            comp[:, w:] = enhanced
        else:
            x = int(round(self.divider * w))
            comp[:, :x] = original[:, :x]
            comp[:, x:] = enhanced[:, x:]
        return comp

    def fitted(self, size: tuple[int, int]) -> tuple[int, int]:
        """The ``(width, height)`` a picture of ``size`` is shown at in the window now."""
        return fit(size, self.window.get_size())[2:]

    def draw(self, original: np.ndarray | None, enhanced: np.ndarray, hud_lines: Sequence[str] = ()) -> None:
        """Show one frame (BGR arrays) with the current compare mode, HUD and help (``original``: only read
        by the compare views)."""
        picture = self._compose(original, enhanced)
        ph, pw = picture.shape[:2]
        self._picture_size = (pw, ph)
        win_w, win_h = self.window.get_size()
        x, y, w, h = self._video_rect = fit((pw, ph), (win_w, win_h))
        if (w, h) != (pw, ph):
            if self._scaled is None or self._scaled.shape[:2] != (h, w):
                self._scaled = np.empty((h, w, 3), np.uint8)
            cv2.resize(picture, (w, h), dst=self._scaled, interpolation=cv2.INTER_AREA if w < pw else cv2.INTER_LINEAR)
            picture = self._scaled
        self.window.fill((0, 0, 0))
        self.window.blit(pygame.image.frombuffer(np.ascontiguousarray(picture), (w, h), "BGR"), (x, y))
        if self.mode != "enhanced":
            if self.mode == "wipe":
                dx = x + int(round(self.divider * w))
                pygame.draw.line(self.window, (255, 255, 255), (dx, y), (dx, y + h - 1), 2)
            self._panel(["original"], (x + 8, y + h - 26))
            self._panel(["enhanced"], (x + w - 90 if self.mode == "wipe" else x + w // 2 + 8, y + h - 26))
        if self.hud and hud_lines:
            self._panel(hud_lines, (8, 8))
        if self.picking:
            self._panel(["white balance: click a white or gray point  (w: automatic)"], (x + 8, y + h - 52))
        if self.help:
            self._panel(["keys:"] + [f"{k:>7}  {v}" for k, v in KEY_HELP], (win_w // 2 - 170, 40))
        pygame.display.flip()

    def _panel(self, lines: Sequence[str], pos: tuple[int, int]) -> None:
        rendered = [self._font.render(line, True, (255, 255, 255)) for line in lines]
        width = max(r.get_width() for r in rendered) + 12
        height = sum(r.get_height() + 2 for r in rendered) + 8
        box = pygame.Surface((width, height), pygame.SRCALPHA)
        box.fill((0, 0, 0, 160))
        self.window.blit(box, pos)
        y = pos[1] + 4
        for r in rendered:
            self.window.blit(r, (pos[0] + 6, y))
            y += r.get_height() + 2

    def close(self) -> None:
        pygame.display.quit()
