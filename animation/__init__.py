"""Mien's animation model: emotions, speech and idle life -> ARKit-52 blendshape frames (pure numpy)."""
