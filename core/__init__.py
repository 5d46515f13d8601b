"""The bottom layer: pieces every app may use and that use no app."""
