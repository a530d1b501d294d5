"""What professional stems measure: the MUSDB18 averages of FxNorm-automix, bundled with the package.

``mixdown/assets/musdb18_features/fxnorm_musdb18_features.npz`` (MIT, Sony 2022; see its LICENSE.md) holds, per
stem family (vocals, drums, bass, other): ``eq__<family>`` the mean magnitude spectrum on an N = 65536 grid at
44.1 kHz, ``loudness__<family>`` the mean loudness, ``compression__<family>`` the onset-peak statistic's mean and
spread, ``panning__<family>`` the mean panning spectrum. The rules mixer aims tracks at them; mastering builds
its neutral curve from them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np

from mixdown.analysis.spectral import integrate_bands

__all__ = ["FAMILIES", "family_band_power", "feature"]

FAMILIES = ("vocals", "drums", "bass", "other")
_FEATURES = "assets/musdb18_features/fxnorm_musdb18_features.npz"
_EQ_RATE, _EQ_N_FFT = 44100.0, 65536  # the grid of the eq__* spectra


@cache
def _features() -> dict[str, np.ndarray]:
    with resources.files("mixdown").joinpath(_FEATURES).open("rb") as f:
        data = np.load(f)
        return {name: data[name].astype(np.float64) for name in data.files}


def feature(name: str) -> np.ndarray:
    """One array of the bundled file, e.g. ``feature("loudness__bass")`` (a copy: callers may change it)."""
    return _features()[name].copy()


def family_band_power(family: str, centres_hz: np.ndarray, bands_per_octave: int = 3) -> np.ndarray:
    """Power of a family's average spectrum in fractional-octave bands ``(bands,)`` (edges half a band either
    side of each centre, bins spread evenly over their width, as :func:`average_spectrum` integrates a track);
    0 above 22.05 kHz. Only the shape means something: the features are not calibrated to full scale."""
    centres = np.asarray(centres_hz, np.float64)
    half = 2.0 ** (0.5 / bands_per_octave)
    nyquist = _EQ_RATE / 2.0
    power = integrate_bands(feature(f"eq__{family}")[None] ** 2, _EQ_RATE / _EQ_N_FFT,
                            np.minimum(centres / half, nyquist), np.minimum(centres * half, nyquist))[0]
    return power
