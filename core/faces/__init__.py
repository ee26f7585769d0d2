"""Faces: the face records and the engine interface (base.py), the engines (dlib_engine.py, insight_engine.py)
chosen in one place (engines.py), and the classical warp-and-blend swap (swap.py)."""
