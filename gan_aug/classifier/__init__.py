"""The classifier: its training loop, optimizer, inference, progress on disk,
classical augmentation and the checks of config.classifier."""
