"""A fake cloak engine for tests: deterministic, no torch, no model weights, milliseconds per image.

Platforms test their upload code against it; stylecloak's own adapter tests do too, and keep a small
set marked ``engine`` that runs the real engine through each adapter.

    >>> from stylecloak.testing import FakeClient
    >>> client = FakeClient()
    >>> result = client.cloak(upload_bytes, artist_id="ada")     # doctest: +SKIP
    >>> client.fake.calls[-1].artist_id                          # doctest: +SKIP
    'ada'

What it keeps from the real engine: the same input checks and typed errors (the real decoder, with
the settings' size limits), options resolved by the same presets (an unknown option is a
``ConfigurationError``), the same output format and metadata, a marker sealed under the settings'
key (a second upload of the output is ``AlreadyCloakedError``), the rights signals, progress
callbacks, and a :class:`~stylecloak.result.CloakReport`. What it does not do: protect anything. Its
pixels move by at most 2/255 in a pattern drawn from the input's hash, and its report says so
(``extractor="fake"``, every shift 0).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from stylecloak import encoding, images, marker
from stylecloak._version import __version__
from stylecloak.client import Client
from stylecloak.engine import presets
from stylecloak.errors import AlreadyCloakedError, StylecloakError
from stylecloak.images import DecodedImage, ImageInput
from stylecloak.result import CloakReport, CloakResult, ProgressCallback
from stylecloak.settings import Settings, get_settings

__all__ = ["FakeCall", "FakeClient", "FakeCloaker"]

#: The fake's pixel change, in [0, 1] units: visible to a test, invisible to a person.
FAKE_AMPLITUDE = 2 / 255
#: The style every fake cloak reports unless the call names one.
FAKE_STYLE = "fake"


@dataclass(frozen=True, slots=True)
class FakeCall:
    """One call the fake received: the options as the engine saw them (after the client)."""

    artist_id: str | None
    intensity: str | None
    quality: str | None
    target_style: str | None
    force: bool
    rights: Any
    overrides: dict[str, Any]


@dataclass
class FakeCloaker:
    """Engine-shaped (``cloak`` and ``settings`` like :class:`~stylecloak.engine.cloaker.Cloaker`).

    ``fail_with``: raise this on every cloak (an exception instance, or a callable that returns one
    for the call), to test how code handles a failing backend. ``delay_s``: sleep this long in each
    cloak, and ``seconds_per_step`` more for each optimisation step (so ``steps`` sets the time, as in
    the engine), to test timeouts, progress, cancellation and concurrency limits.
    """

    settings: Settings = field(default_factory=get_settings)
    fail_with: BaseException | Callable[[FakeCall], BaseException | None] | None = None
    delay_s: float = 0.0
    seconds_per_step: float = 0.0
    calls: list[FakeCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cloak(
        self,
        image: ImageInput,
        *,
        artist_id: str | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        target_style: str | None = None,
        progress: ProgressCallback | None = None,
        force: bool = False,
        rights: Any = None,
        **overrides: Any,
    ) -> CloakResult:
        started = time.perf_counter()
        call = FakeCall(artist_id, intensity, quality, target_style, force, rights, dict(overrides))
        with self._lock:
            self.calls.append(call)
        params = self._params(intensity, quality, overrides)
        s = self.settings
        decoded = images.decode(image, max_pixels=s.max_pixels, max_bytes=s.max_bytes, min_side=s.min_side)
        claimed = marker.from_metadata(decoded.metadata.xmp, decoded.metadata.comment)
        found = marker.verify(claimed, decoded.marker_digest, key=s)
        if found.verified and not force:
            raise AlreadyCloakedError("the image is already cloaked (a verified stylecloak marker)")
        failure = self.fail_with(call) if callable(self.fail_with) else self.fail_with
        if failure is not None:
            raise failure
        for step in range(params.steps):
            pause = self.delay_s / params.steps + self.seconds_per_step
            if pause:
                time.sleep(pause)
            if progress is not None:
                progress(step + 1, params.steps)
        style = target_style or FAKE_STYLE
        out_rgb = _nudged(decoded)
        data = _write(decoded, out_rgb, marker.Marker(__version__, params.settings_hash(), style), s)
        change = float(np.abs(out_rgb - decoded.rgb).max())
        report = CloakReport(
            version=__version__,
            extractor="fake",
            device="none",
            dtype="none",
            target_style=style,
            target_reason=_reason(target_style, artist_id),
            style_transfer="none",
            intensity=params.intensity,
            quality=params.quality,
            budget_kind=params.budget_kind,
            budget_p=params.budget_p,
            budget_value=0.0,
            linf=params.linf,
            steps=params.steps,
            seconds=round(time.perf_counter() - started, 3),
            latent_shift=0.0,
            ssim=1.0,
            psnr=_psnr(decoded.rgb, out_rgb),
            max_abs_change=change,
            size=decoded.size,
            working_size=decoded.size,
            settings_hash=params.settings_hash(),
            robustness="none",
            input_marker=found.state,
        )
        result = CloakResult(data=data, content_type=decoded.content_type, format=decoded.format, report=report)
        if rights is None:
            return result
        from stylecloak.rights.signals import signed  # the step after the engine, as in the Cloaker

        return signed(result, rights)

    def cloak_many(
        self,
        images: Sequence[ImageInput],
        *,
        artist_ids: Sequence[str | None] | None = None,
        target_styles: Sequence[str | None] | None = None,
        intensity: str | None = None,
        quality: str | None = None,
        progress: ProgressCallback | None = None,
        force: bool = False,
        rights: Any = None,
        max_batch: int = 8,
        **overrides: Any,
    ) -> list[CloakResult | StylecloakError]:
        """Each image on its own, one result or typed error per image, in order (as the engine's)."""
        count = len(images)
        artists = list(artist_ids) if artist_ids is not None else [None] * count
        styles = list(target_styles) if target_styles is not None else [None] * count
        steps = self.params(intensity=intensity, quality=quality, **overrides).steps
        results: list[CloakResult | StylecloakError] = []
        for index, image in enumerate(images):

            def step(done: int, total: int, index: int = index) -> None:
                if progress is not None:
                    progress(index * steps + done, count * steps)

            try:
                results.append(
                    self.cloak(
                        image,
                        artist_id=artists[index],
                        target_style=styles[index],
                        intensity=intensity,
                        quality=quality,
                        progress=step,
                        force=force,
                        rights=rights,
                        **overrides,
                    )
                )
            except StylecloakError as exc:
                results.append(exc)
        return results

    def params(
        self, *, intensity: str | None = None, quality: str | None = None, **overrides: Any
    ) -> presets.CloakParams:
        """The resolved numbers of a cloak, as ``Cloaker.params``."""
        return self._params(intensity, quality, overrides)

    def _params(self, intensity: str | None, quality: str | None, overrides: dict[str, Any]) -> presets.CloakParams:
        s = self.settings
        return presets.resolve(
            intensity=intensity or s.intensity,
            quality=quality or s.quality,
            budget_kind="ssim",
            working_resolution=s.working_resolution,
            seed=s.seed,
            extractor="fake",
            robustness=s.robustness,
            render_cap=s.render_cap,
            mimic_resolutions=s.mimic_resolutions,
            overrides=overrides,
        )


def _reason(target_style: str | None, artist_id: str | None) -> str:
    if target_style:
        return "explicit"
    return f"the fake engine's fixed style (artist {artist_id})" if artist_id else "the fake engine's fixed style"


def _nudged(decoded: DecodedImage) -> np.ndarray:
    # Seeded by the pixels, so the same input always gives the same bytes.
    seed = int.from_bytes(hashlib.sha256(decoded.rgb.tobytes()).digest()[:8], "big")
    noise = np.random.default_rng(seed).integers(-2, 3, decoded.rgb.shape[:2])[..., None] / 255.0
    out: np.ndarray = np.clip(decoded.rgb + noise * (FAKE_AMPLITUDE * 255 / 2), 0.0, 1.0)
    return out


def _psnr(before: np.ndarray, after: np.ndarray) -> float:
    mse = float(np.mean((after - before) ** 2))
    return round(10 * float(np.log10(1 / mse)), 2) if mse > 0 else 100.0  # identical: capped, JSON has no inf


def _write(decoded: DecodedImage, rgb: np.ndarray, mark: marker.Marker, settings: Settings) -> bytes:
    """Encode and seal the marker, as the engine does."""
    quality = encoding.output_quality(decoded, settings.jpeg_quality, settings.min_jpeg_quality)

    def encode(props: dict[str, Any]) -> bytes:
        return encoding.encode(
            decoded, rgb, quality=quality, xmp_updates={marker.NAMESPACE: props}, gif_comment=mark.gif_comment()
        )

    return marker.seal(encode(mark.xmp_properties()), decoded.format, mark, key=settings, reencode=encode)


class FakeClient(Client):
    """A :class:`~stylecloak.client.Client` over a :class:`FakeCloaker`: the real client's code, the fake
    engine. ``client.fake`` is the engine, with its ``calls``; ``overrides`` are Settings fields."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        fail_with: BaseException | Callable[[FakeCall], BaseException | None] | None = None,
        delay_s: float = 0.0,
        seconds_per_step: float = 0.0,
        **overrides: Any,
    ) -> None:
        base = (settings or get_settings()).replace(backend="local", **overrides)
        self.fake = FakeCloaker(base, fail_with=fail_with, delay_s=delay_s, seconds_per_step=seconds_per_step)
        super().__init__(base, cloaker=self.fake)
