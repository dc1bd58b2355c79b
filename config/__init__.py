"""Settings from the environment and the lab's data (stations, addons, job flows)."""
