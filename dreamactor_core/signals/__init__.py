"""signals stage of the DreamActor core."""
