"""Official channels a statement is published to: rendering, length rules, and one adapter per channel."""
