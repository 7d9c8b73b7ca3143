"""Shared domain package of the photo feed backend, shipped to every function as a Lambda layer."""
