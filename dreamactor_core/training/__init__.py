"""training stage of the DreamActor core."""
