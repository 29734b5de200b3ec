"""The shared ground: errors, devices, the command-line basics, settings and the run directory.

Every other package may import it; it imports nothing else of evokd."""
