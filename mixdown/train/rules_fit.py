"""Fit the rules mixer's balance and panning on people's mixes (issue 18, part 3): ``mixdown train rules``.

Every wet stem of a people corpus (``mixdown data people``) is a track at the level and pan its author chose. The
rules mixer places a track at a target level read by a level measure, so the fit asks two things of the
training songs: which measure makes people's levels most predictable from a track's role, and which targets
predict them best.

**The level measure.** ``level = integrated loudness + w * (hit peak - integrated loudness - C)``: BS.1770
integrated loudness, moved by a share ``w`` of how far the track's hits stand above it (``hit_peak_db`` of
:func:`mixdown.analysis.dynamics.dynamics_features`); ``C``, the median of that gap over the corpus, keeps the
level reading like a loudness. ``w`` (and the prior's strength ``n0``) are chosen by leave-one-song-out
cross-validation from a grid: 0 is plain loudness; larger values say people level sparse, spiky tracks by their
hits more than by their average power.

**The balance model** (the rules mixer's form, :func:`mixdown.methods.rules.decide.balance_targets`): a track's
level is its family's level (vocals, drums, bass, other; bass is 0 dB) plus its role's share of the family,
``o_role - 10 log10(sum of 10^(o/10) over the family's tracks in the song)``, plus a free offset per song. The
family and role offsets are fitted by robust least squares (soft L1, 1 dB scale); each role offset also has
prior pseudo-observations at the documented share (``ROLE_RULES``), worth ``n0`` tracks, so a role seen in a few
tracks stays near its prior and a role not in the corpus keeps it. The vocal family is not in a MIDI corpus (no
lead vocals): it sits against the other instruments as in MUSDB18 (0.4 dB over them), the family it shares the
lead with. The errors reported and cross-validated are those ``mixdown evaluate`` reads: each track's level in a
mix made to the prediction against the author's, after matching the two mixes' loudness (fitting in that frame
instead of with free song offsets was tried on the OpenMSX songs: 2.80 against 2.76 dB cross-validated).

**Panning.** The authors' declared pans of the roles the rules mixer spreads (``RoleRule.centred`` False): the
share they pan at all (``|pan| > 0.05``) and the median and 90th percentile of ``|pan|`` of those they pan, the
spread the rules mixer uses for its nearest and widest pairs.

Only a corpus's ``train`` split may be fitted (the held-out songs judge the result: ``mixdown evaluate``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from mixdown.analysis.dynamics import dynamics_features
from mixdown.analysis.loudness import measure_loudness
from mixdown.analysis.roles import detect_roles, family_of
from mixdown.audio import load_session
from mixdown.errors import DatasetError
from mixdown.methods.rules.tables import ROLE_RULES, family_targets
from mixdown.train.against_people import split_songs

__all__ = ["PEAK_WEIGHTS", "Observation", "fit_balance", "fit_rules", "observations"]

PEAK_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
PRIOR_TRACKS = (2, 4, 8)
_LOSS_SCALE_DB = 1.0
_PANNED = 0.05
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Observation:
    """One wet stem: a track as its author set it.

    Attributes:
        song, stem: where it comes from.
        role: the role the rules mixer detects from the dry stem (name first, then audio).
        loudness_lufs: integrated loudness of the wet stem, LUFS.
        hit_peak_db: its ``hit_peak_db``, dBFS.
        pan: the author's declared pan, -1..1.
    """

    song: str
    stem: str
    role: str
    loudness_lufs: float
    hit_peak_db: float
    pan: float

    @property
    def family(self) -> str:
        return family_of(self.role)


def observations(corpus: str | Path, split: str = "train", progress: Progress | None = None) -> list[Observation]:
    """Every audible wet stem of the split's songs (see :class:`Observation`).

    Raises:
        DatasetError: not a people corpus, or no song in the split.
    """
    root = Path(corpus)
    songs = [s["song"] for s in split_songs(root, split)]
    out = []
    for k, song in enumerate(songs):
        folder = root / song
        meta = {s["stem"]: s for s in json.loads((folder / "metadata.json").read_text())["stems"]}
        dry = load_session(folder / "dry")
        wet = load_session(folder / "wet", sample_rate=dry.sample_rate)
        roles = detect_roles(dry)
        audio = np.stack([t.audio.numpy() for t in wet.tracks])
        loudness = measure_loudness(audio, wet.sample_rate, true_peak=False)
        hits = dynamics_features(audio, wet.sample_rate)["hit_peak_db"]
        for track, report, hit in zip(wet.tracks, loudness, hits):
            if math.isfinite(report.integrated_lufs) and math.isfinite(hit) and track.name in meta:
                out.append(Observation(song, track.name, roles[track.name].role, report.integrated_lufs,
                                       float(hit), float(meta[track.name]["declared"]["pan"])))
        if progress:
            progress(k + 1, len(songs), song)
    return out


def _levels(obs: list[Observation], weight: float, crest_db: float) -> np.ndarray:
    return np.array([o.loudness_lufs + weight * (o.hit_peak_db - o.loudness_lufs - crest_db) for o in obs])


def _prior_offsets() -> dict[str, float]:
    return {role: 10.0 * math.log10(rule.share) for role, rule in ROLE_RULES.items()}


def _musdb_vocals_over_other_db() -> float:
    targets = family_targets()
    return targets["vocals"]["loudness_lufs"] - targets["other"]["loudness_lufs"]


def _families(drums_db: float, other_db: float) -> dict[str, float]:
    return {"vocals": other_db + _musdb_vocals_over_other_db(), "drums": drums_db, "bass": 0.0, "other": other_db}


def _predict(obs: list[Observation], family_db: dict[str, float], offsets: dict[str, float]) -> np.ndarray:
    """The model's level of each track, without the song offset."""
    totals: dict[tuple[str, str], float] = {}
    for o in obs:
        key = (o.song, o.family)
        totals[key] = totals.get(key, 0.0) + 10 ** (offsets[o.role] / 10)
    return np.array([family_db[o.family] + offsets[o.role] - 10 * math.log10(totals[(o.song, o.family)])
                     for o in obs])


def fit_balance(obs: list[Observation], levels: np.ndarray,
                prior_tracks: int = 4) -> tuple[dict[str, float], dict[str, float]]:
    """Family offsets (dB re bass) and role offsets (dB, relative within a family) that best predict
    ``levels`` (one per observation) up to one offset per song, each role held to its prior by
    ``prior_tracks`` pseudo-observations (module docstring)."""
    roles = sorted({o.role for o in obs})
    songs = sorted({o.song for o in obs})
    prior = _prior_offsets()
    song_index = np.array([songs.index(o.song) for o in obs])

    def unpack(theta):
        offsets = prior | dict(zip(roles, theta[2: 2 + len(roles)]))
        return _families(theta[0], theta[1]), offsets, theta[2 + len(roles):]

    def residuals(theta):
        family_db, offsets, song_db = unpack(theta)
        fit = levels - _predict(obs, family_db, offsets) - song_db[song_index]
        anchor = np.repeat([offsets[r] - prior[r] for r in roles], prior_tracks)
        return np.concatenate([fit, anchor])

    start = np.concatenate([[0.0, 0.0], [prior[r] for r in roles],
                            [float(np.mean(levels[song_index == k])) for k in range(len(songs))]])
    solution = least_squares(residuals, start, loss="soft_l1", f_scale=_LOSS_SCALE_DB)
    family_db, offsets, _ = unpack(solution.x)
    return family_db, {r: offsets[r] for r in roles}


def _matched_errors(obs: list[Observation], levels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Each track's level in a mix made to the prediction minus in the author's, dB, after matching the two
    mixes' loudness (as ``mixdown evaluate`` does): the mix's track ``i`` is ``predicted_i - levels_i`` dB
    from the author's, and the loudness match moves every track by the same amount (the power sum of the
    tracks' integrated loudness stands for the mix's)."""
    errors = predicted - levels
    loudness = np.array([o.loudness_lufs for o in obs])
    songs = np.array([o.song for o in obs])
    for song in np.unique(songs):
        mine = songs == song
        authors = np.log10(np.sum(10 ** (loudness[mine] / 10)))
        ours = np.log10(np.sum(10 ** ((loudness[mine] + errors[mine]) / 10)))
        errors[mine] += 10 * (authors - ours)
    return errors


def _song_errors(obs: list[Observation], levels: np.ndarray, predicted: np.ndarray) -> list[float]:
    """|error| per track after the loudness match (:func:`_matched_errors`)."""
    return list(np.abs(_matched_errors(obs, levels, predicted)))


def _cross_validated(obs: list[Observation], levels: np.ndarray, prior_tracks: int) -> float:
    """Mean leave-one-song-out error of the fitted model, dB."""
    errors = []
    for song in sorted({o.song for o in obs}):
        train = [k for k, o in enumerate(obs) if o.song != song]
        test = [k for k, o in enumerate(obs) if o.song == song]
        family_db, offsets = fit_balance([obs[k] for k in train], levels[train], prior_tracks)
        test_obs = [obs[k] for k in test]
        errors += _song_errors(test_obs, levels[test], _predict(test_obs, family_db, _prior_offsets() | offsets))
    return float(np.mean(errors))


def fit_rules(corpora: Sequence[str | Path], split: str = "train", progress: Progress | None = None) -> dict:
    """The whole fit (module docstring) over the split's songs of one or more people corpora: the chosen peak
    weight and prior strength, the family and role offsets, the role shares, the pan spread, and the
    cross-validated errors that justify them.

    Returns:
        a JSON-ready dict; ``tables`` holds the values ``mixdown/methods/rules/tables.py`` carries.
    Raises:
        DatasetError: a folder that is not a people corpus, or fewer than 3 songs in all.
    """
    if isinstance(corpora, (str, Path)):
        corpora = [corpora]
    obs = []
    for corpus in corpora:
        # song names are unique within a corpus only
        obs += [dataclasses.replace(o, song=f"{Path(corpus).name}/{o.song}")
                for o in observations(corpus, split, progress)]
    if len({o.song for o in obs}) < 3:
        raise DatasetError(f"{', '.join(map(str, corpora))}: expected at least 3 songs in the split {split!r} to "
                           f"fit and cross-validate, found {len({o.song for o in obs})}; fix: render more songs "
                           "with `mixdown data people`")
    crest_db = float(np.median([o.hit_peak_db - o.loudness_lufs for o in obs]))
    cv = {(w, n): _cross_validated(obs, _levels(obs, w, crest_db), n) for w in PEAK_WEIGHTS for n in PRIOR_TRACKS}
    weight, prior_tracks = min(cv, key=cv.get)
    levels = _levels(obs, weight, crest_db)
    family_db, offsets = fit_balance(obs, levels, prior_tracks)
    prior = _prior_offsets()
    prior_family = {f: family_targets()[f]["loudness_lufs"] - family_targets()["bass"]["loudness_lufs"]
                    for f in ("vocals", "drums", "bass", "other")}
    baselines = {
        "equal level": float(np.mean(_song_errors(obs, levels, np.zeros(len(obs))))),
        "previous tables (MUSDB18 families, role shares)": float(np.mean(_song_errors(
            obs, _levels(obs, 0.0, crest_db), _predict(obs, prior_family, prior)))),
        "fitted, in sample": float(np.mean(_song_errors(obs, levels, _predict(obs, family_db, prior | offsets)))),
    }
    by_role: dict[str, list[Observation]] = {}
    for o in obs:
        by_role.setdefault(o.role, []).append(o)
    spread = [abs(o.pan) for o in obs if not ROLE_RULES[o.role].centred]
    panned = [p for p in spread if p > _PANNED]
    shares = {}
    for family in ("vocals", "drums", "bass", "other"):
        mine = {r: offsets.get(r, prior[r]) for r in ROLE_RULES if family_of(r) == family}
        top = max(mine.values())
        shares |= {r: round(10 ** ((v - top) / 10), 3) for r, v in mine.items()}
    return {
        "corpora": [str(c) for c in corpora], "split": split, "songs": len({o.song for o in obs}), "tracks": len(obs),
        "crest_reference_db": round(crest_db, 2),
        "cross_validated_error_db": {f"peak weight {w:g}, prior {n} tracks": round(v, 3)
                                     for (w, n), v in cv.items()},
        "prior_tracks": prior_tracks,
        "error_db": {k: round(v, 3) for k, v in baselines.items()},
        "roles": {r: {"tracks": len(v), "offset_db": round(offsets[r], 2), "prior_db": round(prior[r], 2),
                      "mean_abs_pan": round(statistics.fmean(abs(o.pan) for o in v), 3)}
                  for r, v in sorted(by_role.items())},
        "pan": {"spread_tracks": len(spread), "share_panned": round(len(panned) / max(len(spread), 1), 3),
                "median_abs_pan_of_panned": round(float(np.median(panned)), 3) if panned else 0.0,
                "p90_abs_pan_of_panned": round(float(np.percentile(panned, 90)), 3) if panned else 0.0},
        "tables": {"BALANCE_PEAK_WEIGHT": float(weight), "BALANCE_CREST_REFERENCE_DB": round(crest_db, 1),
                   "FAMILY_LEVEL_DB": {f: round(v, 1) for f, v in family_db.items()},
                   "ROLE_SHARE": shares,
                   "PAN_SPREAD": (round(float(np.median(panned)), 2) if panned else 0.0,
                                  round(float(np.percentile(panned, 90)), 2) if panned else 0.0)},
    }
