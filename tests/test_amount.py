"""Amount controls: each kind of decision scales as documented, the original recipe stays, bad amounts fail."""

import math

import pytest

from mixdown.console import Recipe
from mixdown.console.amount import apply_amounts, parse_amounts
from mixdown.errors import ParameterError


def _recipe():
    return Recipe.from_dict({
        "tracks": [{"name": "a", "route": "bus", "chain": [
            {"type": "parametric_eq", "params": {"peak2_gain_db": -4.0, "high_shelf_gain_db": 2.0}},
            {"type": "compressor", "params": {"ratio": 3.0, "makeup_db": 2.0}},
            {"type": "pan", "params": {"pan": -0.5}}], "sends": [{"to": "verb", "level_db": -20.0}]}],
        "buses": [{"name": "bus", "chain": [{"type": "widener", "params": {"width": 1.4}}]}],
        "returns": [{"name": "verb", "chain": [{"type": "reverb"}]}],
        "master": {"chain": [{"type": "limiter", "params": {"ceiling_db": -1.0}}]},
    })


def test_each_amount_scales_its_kind_of_decision_and_nothing_else():
    recipe = _recipe()
    scaled = apply_amounts(recipe, {"eq": 0.5, "dynamics": 0.5, "space": 2.0, "width": 0.5})
    eq, comp, pan = (s.params for s in scaled.tracks[0].chain)
    assert eq["peak2_gain_db"] == -2.0 and eq["high_shelf_gain_db"] == 1.0
    assert comp["ratio"] == 2.0 and comp["makeup_db"] == 1.0
    assert pan["pan"] == -0.25 and scaled.buses[0].chain[0].params["width"] == pytest.approx(1.2)
    assert scaled.tracks[0].sends[0].level_db == pytest.approx(-20.0 + 20 * math.log10(2.0), abs=1e-3)
    assert scaled.master[0].params == {"ceiling_db": -1.0}  # the loudness target is not a mix decision
    assert scaled.notes["amounts"] == {"eq": 0.5, "dynamics": 0.5, "space": 2.0, "width": 0.5}
    assert recipe.tracks[0].chain[0].params["peak2_gain_db"] == -4.0  # the original is untouched
    assert apply_amounts(recipe, {"space": 0.0}).tracks[0].sends == []
    assert apply_amounts(recipe, {}).to_dict()["tracks"] == recipe.to_dict()["tracks"]


def test_amounts_that_push_a_parameter_out_of_range_name_the_step():
    loud = Recipe.from_dict({"tracks": [{"name": "a", "chain": [{"type": "parametric_eq",
                                                                "params": {"peak2_gain_db": -5.0}}]}]})
    with pytest.raises(ParameterError, match=r"tracks\[0\].chain\[0\].params.peak2_gain_db.*-20"):
        apply_amounts(loud, {"eq": 4.0})


@pytest.mark.parametrize("text, message", [("eq", "expected NAME=NUMBER"), ("reverb=1", "expected one of"),
                                           ("eq=-1", "expected a number in 0..4"), ("eq=x", "NAME=NUMBER")])
def test_bad_amount_text_is_a_clear_error(text, message):
    with pytest.raises(ParameterError, match=message):
        parse_amounts(text)


def test_amount_text_parses():
    assert parse_amounts("eq=0.5, dynamics=0.3,space=1.2,width=0.8") == {"eq": 0.5, "dynamics": 0.3, "space": 1.2,
                                                                        "width": 0.8}
