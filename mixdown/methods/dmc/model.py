"""The DMC controller: listens to any number of tracks (and optionally a reference mix) and predicts every
console parameter of :data:`mixdown.methods.dmc.space.SPACE`, normalised to ``[0, 1]``.

Per track, a small CNN encodes the log-mel spectrogram of mid and side (so it hears stereo width) into one
token, plus an embedding of the track's role. A Transformer encoder without positional encoding mixes the track
tokens, a learned return token and, when given, a reference-mix token encoded by the same CNN (with a type
embedding): every output depends on all tracks, and permuting the tracks permutes the outputs (permutation
equivariance), so any number and order of tracks works. Padding tracks are masked out of attention.

References: C. J. Steinmetz et al., "Automatic multitrack mixing with a differentiable mixing console of neural
audio effects", ICASSP 2021 (DMC); S. S. Vanka et al., "Diff-MST: Differentiable mixing style transfer",
ISMIR 2024 (the Transformer over track and reference tokens). Implemented here from the papers' descriptions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mixdown.analysis.roles import ROLE_NAMES
from mixdown.errors import ParameterError
from mixdown.methods.dmc.space import SPACE

__all__ = ["DmcConfig", "DmcModel", "mel_filterbank"]


@dataclass(frozen=True)
class DmcConfig:
    """Sizes of the model (saved with its weights).

    Attributes:
        sample_rate: Hz the model listens at.
        n_fft, hop, mels: the spectrogram (Hann window).
        channels: CNN channels per block (each block halves time and frequency).
        width: token size. heads, layers, feedforward: the Transformer encoder.
    """

    sample_rate: int = 44100
    n_fft: int = 2048
    hop: int = 512
    mels: int = 64
    channels: tuple[int, ...] = (32, 64, 64, 128)
    width: int = 128
    heads: int = 4
    layers: int = 3
    feedforward: int = 256

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> DmcConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def mel_filterbank(n_fft: int, mels: int, sample_rate: float, low_hz: float = 20.0,
                   high_hz: float | None = None) -> torch.Tensor:
    """Triangular filters on the mel scale (Slaney's HTK-style formula ``2595 log10(1 + f / 700)``), each
    normalised to unit sum: ``(n_fft // 2 + 1, mels)``, so a flat power spectrum reads the same in every band."""
    high_hz = sample_rate / 2 if high_hz is None else high_hz
    to_mel = lambda f: 2595.0 * math.log10(1.0 + f / 700.0)
    edges_mel = torch.linspace(to_mel(low_hz), to_mel(high_hz), mels + 2, dtype=torch.float64)
    edges = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    freqs = torch.linspace(0.0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs[:, None] - lower) / (centre - lower)
    falling = (upper - freqs[:, None]) / (upper - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return (weights / weights.sum(0).clamp_min(1e-12)).float()


class _Encoder(nn.Module):
    """``(items, 2, samples)`` stereo audio -> ``(items, width)``: log-mel of mid and side through a CNN, pooled."""

    def __init__(self, config: DmcConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)
        self.register_buffer("mel", mel_filterbank(config.n_fft, config.mels, config.sample_rate), persistent=False)
        blocks, previous = [], 2
        for channels in config.channels:
            blocks += [nn.Conv2d(previous, channels, 3, padding=1), nn.GroupNorm(1, channels), nn.GELU(),
                       nn.AvgPool2d(2, ceil_mode=True)]
            previous = channels
        self.cnn = nn.Sequential(*blocks)
        self.project = nn.Linear(2 * previous, config.width)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        items, _, samples = audio.shape
        mid_side = torch.stack([audio[:, 0] + audio[:, 1], audio[:, 0] - audio[:, 1]], 1) * 0.5
        spectrum = torch.stft(mid_side.reshape(items * 2, samples), self.config.n_fft, self.config.hop,
                              window=self.window, return_complex=True)
        power = spectrum.real.square() + spectrum.imag.square()  # (items * 2, bins, frames)
        logmel = torch.log(power.transpose(1, 2) @ self.mel + 1e-8)  # (items * 2, frames, mels)
        features = self.cnn(logmel.reshape(items, 2, *logmel.shape[1:]))  # (items, C, frames', mels')
        flat = features.flatten(2)
        return self.project(torch.cat([flat.mean(-1), flat.std(-1, unbiased=False)], -1))


class DmcModel(nn.Module):
    """Tracks (and an optional reference mix) in, normalised console parameters out.

    Args:
        config: sizes; :class:`DmcConfig` defaults give about 0.6 M parameters (2.5 MB as float32).
    """

    def __init__(self, config: DmcConfig = DmcConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = _Encoder(config)
        self.role = nn.Embedding(len(ROLE_NAMES) + 1, config.width)  # the last index: role unknown
        self.kind = nn.Embedding(3, config.width)  # 0 track, 1 return, 2 reference
        layer = nn.TransformerEncoderLayer(config.width, config.heads, config.feedforward, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.mixer = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.track_head = nn.Sequential(nn.Linear(config.width, config.width), nn.GELU(),
                                        nn.Linear(config.width, SPACE.track_size))
        self.return_head = nn.Sequential(nn.Linear(config.width, config.width), nn.GELU(),
                                         nn.Linear(config.width, len(SPACE.ret)))

    @staticmethod
    def role_index(role: str | None) -> int:
        """A role's embedding row; unknown roles share the last one."""
        return ROLE_NAMES.index(role) if role in ROLE_NAMES else len(ROLE_NAMES)

    def forward(self, stems: torch.Tensor, mask: torch.Tensor, roles: torch.Tensor,
                reference: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the console parameters.

        Args:
            stems: ``(batch, tracks, 2, samples)`` at ``config.sample_rate``, each trimmed to -20 dBFS RMS like
                the console's trim; padding tracks anything (masked).
            mask: bool ``(batch, tracks)``, True for real tracks (at least one per item).
            roles: int64 ``(batch, tracks)`` from :meth:`role_index`.
            reference: ``(batch, 2, samples')`` mixes to match, or None.
        Returns:
            ``(track_values, return_values)``: ``(batch, tracks, SPACE.track_size)`` and
            ``(batch, len(SPACE.ret))``, in ``[0, 1]`` (padding rows are predicted but meaningless).
        """
        batch, tracks = mask.shape
        if stems.shape[:2] != (batch, tracks) or stems.shape[2] != 2 or roles.shape != mask.shape:
            raise ParameterError(f"DmcModel: expected stems (batch, tracks, 2, samples), mask and roles (batch, "
                                 f"tracks), found {tuple(stems.shape)}, {tuple(mask.shape)}, {tuple(roles.shape)}")
        if not bool(mask.any(1).all()):
            raise ParameterError("DmcModel: expected at least one real track per item, found an empty mask row")
        tokens = self.encoder(stems.reshape(batch * tracks, 2, -1)).reshape(batch, tracks, -1)
        tokens = tokens + self.role(roles) + self.kind.weight[0]
        extra = [self.kind.weight[1].expand(batch, 1, -1)]
        if reference is not None:
            extra.append((self.encoder(reference) + self.kind.weight[2])[:, None])
        sequence = torch.cat([tokens, *extra], 1)
        padding = torch.cat([~mask, mask.new_zeros(batch, len(extra))], 1)
        mixed = self.mixer(sequence, src_key_padding_mask=padding)
        return torch.sigmoid(self.track_head(mixed[:, :tracks])), torch.sigmoid(self.return_head(mixed[:, tracks]))
