"""Test fakes of services that are not ours and not providers (the provider simulators live in providers/sandbox)."""
