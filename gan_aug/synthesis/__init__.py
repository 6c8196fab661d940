"""Synthesis: a trained generator's fakes generated, filtered, written as the
accepted set, and measured against real images."""
