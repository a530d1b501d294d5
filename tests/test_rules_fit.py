"""Fitting the rules mixer on people's mixes: a synthetic corpus whose authors followed a known balance (family
levels, role shares, a level measure that counts the hits) is fitted back, and the rules mixer's balance level
follows its closed form."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from mixdown.analysis.dynamics import dynamics_features
from mixdown.analysis.loudness import measure_loudness
from mixdown.errors import DatasetError
from mixdown.methods.rules.decide import balance_level
from mixdown.methods.rules.tables import BALANCE_CREST_REFERENCE_DB, BALANCE_PEAK_WEIGHT
from mixdown.train.rules_fit import fit_balance, fit_rules, observations

FS = 22050
SECONDS = 4.0
# the authors' balance: family levels re bass (vocals follow "other"), and role offsets within the drums
FAMILY_DB = {"drums": 3.0, "bass": 0.0, "other": 5.0}
OFFSET_DB = {"kick": 0.0, "snare": -2.0, "bass": 0.0, "piano_keys": 0.0}
WEIGHT = 0.5  # the share of the hit-to-loudness gap the authors heard


def _stem(role: str, rng: np.random.Generator, hits_per_second: float) -> np.ndarray:
    n = round(SECONDS * FS)
    t = np.arange(n) / FS
    if role in ("bass", "piano_keys"):
        return np.stack([0.2 * np.sin(2 * np.pi * (55.0 if role == "bass" else 440.0) * t)] * 2)
    out = np.zeros(n)
    burst = round(0.08 * FS)
    envelope = np.exp(-np.arange(burst) / FS * 40.0)
    sound = np.sin(2 * np.pi * 60.0 * t[:burst]) if role == "kick" else rng.standard_normal(burst)
    for start in np.arange(0.0, SECONDS - 0.1, 1.0 / hits_per_second):
        k = round(start * FS)
        out[k : k + burst] += 0.5 * sound * envelope
    return np.stack([out, out])


def _level(audio: np.ndarray, crest_db: float) -> float:
    loudness = measure_loudness(audio, FS, true_peak=False).integrated_lufs
    hits = dynamics_features(audio, FS)["hit_peak_db"]
    return loudness + WEIGHT * (hits - loudness - crest_db)


def _corpus(root: Path, songs: int = 6) -> Path:
    """Songs of kick, snare, bass and piano at random dry levels and densities; each wet stem is set to the
    authors' balance (module constants) plus a song offset."""
    rng = np.random.default_rng(3)
    drys = []
    for _ in range(songs):
        density = {"kick": rng.uniform(1.0, 6.0), "snare": rng.uniform(0.5, 4.0)}
        drys.append({role: _stem(role, rng, density.get(role, 1.0)) * 10 ** (rng.uniform(-12, 0) / 20)
                     for role in OFFSET_DB})
    gaps = [dynamics_features(a, FS)["hit_peak_db"] - measure_loudness(a, FS, true_peak=False).integrated_lufs
            for d in drys for a in d.values()]
    crest = float(np.median(gaps))
    index = []
    for k, dry in enumerate(drys):
        song = root / f"song{k}"
        for sub in ("dry", "wet"):
            (song / sub).mkdir(parents=True)
        drum_total = 10 * math.log10(sum(10 ** (OFFSET_DB[r] / 10) for r in ("kick", "snare")))
        offset = rng.uniform(-6, 0)
        stems = []
        for role, audio in dry.items():
            family = "drums" if role in ("kick", "snare") else role if role == "bass" else "other"
            target = FAMILY_DB[family] + OFFSET_DB[role] - (drum_total if family == "drums" else 0.0) - 20 + offset
            gain = 10 ** ((target - _level(audio, crest)) / 20)
            sf.write(song / "dry" / f"{role}.wav", audio.T, FS, subtype="FLOAT")
            sf.write(song / "wet" / f"{role}.wav", (audio * gain).T, FS, subtype="FLOAT")
            stems.append({"stem": role, "declared": {"pan": 0.2 if role == "piano_keys" else 0.0}})
        (song / "metadata.json").write_text(json.dumps({"song": song.name, "stems": stems}))
        index.append({"song": song.name, "split": "train"})
    (root / "corpus.json").write_text(json.dumps({"dataset": "people", "songs": index}))
    return root


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return _corpus(tmp_path_factory.mktemp("people"))


def test_observations_read_roles_levels_and_the_authors_pans(corpus):
    obs = observations(corpus)
    assert len(obs) == 24 and {o.role for o in obs} == set(OFFSET_DB)
    assert {o.pan for o in obs if o.role == "piano_keys"} == {0.2}
    assert all(math.isfinite(o.loudness_lufs) and o.hit_peak_db > o.loudness_lufs for o in obs)


def test_the_fit_finds_the_authors_level_measure_and_balance(corpus):
    fit = fit_rules([corpus])
    assert fit["tables"]["BALANCE_PEAK_WEIGHT"] == WEIGHT
    errors = fit["cross_validated_error_db"]
    best = min(errors.values())
    assert best < 0.3 and errors["peak weight 0, prior 2 tracks"] > best + 0.2
    assert fit["error_db"]["equal level"] > 1.5
    family = fit["tables"]["FAMILY_LEVEL_DB"]
    assert family["drums"] == pytest.approx(FAMILY_DB["drums"], abs=0.3)
    assert family["other"] == pytest.approx(FAMILY_DB["other"], abs=0.3)
    shares = fit["tables"]["ROLE_SHARE"]
    snare, prior = 10 * math.log10(shares["snare"] / shares["kick"]), 10 * math.log10(0.92)
    assert -2.3 < snare < prior and abs(snare + 2.0) < abs(snare - prior)  # the data, pulled a little to the prior
    assert fit["pan"]["share_panned"] == 1.0 and fit["tables"]["PAN_SPREAD"] == (0.2, 0.2)  # the piano, spread


def test_a_role_seen_in_few_tracks_stays_near_its_prior(corpus):
    obs = [o for o in observations(corpus) if o.role != "snare" or o.song == "song0"]
    levels = np.array([o.loudness_lufs for o in obs])
    _, few = fit_balance(obs, levels, prior_tracks=8)
    _, many = fit_balance(obs, levels, prior_tracks=1)
    prior = 10 * math.log10(0.92)
    assert abs(few["snare"] - prior) < abs(many["snare"] - prior)


def test_fitting_needs_a_people_corpus(tmp_path):
    with pytest.raises(DatasetError, match="people corpus"):
        observations(tmp_path)


def test_the_balance_level_counts_part_of_the_hits_above_the_loudness():
    def track(loudness, hits):
        return SimpleNamespace(loudness=SimpleNamespace(integrated_lufs=loudness), dynamics={"hit_peak_db": hits})

    typical = balance_level(track(-20.0, -20.0 + BALANCE_CREST_REFERENCE_DB))
    assert typical == pytest.approx(-20.0)
    # half as many hits: 3 dB less power, the same hits; the balance reads it only (1 - w) * 3 dB quieter
    sparse = balance_level(track(-23.0, -20.0 + BALANCE_CREST_REFERENCE_DB))
    assert typical - sparse == pytest.approx((1 - BALANCE_PEAK_WEIGHT) * 3.0)
    assert balance_level(track(-math.inf, -math.inf)) == -math.inf


def test_the_command_prints_the_tables_and_writes_the_fit(corpus, tmp_path):
    from typer.testing import CliRunner

    from mixdown.cli import app

    out = tmp_path / "fit.json"
    result = CliRunner().invoke(app, ["train", "rules", str(corpus), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "BALANCE_PEAK_WEIGHT" in result.output and "FAMILY_LEVEL_DB" in result.output
    assert json.loads(out.read_text())["tables"]["BALANCE_PEAK_WEIGHT"] == WEIGHT
    missing = CliRunner().invoke(app, ["train", "rules", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "people corpus" in missing.output
