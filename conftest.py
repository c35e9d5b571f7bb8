pytest_plugins = ["rumpycore.testing"]
