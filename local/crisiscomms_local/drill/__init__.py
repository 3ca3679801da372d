"""The crisis drill: a scripted crisis replayed through the real functions on local AWS."""
