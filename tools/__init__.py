"""Developer tools run by the Makefile (not shipped to AWS)."""
