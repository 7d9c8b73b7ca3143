"""schemathesis against the local stack, from `openapi.json`: the suite's bounded tier and `make fuzz`."""
