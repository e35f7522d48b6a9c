"""model stage of the DreamActor core."""
