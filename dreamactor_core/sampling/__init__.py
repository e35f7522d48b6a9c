"""sampling stage of the DreamActor core."""
