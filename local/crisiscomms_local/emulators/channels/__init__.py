"""Local emulators of the official channels statements are published to."""
