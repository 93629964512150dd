"""Attacks: the contract, agreement with torchattacks and ART, objectives, adapters, bad settings."""
