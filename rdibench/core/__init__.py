"""Floor 0: errors, registries, seeds, hashing and shared types. Imports no other rdibench package."""
