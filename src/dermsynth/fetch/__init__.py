"""`dermsynth fetch`: the external inputs of a config (released weights, the datasets, the
authors' split files) put where the config reads them, each checked against a published
digest or the lock file (config/sources.lock.csv). Sources: config/sources.yaml."""
