"""The rules method: the embedded default mixer (no training data), every decision with its reason."""

from mixdown.methods.rules.method import REVERB_RETURN, rules_recipe

__all__ = ["REVERB_RETURN", "rules_recipe"]
